// Steady traffic for the load suites (fairness, soak): C lanes, each sending one exchange after
// another for a duration (or a count), every exchange checked and counted.
//   node tests/apps/load-client.ts --url http://H:P/echo | --url http://H:P/delay/300 | --tcp H:P
//     [--concurrency 4] [--duration-ms 10000 | --requests N] [--pause-ms 0] [--bytes 1024]
//     [--h2] [--report-ms 0] [--timeout-ms 10000]
// HTTP: a path starting /echo is a POST of a per-request pattern that must come back byte-exact;
// any other path is a GET that must answer 200. --h2 sends everything as streams of one HTTP/2
// (prior knowledge) session instead of HTTP/1.1 keep-alive connections. TCP (--tcp, against
// tcp-server.ts): one connection per exchange, ECHO of --bytes, checked by SHA-256.
// stdout: {"ready":true,...}; with --report-ms a {"progress":true,...} line that often; at the end
// {"done":true, sent, answered, ok, failed, statuses, weftErrors, limited, errors, bytesSent,
// bytesReceived, latencyMs:{p50,p99,max}, durationMs}. Exit 0 when every exchange was ok.
import http from 'node:http';
import http2 from 'node:http2';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';
import { patternBytes, sha256Hex } from './tcp-modes.ts';
import { runTcpConnection, defaultRunOptions } from './tcp-runner.ts';

interface Outcome {
  /** HTTP status, or 0 when no answer came. */
  status: number;
  ok: boolean;
  bytesSent: number;
  bytesReceived: number;
  weftError?: string;
  limited?: boolean;
  error?: string;
}

class Tally {
  sent = 0;
  answered = 0;
  ok = 0;
  failed = 0;
  bytesSent = 0;
  bytesReceived = 0;
  limited = 0;
  readonly statuses: Record<string, number> = {};
  readonly weftErrors: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  readonly latencies: number[] = [];

  add(o: Outcome, ms: number): void {
    this.sent++;
    this.bytesSent += o.bytesSent;
    this.bytesReceived += o.bytesReceived;
    if (o.status > 0) {
      this.answered++;
      this.statuses[o.status] = (this.statuses[o.status] ?? 0) + 1;
      this.latencies.push(ms);
    }
    if (o.ok) this.ok++;
    else this.failed++;
    if (o.weftError !== undefined) this.weftErrors[o.weftError] = (this.weftErrors[o.weftError] ?? 0) + 1;
    if (o.limited === true) this.limited++;
    if (o.error !== undefined) this.errors[o.error] = (this.errors[o.error] ?? 0) + 1;
  }

  summary(): Record<string, unknown> {
    const l = [...this.latencies].sort((a, b) => a - b);
    const q = (p: number): number => (l.length === 0 ? 0 : Math.round(l[Math.min(l.length - 1, Math.floor(p * l.length))] * 10) / 10);
    return {
      sent: this.sent, answered: this.answered, ok: this.ok, failed: this.failed, statuses: this.statuses,
      weftErrors: this.weftErrors, limited: this.limited, errors: this.errors, bytesSent: this.bytesSent, bytesReceived: this.bytesReceived,
      latencyMs: { p50: q(0.5), p99: q(0.99), max: l.length === 0 ? 0 : Math.round(l[l.length - 1] * 10) / 10 },
    };
  }
}

type Exchange = (seq: number) => Promise<Outcome>;

function errorCodeOf(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message ?? 'error';
}

function judge(path: string, status: number, headers: http.IncomingHttpHeaders, body: Buffer, sent: Buffer | undefined): Outcome {
  const weft = headers['weft-error'];
  const ok = status === 200 && (sent === undefined || (body.length === sent.length && sha256Hex(body) === sha256Hex(sent)));
  return {
    status, ok, bytesSent: sent?.length ?? 0, bytesReceived: body.length,
    weftError: typeof weft === 'string' ? weft : undefined,
    limited: headers['weft-limit'] !== undefined,
    error: ok || status !== 200 ? undefined : `MISMATCH on ${path}`,
  };
}

