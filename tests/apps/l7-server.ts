// HTTP test server for the L7 tests, with faults on demand (the plain http-server stays simple).
//   node tests/apps/l7-server.ts [--port 8080] [--h2-port 0] [--name N] [--fail-rate 0..1]
//        [--delay-ms N] [--reset] [--log]
// HTTP/1.1 on --port (keep-alive; WebSocket echo on upgrade; CONNECT answered 200 then echoed),
// h2c on --h2-port when given. With --log, upgrades and CONNECTs are reported too ({event, path}).
// Faults apply to every request except /health: --fail-rate answers that fraction 503,
// --delay-ms delays every answer, --reset resets the connection instead of answering.
// Routes: GET / → {name,method,path,attempt}; POST /echo → the body back (chunked if it came
// chunked); /status/<code>; /delay/<ms>; /chunked/<n> → n bytes in 1 KiB chunks, no length;
// /trailers → a body then trailers (x-checksum); /req-trailers[/<n>] → once the request ended,
// {name, version, attempt, bytes, sha256, te, trailers} — the body's digest and the request's
// trailers as the pod read them (req.trailers; 503 while weft-retry-attempt is below n); /fail-until/<n> → 503 while the request's
// weft-retry-attempt is below n, then 200 (fails first, succeeds on the n-th retry); /headers → {name, headers} (what the mesh delivered,
// e.g. traceparent); /pattern/<seed>/<n> → n bytes of the seeded test pattern (tcp-modes.ts), so a
// client can check every byte. Every answer carries x-weft-app-name.
// With --log one JSON line per request: {method, path, attempt, status, bodyBytes}.
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { emit, intFlag, numberFlag, onShutdown, runCli } from './app-cli.ts';
import { patternBytes } from './tcp-modes.ts';

interface Opts {
  name: string;
  failRate: number;
  delayMs: number;
  reset: boolean;
  log: boolean;
}

type Req = http.IncomingMessage | http2.Http2ServerRequest;
/** What both node:http and node:http2 (compat) responses offer, as one callable shape. */
interface Res {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers?: http.OutgoingHttpHeaders): unknown;
  write(chunk: Buffer | string): boolean;
  addTrailers(headers: http.OutgoingHttpHeaders): void;
  end(chunk?: string): unknown;
  on(event: string, fn: () => void): unknown;
  once(event: string, fn: () => void): unknown;
}

