// The clients of the policy conformance suite that curl cannot be (curl covers HTTP/1.1, absolute
// form, h2c upgrade and CONNECT): HTTP/2 prior knowledge with any :path and headers (node:http2),
// WebSocket (the `ws` library), h2c smuggling (an Upgrade: h2c, and on 101 an HTTP/2 session on the
// same connection asking for another path), and raw bytes for targets no client library sends.
//   node tests/apps/path-client.ts --host H --port P --requests <base64 JSON PathRequest[]>
// stdout: one JSON line per request {name, status?, weftError?, error?, body?}, in order.
import http2 from 'node:http2';
import net from 'node:net';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { emit, intFlag, runCli, UsageError } from './app-cli.ts';

export type PathRequest =
  | { kind: 'h2'; name: string; path: string; method?: string; headers?: Record<string, string> }
  | { kind: 'ws'; name: string; path: string }
  | { kind: 'h2c-smuggle'; name: string; path: string; inner: string }
  | { kind: 'raw'; name: string; send: string };

export interface PathResult {
  name: string;
  status?: number;
  weftError?: string;
  error?: string;
  body?: string;
}

const TIMEOUT_MS = 8000;

function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message;
}

function h2Request(host: string, port: number, r: Extract<PathRequest, { kind: 'h2' }>): Promise<PathResult> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://${host}:${port}`);
    const done = (x: PathResult): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(x);
    };
    const timer = setTimeout(() => done({ name: r.name, error: 'timeout' }), TIMEOUT_MS);
    session.on('error', (err) => done({ name: r.name, error: codeOf(err) }));
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':method': r.method ?? 'GET', ':path': r.path, ...r.headers });
    } catch (err) {
      done({ name: r.name, error: codeOf(err) });
      return;
    }
    let body = '';
    let status = 0;
    let we: string | undefined;
    stream.setEncoding('utf8');
    stream.on('response', (h) => {
      status = Number(h[':status']);
      if (typeof h['weft-error'] === 'string') we = h['weft-error'];
    });
    stream.on('data', (d: string) => (body += d));
    stream.on('end', () => done({ name: r.name, status, ...(we === undefined ? {} : { weftError: we }), body }));
    stream.on('error', (err) => done({ name: r.name, error: codeOf(err) }));
  });
}

function wsRequest(host: string, port: number, r: Extract<PathRequest, { kind: 'ws' }>): Promise<PathResult> {
  return new Promise((resolve) => {
    let settled = false;
    const ws = new WebSocket(`ws://${host}:${port}${r.path}`, { handshakeTimeout: TIMEOUT_MS });
    const done = (x: PathResult): void => {
      if (settled) return;
      settled = true;
      ws.terminate();
      resolve(x);
    };
    ws.on('unexpected-response', (_req, res) => {
      const we = res.headers['weft-error'];
      done({ name: r.name, status: res.statusCode ?? 0, ...(typeof we === 'string' ? { weftError: we } : {}) });
    });
    ws.on('message', (data) => done({ name: r.name, status: 101, body: String(data) }));
    ws.on('error', (err) => done({ name: r.name, error: codeOf(err) }));
    ws.on('close', () => done({ name: r.name, status: 101 }));
  });
}

/** Reads an HTTP/1 response head from a socket: the status, weft-error, and what came after it. */
function readHead(sock: net.Socket): Promise<{ status: number; weftError?: string; rest: Buffer } | { error: string }> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      sock.pause();
      const head = buf.subarray(0, end).toString('latin1');
      const we = /\r\nweft-error: *([^\r]+)/i.exec(head)?.[1];
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), ...(we === undefined ? {} : { weftError: we }), rest: buf.subarray(end + 4) });
    };
    sock.on('data', onData);
    sock.once('error', (err) => resolve({ error: codeOf(err) }));
    sock.once('close', () => resolve({ error: 'closed' }));
  });
}

async function smuggle(host: string, port: number, r: Extract<PathRequest, { kind: 'h2c-smuggle' }>): Promise<PathResult> {
  const sock = net.connect({ host, port });
  sock.on('error', () => undefined);
  const timer = setTimeout(() => sock.destroy(new Error('timeout')), TIMEOUT_MS);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    // HTTP2-Settings: an empty SETTINGS payload, base64url.
    sock.write(`GET ${r.path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n`);
    const head = await readHead(sock);
    if ('error' in head) return { name: r.name, error: head.error };
    if (head.status !== 101) return { name: r.name, status: head.status, ...(head.weftError === undefined ? {} : { weftError: head.weftError }) };
    // Upgraded: speak HTTP/2 on the same connection and ask for a path the policy never saw.
    if (head.rest.length > 0) sock.unshift(head.rest);
    sock.resume();
    const session = http2.connect(`http://${host}:${port}`, { createConnection: () => sock });
    const inner = await new Promise<PathResult>((resolve) => {
      session.on('error', (err) => resolve({ name: r.name, status: 101, error: `inner: ${codeOf(err)}` }));
      const s = session.request({ ':path': r.inner });
      let body = '';
      let status = 0;
      s.setEncoding('utf8');
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (d: string) => (body += d));
      s.on('end', () => resolve({ name: r.name, status: 101, body: `inner ${status} ${body}` }));
      s.on('error', (err) => resolve({ name: r.name, status: 101, error: `inner: ${codeOf(err)}` }));
    });
    session.destroy();
    return inner;
  } catch (err) {
    return { name: r.name, error: codeOf(err) };
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

async function raw(host: string, port: number, r: Extract<PathRequest, { kind: 'raw' }>): Promise<PathResult> {
  const sock = net.connect({ host, port });
  sock.on('error', () => undefined);
  const timer = setTimeout(() => sock.destroy(new Error('timeout')), TIMEOUT_MS);
  sock.once('connect', () => sock.write(Buffer.from(r.send, 'latin1')));
  const head = await readHead(sock);
  clearTimeout(timer);
  sock.destroy();
  if ('error' in head) return { name: r.name, error: head.error };
  return { name: r.name, status: head.status, ...(head.weftError === undefined ? {} : { weftError: head.weftError }) };
}

runCli('path-client', 'node tests/apps/path-client.ts --host H --port P --requests <base64 JSON>', async (argv) => {
  const { values } = parseArgs({ args: argv, options: { host: { type: 'string' }, port: { type: 'string' }, requests: { type: 'string' } }, strict: true });
  if (values.host === undefined || values.requests === undefined) throw new UsageError('--host and --requests are required');
  const host = values.host;
  const port = intFlag('port', values.port, 8080, 1, 65535);
  const requests = JSON.parse(Buffer.from(values.requests, 'base64').toString('utf8')) as PathRequest[];
  emit({ ready: true, app: 'path-client', requests: requests.length });
  for (const r of requests) {
    const out = r.kind === 'h2' ? await h2Request(host, port, r) : r.kind === 'ws' ? await wsRequest(host, port, r) : r.kind === 'h2c-smuggle' ? await smuggle(host, port, r) : await raw(host, port, r);
    emit({ ...out });
  }
});
