// HTTP test client for the L7 tests; prints one JSON result line.
//   node tests/apps/l7-client.ts load --urls U1,U2 [--requests 200] [--concurrency 8] [--method GET] [--body-bytes 0] [--header k:v]
//     requests spread round-robin over the URLs (keep-alive); result: statuses, byName (from
//     x-weft-app-name), weftTimeout (answers with weft-timeout), errors.
//   node tests/apps/l7-client.ts <check> --url U     one behaviour, result {ok, ...details}:
//     keepalive  three requests on one connection (same local port)
//     upload     a 1 MiB chunked POST /echo, body checked
//     download   GET /chunked/<1 MiB> (no content-length), length checked
//     continue   POST /echo with Expect: 100-continue; the body is sent only after the 100
//     ws         WebSocket upgrade on the URL, three messages echoed
//     h2         HTTP/2 prior knowledge: GET /, POST /echo, GET /trailers (trailer seen)
//     trailers   HTTP/1.1 GET /trailers, trailer seen
//     req-trailers     [--method POST] [--body-bytes 300000] a chunked request to U (the server's /req-trailers)
//                      ending in a trailer section (req.addTrailers): x-checksum (the body's
//                      sha256) and x-note, plus authorization and weft-target, which the mesh
//                      must not forward; result {ok, status, sha256, pod} (pod: the server's JSON)
//     h2-req-trailers  the same over HTTP/2 prior knowledge (waitForTrailers, sendTrailers)
//     timing     GET, reporting status, weft-timeout and elapsed ms
//   node tests/apps/l7-client.ts get --url U [--header k:v]...   one GET: {ok, status, headers, body}
//     (body parsed as JSON when it is JSON)
import http from 'node:http';
import http2 from 'node:http2';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { emit, intFlag, runCli } from './app-cli.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  trailers: NodeJS.Dict<string>;
  localPort: number;
}

function request(url: string, opts: http.RequestOptions & { body?: Buffer | Buffer[]; waitContinue?: boolean }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers, localPort: req.socket?.localPort ?? 0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const send = (): void => {
      const b = opts.body;
      if (Array.isArray(b)) for (const c of b) req.write(c);
      else if (b !== undefined) req.write(b);
      req.end();
    };
    if (opts.waitContinue) req.on('continue', send);
    else send();
  });
}

async function load(urls: string[], n: number, concurrency: number, method: string, bodyBytes: number, extra: Record<string, string>): Promise<Record<string, unknown>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: Record<string, number> = {};
  const byName: Record<string, number> = {};
  let weftTimeout = 0;
  let next = 0;
  const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, 0x62) : undefined;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const url = urls[next % urls.length];
      next++;
      try {
        const a = await request(url, { agent, method, body, headers: body === undefined ? extra : { ...extra, 'content-length': String(body.length) } });
        statuses[a.status] = (statuses[a.status] ?? 0) + 1;
        const name = a.headers['x-weft-app-name'];
        if (typeof name === 'string') byName[name] = (byName[name] ?? 0) + 1;
        if (a.headers['weft-timeout'] !== undefined) weftTimeout++;
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'error';
        statuses[code] = (statuses[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { ok: true, requests: n, statuses, byName, weftTimeout };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The request trailers the req-trailers checks send: two to forward, two the mesh must drop. */
function requestTrailerSection(body: Buffer): Record<string, string> {
  return { 'x-checksum': createHash('sha256').update(body).digest('hex'), 'x-note': 'sent-after-the-body', authorization: 'Bearer must-not-cross', 'weft-target': '10.255.0.1:1' };
}

/** `n` bytes in parts of at most 60 000, each part its own letter. */
function trailerBody(n: number): Buffer[] {
  return Array.from({ length: Math.ceil(n / 60_000) }, (_, i) => Buffer.alloc(Math.min(60_000, n - i * 60_000), 0x41 + (i % 26)));
}

async function requestTrailers(url: string, method: string, bytes: number): Promise<Record<string, unknown>> {
  const parts = trailerBody(bytes);
  const whole = Buffer.concat(parts);
  const answer = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      const c: Buffer[] = [];
      res.on('data', (d: Buffer) => c.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(c) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // No content-length: node:http sends the body chunked, and the trailers after the last chunk.
    for (const p of parts) req.write(p);
    req.addTrailers(requestTrailerSection(whole));
    req.end();
  });
  return { ok: answer.status === 200, status: answer.status, sha256: createHash('sha256').update(whole).digest('hex'), pod: JSON.parse(answer.body.toString()) as unknown };
}

async function h2RequestTrailers(url: string, method: string, bytes: number): Promise<Record<string, unknown>> {
  const u = new URL(url);
  const parts = trailerBody(bytes);
  const whole = Buffer.concat(parts);
  const session = http2.connect(u.origin);
  session.on('error', () => undefined);
  try {
    const answer = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const s = session.request({ ':method': method, ':path': u.pathname }, { waitForTrailers: true });
      let status = 0;
      const c: Buffer[] = [];
      s.on('wantTrailers', () => s.sendTrailers(requestTrailerSection(whole)));
      s.on('response', (h) => { status = Number(h[':status']); });
      s.on('data', (d: Buffer) => c.push(d));
      s.on('end', () => resolve({ status, body: Buffer.concat(c) }));
      s.on('error', reject);
      for (const p of parts) s.write(p);
      s.end();
    });
    return { ok: answer.status === 200, status: answer.status, sha256: createHash('sha256').update(whole).digest('hex'), pod: JSON.parse(answer.body.toString()) as unknown };
  } finally {
    session.close();
  }
}