function json(res: Res, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function handle(o: Opts, req: Req, res: Res): void {
  const path = (req.url ?? '/').split('?')[0];
  const method = req.method ?? 'GET';
  const attempt = Number(req.headers['weft-retry-attempt'] ?? 0);
  let bodyBytes = 0;
  req.on('data', (c: Buffer) => { bodyBytes += c.length; });
  res.setHeader('x-weft-app-name', o.name);
  res.on('finish', () => {
    if (o.log) emit({ method, path, attempt, status: res.statusCode, bodyBytes });
  });
  if (path !== '/health') {
    if (o.reset) {
      if (o.log) emit({ method, path, attempt, status: 0, reset: true });
      (req.socket as net.Socket).resetAndDestroy();
      return;
    }
    if (Math.random() < o.failRate) {
      req.resume();
      req.on('end', () => json(res, 503, { name: o.name, injected: true }));
      return;
    }
  }
  const answer = (): void => route(o, req, res, path, method, attempt);
  if (o.delayMs > 0 && path !== '/health') setTimeout(answer, o.delayMs);
  else answer();
}

function route(o: Opts, req: Req, res: Res, path: string, method: string, attempt: number): void {
  const rt = /^\/req-trailers(?:\/(\d{1,3}))?$/.exec(path);
  if (rt !== null) {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => { hash.update(c); bytes += c.length; });
    req.on('end', () => {
      const failUntil = Number(rt[1] ?? 0);
      json(res, attempt < failUntil ? 503 : 200, {
        name: o.name, version: req.httpVersion, attempt, bytes, sha256: hash.digest('hex'),
        te: req.headers['transfer-encoding'] ?? null, trailers: req.trailers,
      });
    });
    return;
  }
  if (path === '/echo') {
    const headers: http.OutgoingHttpHeaders = { 'content-type': String(req.headers['content-type'] ?? 'application/octet-stream') };
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    res.writeHead(200, headers);
    (req as NodeJS.ReadableStream).pipe(res as unknown as NodeJS.WritableStream);
    return;
  }
  req.resume();
  const pat = /^\/pattern\/(\d{1,10})\/(\d{1,8})$/.exec(path);
  if (pat !== null) {
    const body = patternBytes(Number(pat[1]) >>> 0, 0, Number(pat[2]));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    res.write(body);
    res.end();
    return;
  }
  const m = /^\/(status|delay|chunked|fail-until)\/(\d{1,9})$/.exec(path);
  if (m?.[1] === 'fail-until') {
    const ok = attempt >= Number(m[2]);
    json(res, ok ? 200 : 503, { name: o.name, attempt, failed: !ok });
    return;
  }
  if (m?.[1] === 'status') {
    json(res, Number(m[2]), { name: o.name, status: Number(m[2]) });
    return;
  }
  if (m?.[1] === 'delay') {
    const t = setTimeout(() => json(res, 200, { name: o.name, delayMs: Number(m[2]) }), Number(m[2]));
    res.on('close', () => clearTimeout(t));
    return;
  }
  if (m?.[1] === 'chunked') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    let left = Number(m[2]);
    const chunk = Buffer.alloc(1024, 0x61);
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(1024, left);
        left -= n;
        if (!res.write(chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (path === '/headers') {
    json(res, 200, { name: o.name, headers: req.headers });
    return;
  }
  if (path === '/trailers') {
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('body-with-trailers\n');
    res.addTrailers({ 'x-checksum': 'abc123' });
    res.end();
    return;
  }
  json(res, 200, { name: o.name, method, path, attempt });
}

if (import.meta.main) {
  runCli('l7-server', 'node tests/apps/l7-server.ts [--port 8080] [--h2-port P] [--name N] [--fail-rate R] [--delay-ms N] [--reset] [--log]', async (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' }, 'h2-port': { type: 'string' }, name: { type: 'string' },
        'fail-rate': { type: 'string' }, 'delay-ms': { type: 'string' }, reset: { type: 'boolean', default: false }, log: { type: 'boolean', default: false },
      },
      strict: true,
    });
    const o: Opts = {
      name: values.name ?? `l7-server-${process.pid}`,
      failRate: numberFlag('fail-rate', values['fail-rate'], 0, 0, 1),
      delayMs: intFlag('delay-ms', values['delay-ms'], 0, 0, 60_000),
      reset: values.reset,
      log: values.log,
    };
    const server = http.createServer({ keepAlive: true }, (req, res) => handle(o, req, res as unknown as Res));
    server.keepAliveTimeout = 30_000;
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (o.log) emit({ event: 'upgrade', method: req.method, path: req.url, upgrade: req.headers.upgrade });
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      });
    });
    server.listen(intFlag('port', values.port, 8080, 0, 65535));
    await once(server, 'listening');
    // CONNECT: answered 200, then an echo (what a forward proxy would splice), reported with --log.
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (o.log) emit({ event: 'connect', method: req.method, path: req.url });
      socket.on('error', () => undefined);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    });
    let h2: http2.Http2Server | undefined;
    if (values['h2-port'] !== undefined) {
      h2 = http2.createServer((req, res) => handle(o, req, res as unknown as Res));
      h2.listen(intFlag('h2-port', values['h2-port'], 0, 0, 65535));
      await once(h2, 'listening');
    }
    onShutdown(async () => {
      server.closeAllConnections();
      server.close();
      h2?.close();
    });
    emit({ ready: true, app: 'l7-server', name: o.name, port: (server.address() as net.AddressInfo).port, h2Port: h2 === undefined ? null : (h2.address() as net.AddressInfo).port });
  });
}