function http1Exchange(url: URL, concurrency: number, bytes: number, timeoutMs: number): { go: Exchange; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const echo = url.pathname.startsWith('/echo');
  return {
    go: (seq) => new Promise((resolve) => {
      const body = echo ? patternBytes(seq, 0, bytes) : undefined;
      const req = http.request(url, { agent, method: echo ? 'POST' : 'GET', timeout: timeoutMs, headers: body === undefined ? {} : { 'content-length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(judge(url.pathname, res.statusCode ?? 0, res.headers, Buffer.concat(chunks), body)));
        res.on('error', (err) => resolve({ status: 0, ok: false, bytesSent: 0, bytesReceived: 0, error: errorCodeOf(err) }));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => resolve({ status: 0, ok: false, bytesSent: 0, bytesReceived: 0, error: errorCodeOf(err) }));
      req.end(body);
    }),
    close: () => agent.destroy(),
  };
}

function http2Exchange(url: URL, bytes: number, timeoutMs: number): { go: Exchange; close(): void } {
  let session: http2.ClientHttp2Session | undefined;
  const connect = (): http2.ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      session = http2.connect(url.origin);
      session.on('error', () => undefined);
    }
    return session;
  };
  const echo = url.pathname.startsWith('/echo');
  return {
    go: (seq) => new Promise((resolve) => {
      const body = echo ? patternBytes(seq, 0, bytes) : undefined;
      const s = connect().request({ ':method': echo ? 'POST' : 'GET', ':path': url.pathname });
      s.setTimeout(timeoutMs, () => s.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      let headers: http.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      s.on('response', (h) => { status = Number(h[':status']); headers = h as http.IncomingHttpHeaders; });
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve(judge(url.pathname, status, headers, Buffer.concat(chunks), body)));
      s.on('error', (err) => resolve({ status: 0, ok: false, bytesSent: 0, bytesReceived: 0, error: errorCodeOf(err) }));
      s.on('close', () => { if (status === 0) resolve({ status: 0, ok: false, bytesSent: 0, bytesReceived: 0, error: `RST_STREAM ${s.rstCode}` }); });
      s.end(body);
    }),
    close: () => session?.close(),
  };
}

function tcpExchange(target: string, bytes: number, timeoutMs: number): Exchange {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i);
  const port = Number(target.slice(i + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--tcp ${target}: expected host:port`);
  return async (seq) => {
    const o = { ...defaultRunOptions, host, port, mode: 'echo' as const, bytes, seed: seq, timeoutMs };
    const r = await runTcpConnection(o, sha256Hex(patternBytes(seq, 0, bytes)));
    // A TCP exchange has no status: "answered" means the echo came back in full.
    return { status: r.bytesReceived > 0 ? 200 : 0, ok: r.ok, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived, error: r.error };
  };
}

runCli('load-client', 'node tests/apps/load-client.ts --url URL | --tcp H:P [--concurrency C] [--duration-ms D | --requests N] [--pause-ms P] [--bytes B] [--h2] [--report-ms R] [--timeout-ms T]', async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' }, tcp: { type: 'string' }, concurrency: { type: 'string' }, 'duration-ms': { type: 'string' },
      requests: { type: 'string' }, 'pause-ms': { type: 'string' }, bytes: { type: 'string' }, h2: { type: 'boolean', default: false },
      'report-ms': { type: 'string' }, 'timeout-ms': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if ((values.url === undefined) === (values.tcp === undefined)) throw new UsageError('exactly one of --url and --tcp is required');
  const concurrency = intFlag('concurrency', values.concurrency, 4, 1, 10_000);
  const durationMs = intFlag('duration-ms', values['duration-ms'], 10_000, 0, 24 * 3_600_000);
  const requests = intFlag('requests', values.requests, 0, 0, 100_000_000);
  const pauseMs = intFlag('pause-ms', values['pause-ms'], 0, 0, 60_000);
  const bytes = intFlag('bytes', values.bytes, 1024, 1, 16 << 20);
  const reportMs = intFlag('report-ms', values['report-ms'], 0, 0, 3_600_000);
  const timeoutMs = intFlag('timeout-ms', values['timeout-ms'], 10_000, 1, 600_000);
  let exchange: Exchange;
  let close = (): void => {};
  if (values.tcp !== undefined) {
    exchange = tcpExchange(values.tcp, bytes, timeoutMs);
  } else {
    let url: URL;
    try {
      url = new URL(values.url ?? '');
    } catch {
      throw new UsageError(`--url ${JSON.stringify(values.url)} is not a URL`);
    }
    const x = values.h2 ? http2Exchange(url, bytes, timeoutMs) : http1Exchange(url, concurrency, bytes, timeoutMs);
    exchange = x.go;
    close = x.close;
  }

  const tally = new Tally();
  let stopping = false;
  onShutdown(() => { stopping = true; });
  emit({ ready: true, app: 'load-client', target: values.url ?? values.tcp, concurrency });
  const start = Date.now();
  const report = reportMs > 0 ? setInterval(() => emit({ progress: true, at: Date.now() - start, ...tally.summary() }), reportMs) : undefined;
  let seq = 0;
  const more = (): boolean => !stopping && (requests > 0 ? seq < requests : Date.now() - start < durationMs);
  const lane = async (): Promise<void> => {
    while (more()) {
      const n = seq++;
      const t0 = performance.now();
      const o = await exchange(n);
      tally.add(o, performance.now() - t0);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  if (report !== undefined) clearInterval(report);
  close();
  emit({ done: true, ...tally.summary(), durationMs: Date.now() - start });
  process.exitCode = tally.failed === 0 ? 0 : 1;
});
