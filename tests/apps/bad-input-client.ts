// A client that misbehaves on purpose, one scenario after another, and reports what the server did:
// raw bytes (malformed and smuggling-shaped HTTP), slow drips (slowloris), TLS handshakes the
// server must refuse, HTTP/2 requests with bad CONNECT targets, and raw HTTP/2 frames.
//   node tests/apps/bad-input-client.ts --scenarios <base64 JSON array of Scenario>
// stdout: {"ready":true,...}, then one result line per scenario: {name, ...Result}; exit 0.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { emit, runCli, UsageError } from './app-cli.ts';

interface Target { name: string; host: string; port: number }
interface TlsIdentity { servername?: string; cert?: string; key?: string; ca?: string }
export type Scenario =
  /** Sends `send` (latin1) at once, then waits up to waitMs for the server to answer and close. */
  | (Target & { kind: 'raw'; send: string; waitMs?: number })
  /** Sends `prefix`, then one byte of `drip` every intervalMs until the server closes or maxMs pass. */
  | (Target & { kind: 'slow'; prefix: string; drip: string; intervalMs: number; maxMs: number; tls?: TlsIdentity })
  /** A TLS handshake (optionally capped at maxVersion, optionally with a client certificate). */
  | (Target & TlsIdentity & { kind: 'tls'; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; alpn?: string[]; waitMs?: number })
  /** HTTP/2 requests on one mTLS session; each answer's :status and weft-error. */
  | (Target & TlsIdentity & { kind: 'h2'; requests: Array<Record<string, string>> })
  /** The h2 preface, an empty SETTINGS, then raw frame bytes (hex) on an mTLS session. */
  | (Target & TlsIdentity & { kind: 'h2raw'; framesHex: string; waitMs?: number });

export interface ScenarioResult {
  name: string;
  /** The first bytes the server sent (latin1), for raw and slow scenarios. */
  response?: string;
  /** The server closed (or reset) the connection before we gave up. */
  closed: boolean;
  closedAfterMs?: number;
  /** Error code seen on the socket (ECONNRESET, ERR_SSL_…), if any. */
  error?: string;
  handshake?: boolean;
  answers?: Array<{ status?: number; weftError?: string; error?: string }>;
  /** HTTP/2 frame types received (h2raw): 7 is GOAWAY. */
  frameTypes?: number[];
  goawayCode?: number;
}

function codeOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code ?? e.message ?? String(err);
}

function watch(sock: net.Socket, started: number, waitMs: number, r: ScenarioResult, chunks: Buffer[]): Promise<ScenarioResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      r.closed = closed;
      if (closed) r.closedAfterMs = Date.now() - started;
      r.response = Buffer.concat(chunks).subarray(0, 4000).toString('latin1');
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(false), waitMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (err) => {
      r.error = codeOf(err);
      finish(true);
    });
    sock.on('close', () => finish(true));
    sock.on('end', () => finish(true));
  });
}

async function raw(s: Extract<Scenario, { kind: 'raw' }>): Promise<ScenarioResult> {
  const started = Date.now();
  const sock = net.connect({ host: s.host, port: s.port });
  const r: ScenarioResult = { name: s.name, closed: false };
  sock.once('connect', () => sock.write(Buffer.from(s.send, 'latin1')));
  return watch(sock, started, s.waitMs ?? 5000, r, []);
}

async function slow(s: Extract<Scenario, { kind: 'slow' }>): Promise<ScenarioResult> {
  const started = Date.now();
  const sock: net.Socket = s.tls === undefined
    ? net.connect({ host: s.host, port: s.port })
    : tls.connect({ host: s.host, port: s.port, servername: s.tls.servername, ca: s.tls.ca, cert: s.tls.cert, key: s.tls.key, checkServerIdentity: () => undefined });
  const r: ScenarioResult = { name: s.name, closed: false };
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  sock.once(s.tls === undefined ? 'connect' : 'secureConnect', () => {
    sock.write(Buffer.from(s.prefix, 'latin1'));
    timer = setInterval(() => {
      if (!sock.destroyed && s.drip.length > 0) sock.write(s.drip[i++ % s.drip.length]);
    }, s.intervalMs);
  });
  const out = await watch(sock, started, s.maxMs, r, []);
  clearInterval(timer);
  return out;
}