async function check(kind: string, url: string, method = 'POST', bytes = 300_000): Promise<Record<string, unknown>> {
  switch (kind) {
    case 'keepalive': {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const ports: number[] = [];
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const a = await request(url, { agent });
        ports.push(a.localPort);
        statuses.push(a.status);
      }
      agent.destroy();
      return { ok: statuses.every((s) => s === 200) && new Set(ports).size === 1, ports, statuses };
    }
    case 'upload': {
      const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
      const a = await request(new URL('/echo', url).href, { method: 'POST', body: chunks, headers: { 'content-type': 'application/x-test' } });
      return { ok: a.status === 200 && sha(a.body) === sha(Buffer.concat(chunks)), status: a.status, bytes: a.body.length, chunkedReply: a.headers['transfer-encoding'] === 'chunked' };
    }
    case 'download': {
      const a = await request(new URL(`/chunked/${1024 * 1024}`, url).href, {});
      return { ok: a.status === 200 && a.body.length === 1024 * 1024 && a.headers['content-length'] === undefined, bytes: a.body.length, transferEncoding: a.headers['transfer-encoding'] ?? null };
    }
    case 'continue': {
      let continued = false;
      const body = Buffer.from('sent-after-continue');
      const a = await new Promise<Answer>((resolve, reject) => {
        const req = http.request(new URL('/echo', url), { method: 'POST', headers: { expect: '100-continue', 'content-length': String(body.length) } }, (res) => {
          const c: Buffer[] = [];
          res.on('data', (d: Buffer) => c.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(c), trailers: res.trailers, localPort: 0 }));
        });
        req.on('continue', () => {
          continued = true;
          req.end(body);
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      return { ok: continued && a.status === 200 && a.body.equals(body), continued, status: a.status };
    }
    case 'ws': {
      const ws = new WebSocket(url.replace(/^http/, 'ws'));
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      const got: string[] = [];
      for (const m of ['one', 'two', 'three']) {
        const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
        ws.send(m);
        got.push(await reply);
      }
      ws.close();
      return { ok: got.join(',') === 'one,two,three', got };
    }
    case 'h2': {
      const session = http2.connect(url);
      session.on('error', () => undefined);
      const call = (headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }> =>
        new Promise((resolve, reject) => {
          const s = session.request(headers);
          let status = 0;
          let trailers: http2.IncomingHttpHeaders = {};
          const c: Buffer[] = [];
          s.on('response', (h) => { status = Number(h[':status']); });
          s.on('trailers', (t) => { trailers = t; });
          s.on('data', (d: Buffer) => c.push(d));
          s.on('end', () => resolve({ status, body: Buffer.concat(c), trailers }));
          s.on('error', reject);
          s.end(body);
        });
      const root = await call({ ':path': '/' });
      const payload = Buffer.alloc(200_000, 7);
      const echo = await call({ ':path': '/echo', ':method': 'POST' }, payload);
      const tr = await call({ ':path': '/trailers' });
      session.close();
      return { ok: root.status === 200 && echo.body.equals(payload) && tr.trailers['x-checksum'] === 'abc123', root: root.status, echoBytes: echo.body.length, trailer: tr.trailers['x-checksum'] ?? null };
    }
    case 'trailers': {
      const a = await request(new URL('/trailers', url).href, {});
      return { ok: a.status === 200 && a.trailers['x-checksum'] === 'abc123', trailer: a.trailers['x-checksum'] ?? null };
    }
    case 'req-trailers':
      return requestTrailers(url, method, bytes);
    case 'h2-req-trailers':
      return h2RequestTrailers(url, method, bytes);
    case 'timing': {
      const t0 = Date.now();
      const a = await request(url, {});
      return { ok: true, status: a.status, weftTimeout: a.headers['weft-timeout'] ?? null, elapsedMs: Date.now() - t0 };
    }
    default:
      throw new Error(`unknown check ${kind}`);
  }
}

if (import.meta.main) {
  runCli('l7-client', 'node tests/apps/l7-client.ts load|get|keepalive|upload|download|continue|ws|h2|trailers|req-trailers|h2-req-trailers|timing --url(s) ...', async (argv) => {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { url: { type: 'string' }, urls: { type: 'string' }, requests: { type: 'string' }, concurrency: { type: 'string' }, method: { type: 'string' }, 'body-bytes': { type: 'string' }, header: { type: 'string', multiple: true } },
      allowPositionals: true,
      strict: true,
    });
    const kind = positionals[0] ?? 'load';
    const extra = Object.fromEntries((values.header ?? []).map((h) => [h.slice(0, h.indexOf(':')).trim(), h.slice(h.indexOf(':') + 1).trim()]));
    try {
      if (kind === 'load') {
        emit(await load((values.urls ?? values.url ?? '').split(','), intFlag('requests', values.requests, 200, 1, 1e6), intFlag('concurrency', values.concurrency, 8, 1, 1000), values.method ?? 'GET', intFlag('body-bytes', values['body-bytes'], 0, 0, 1 << 26), extra));
      } else if (kind === 'get') {
        const a = await request(values.url ?? '', { headers: extra });
        const text = a.body.toString('utf8');
        let body: unknown = text;
        if (String(a.headers['content-type']).startsWith('application/json')) body = JSON.parse(text) as unknown;
        emit({ ok: true, status: a.status, headers: a.headers, body });
      } else {
        emit(await check(kind, values.url ?? '', values.method, intFlag('body-bytes', values['body-bytes'], 300_000, 0, 1 << 26)));
      }
    } catch (err) {
      emit({ ok: false, error: (err as Error).message, code: (err as { code?: string }).code ?? null });
    }
    process.exit(0);
  });
}
