// HTTP/1.1 test server (keep-alive) for mesh tests and benchmarks.
//   node tests/apps/http-server.ts [--port 8080] [--host ADDR] [--name NAME] [--keep-alive MS] [--log]
// Routes (any method unless noted; every answer carries `x-weft-app-name: <name>`):
//   GET /             200 {"name","remote","method","path"}   (remote is the peer address the server sees)
//   /bytes/<n>        200 with n deterministic bytes (tcp-modes pattern, seed 0), n <= 1 GiB
//   POST /echo        200 echoing the request body (and its content-type)
//   /status/<code>    that status (200..599), small JSON body
//   /delay/<ms>       200 after ms (<= 60000)
// stdout: {"ready":true,"app":"http-server","name",...,"port"}; with --log one line per request.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli } from './app-cli.ts';
import { formatAddress, patternChunks } from './tcp-modes.ts';

export const MAX_BYTES = 1024 ** 3;
export const MAX_DELAY_MS = 60_000;

export interface HttpServerOptions {
  port: number;
  host?: string;
  name: string;
  keepAliveMs: number;
  onRequest?: (rec: { method: string; path: string; status: number; remote: string }) => void;
}

export interface HttpServerHandle {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function sendBytes(res: http.ServerResponse, n: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  for (const chunk of patternChunks(0, n)) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
  res.end();
}

function handle(opts: HttpServerOptions, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;
  const remote = formatAddress(req.socket.remoteAddress, req.socket.remotePort);
  const method = req.method ?? 'GET';
  res.setHeader('x-weft-app-name', opts.name);
  res.on('finish', () => opts.onRequest?.({ method, path, status: res.statusCode, remote }));
  const num = (prefix: string): number | undefined => {
    const m = new RegExp(`^/${prefix}/(\\d{1,12})$`).exec(path);
    return m === null ? undefined : Number(m[1]);
  };

  if (path === '/echo') {
    if (method !== 'POST' && method !== 'PUT') {
      req.resume();
      sendJson(res, 405, { name: opts.name, error: 'POST a body to /echo' });
      return;
    }
    const headers: http.OutgoingHttpHeaders = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' };
    // A known length is passed on so the reply is not chunked; otherwise Node chunks it.
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    res.writeHead(200, headers);
    req.pipe(res);
    return;
  }
  // Every other route ignores the body, but must read it for the connection to be reusable.
  req.resume();
  if (path === '/') {
    sendJson(res, 200, { name: opts.name, remote, method, path });
    return;
  }
  const bytes = num('bytes');
  if (bytes !== undefined) {
    if (bytes > MAX_BYTES) sendJson(res, 400, { name: opts.name, error: `at most ${MAX_BYTES} bytes` });
    else void sendBytes(res, bytes);
    return;
  }
  const status = num('status');
  if (status !== undefined) {
    if (status < 200 || status > 599) sendJson(res, 400, { name: opts.name, error: 'status must be in 200..599' });
    else sendJson(res, status, { name: opts.name, status });
    return;
  }
  const delay = num('delay');
  if (delay !== undefined) {
    if (delay > MAX_DELAY_MS) {
      sendJson(res, 400, { name: opts.name, error: `delay at most ${MAX_DELAY_MS} ms` });
      return;
    }
    const timer = setTimeout(() => sendJson(res, 200, { name: opts.name, delayMs: delay }), delay);
    res.on('close', () => clearTimeout(timer));
    return;
  }
  sendJson(res, 404, { name: opts.name, error: `no route ${path}; try /, /bytes/<n>, /echo, /status/<code>, /delay/<ms>` });
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const server = http.createServer({ keepAlive: true }, (req, res) => handle(opts, req, res));
  server.keepAliveTimeout = opts.keepAliveMs;
  // Node requires headersTimeout to outlast keepAliveTimeout, or idle keep-alive sockets are cut early.
  server.headersTimeout = Math.max(server.headersTimeout, opts.keepAliveMs + 1000);
  server.listen({ port: opts.port, host: opts.host });
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

if (import.meta.main) {
  const usage = 'node tests/apps/http-server.ts [--port 8080] [--host ADDR] [--name NAME] [--keep-alive MS] [--log]';
  runCli('http-server', usage, async (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        name: { type: 'string' },
        'keep-alive': { type: 'string' },
        log: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    const h = await startHttpServer({
      port: intFlag('port', values.port, 8080, 0, 65535),
      host: values.host,
      name: values.name ?? `http-server-${process.pid}`,
      keepAliveMs: intFlag('keep-alive', values['keep-alive'], 30_000, 0, 3_600_000),
      onRequest: values.log ? (rec) => emit({ ...rec }) : undefined,
    });
    const addr = h.server.address() as net.AddressInfo;
    onShutdown(() => h.close());
    emit({ ready: true, app: 'http-server', name: values.name ?? `http-server-${process.pid}`, host: addr.address, port: addr.port });
  });
}