async function handshake(s: Extract<Scenario, { kind: 'tls' }>): Promise<ScenarioResult> {
  const started = Date.now();
  const r: ScenarioResult = { name: s.name, closed: false, handshake: false };
  const sock = tls.connect({
    host: s.host, port: s.port, servername: s.servername, ca: s.ca, cert: s.cert, key: s.key, maxVersion: s.maxVersion,
    ALPNProtocols: s.alpn ?? ['h2'], rejectUnauthorized: s.ca !== undefined, checkServerIdentity: () => undefined,
  });
  sock.once('secureConnect', () => {
    r.handshake = true;
    // TLS 1.3 servers check the client certificate after our Finished: say something to hear it.
    sock.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
  });
  return watch(sock, started, s.waitMs ?? 3000, r, []);
}

async function h2(s: Extract<Scenario, { kind: 'h2' }>): Promise<ScenarioResult> {
  const r: ScenarioResult = { name: s.name, closed: false, answers: [] };
  const session = http2.connect(`https://${s.host}:${s.port}`, { servername: s.servername, ca: s.ca, cert: s.cert, key: s.key, checkServerIdentity: () => undefined });
  session.on('error', (err) => (r.error = codeOf(err)));
  for (const headers of s.requests) {
    r.answers?.push(await new Promise((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' });
      } catch (err) {
        resolve({ error: codeOf(err) });
        return;
      }
      const t = setTimeout(() => {
        stream.close();
        resolve({ error: 'timeout' });
      }, 5000);
      stream.on('response', (h) => {
        clearTimeout(t);
        const we = h['weft-error'];
        resolve({ status: Number(h[':status']), ...(typeof we === 'string' ? { weftError: we } : {}) });
        stream.close();
      });
      stream.on('error', (err) => {
        clearTimeout(t);
        resolve({ error: codeOf(err) });
      });
      stream.resume();
    }));
  }
  r.closed = session.closed || session.destroyed;
  session.close();
  return r;
}

async function h2raw(s: Extract<Scenario, { kind: 'h2raw' }>): Promise<ScenarioResult> {
  const started = Date.now();
  const r: ScenarioResult = { name: s.name, closed: false };
  const sock = tls.connect({ host: s.host, port: s.port, servername: s.servername, ca: s.ca, cert: s.cert, key: s.key, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
  const chunks: Buffer[] = [];
  sock.once('secureConnect', () => {
    r.handshake = true;
    sock.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from('000000040000000000', 'hex'), Buffer.from(s.framesHex, 'hex')]));
  });
  const out = await watch(sock, started, s.waitMs ?? 3000, r, chunks);
  // Frame headers: 3 bytes length, 1 type, 1 flags, 4 stream id.
  const all = Buffer.concat(chunks);
  out.frameTypes = [];
  for (let i = 0; i + 9 <= all.length;) {
    const len = all.readUIntBE(i, 3);
    const type = all[i + 3];
    out.frameTypes.push(type);
    if (type === 7 && i + 17 <= all.length) out.goawayCode = all.readUInt32BE(i + 13);
    i += 9 + len;
  }
  delete out.response;
  return out;
}

runCli('bad-input-client', 'node tests/apps/bad-input-client.ts --scenarios <base64 JSON>', async (argv) => {
  const { values } = parseArgs({ args: argv, options: { scenarios: { type: 'string' } }, strict: true });
  if (values.scenarios === undefined) throw new UsageError('--scenarios is required');
  const scenarios = JSON.parse(Buffer.from(values.scenarios, 'base64').toString('utf8')) as Scenario[];
  emit({ ready: true, app: 'bad-input-client', scenarios: scenarios.length });
  // One at a time: each result says what the server did to that input alone.
  for (const s of scenarios) {
    const r = s.kind === 'raw' ? await raw(s) : s.kind === 'slow' ? await slow(s) : s.kind === 'tls' ? await handshake(s) : s.kind === 'h2' ? await h2(s) : await h2raw(s);
    emit({ ...r });
  }
});
