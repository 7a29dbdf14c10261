// Steady HTTP load with an account of every request and byte, for the fault suites: it keeps
// --concurrency requests going until SIGTERM (or --duration) while the test breaks things, then
// prints what happened. Every body is checked byte for byte:
//   GET  <url>/pattern/<id>/<bytes>  the server sends the seeded pattern; we know what must arrive
//   PUT  <url>/echo                   we send the pattern, the server echoes it (PUT is idempotent,
//                                     so the mesh may retry it like a GET)
//   node tests/apps/steady-client.ts --urls U1,U2 [--method GET|PUT] [--bytes 1024] [--concurrency 4]
//        [--pause 5] [--timeout 10000] [--duration 0]
// stdout: {"ready":true,...}, a {"progress":true,...} line a second, and on exit one result line
//   {final, sent, answered, failed, statuses, errors, bytesSent, bytesReceived, sha256Sent,
//    sha256Received, mismatches, byName, maxMs, maxFailedMs, failures: [{at, ms, error}]}
// "answered" is a 2xx whose body checked out; anything else is "failed" (kept in statuses/errors).
import http from 'node:http';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { choiceFlag, emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';
import { patternBytes } from './tcp-modes.ts';

interface Outcome {
  status?: number;
  /** The mesh's weft-error code when it answered for the app (a refusal, no route…). */
  meshError?: string;
  error?: string;
  name?: string;
  sentBytes: number;
  receivedBytes: number;
  digest: Buffer;
  ok: boolean;
  ms: number;
}

/** One request; resolves with what came back and whether the body matched, never rejects. */
function one(agent: http.Agent, url: URL, method: 'GET' | 'PUT', id: number, bytes: number, timeoutMs: number): Promise<Outcome> {
  const expected = patternBytes(id >>> 0, 0, bytes);
  const target = method === 'GET' ? new URL(`pattern/${id >>> 0}/${bytes}`, url) : new URL('echo', url);
  const start = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: Omit<Outcome, 'ms'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...o, ms: Math.round(performance.now() - start) });
    };
    const sentBytes = method === 'PUT' ? bytes : 0;
    const req = http.request(target, {
      agent, method, timeout: timeoutMs,
      headers: method === 'PUT' ? { 'content-type': 'application/octet-stream', 'content-length': String(bytes) } : {},
    }, (res) => {
      const hash = createHash('sha256');
      let received = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        received += c.length;
      });
      res.on('end', () => {
        const digest = hash.digest();
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300 && received === bytes && digest.equals(createHash('sha256').update(expected).digest());
        const name = res.headers['x-weft-app-name'];
        const meshError = res.headers['weft-error'];
        finish({ status, sentBytes, receivedBytes: received, digest, ok, ...(typeof name === 'string' ? { name } : {}), ...(typeof meshError === 'string' ? { meshError } : {}) });
      });
      res.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message, sentBytes, receivedBytes: received, digest: Buffer.alloc(0), ok: false }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message, sentBytes, receivedBytes: 0, digest: Buffer.alloc(0), ok: false }));
    req.end(method === 'PUT' ? expected : undefined);
  });
}

if (import.meta.main) {
  const usage = 'node tests/apps/steady-client.ts --urls U1,U2 [--method GET|PUT] [--bytes N] [--concurrency C] [--pause MS] [--timeout MS] [--duration MS]';
  runCli('steady-client', usage, async (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: {
        urls: { type: 'string' }, method: { type: 'string' }, bytes: { type: 'string' }, concurrency: { type: 'string' },
        pause: { type: 'string' }, timeout: { type: 'string' }, duration: { type: 'string' },
      },
      strict: true,
    });
    if (values.urls === undefined) throw new UsageError('--urls is required');
    const urls = values.urls.split(',').map((u) => new URL(u.endsWith('/') ? u : `${u}/`));
    const method = choiceFlag('method', values.method, 'GET', ['GET', 'PUT'] as const);
    const bytes = intFlag('bytes', values.bytes, 1024, 1, 16 << 20);
    const concurrency = intFlag('concurrency', values.concurrency, 4, 1, 1000);
    const pauseMs = intFlag('pause', values.pause, 5, 0, 60_000);
    const timeoutMs = intFlag('timeout', values.timeout, 10_000, 1, 600_000);
    const durationMs = intFlag('duration', values.duration, 0, 0, 3_600_000);

    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const started = Date.now();
    const statuses: Record<string, number> = {};
    const errors: Record<string, number> = {};
    const byName: Record<string, number> = {};
    const failures: { at: number; ms: number; error: string }[] = [];
    // Per request id: the digest of what we sent (expected back) and what came back.
    const sentDigests: Buffer[] = [];
    const receivedDigests: Buffer[] = [];
    let sent = 0;
    let answered = 0;
    let failed = 0;
    let mismatches = 0;
    let bytesSent = 0;
    let bytesReceived = 0;
    let maxMs = 0;
    let maxFailedMs = 0;
    let stopping = false;

    const worker = async (): Promise<void> => {
      while (!stopping && (durationMs === 0 || Date.now() - started < durationMs)) {
        const id = sent++;
        const url = urls[id % urls.length];
        sentDigests[id] = createHash('sha256').update(patternBytes(id >>> 0, 0, bytes)).digest();
        const o = await one(agent, url, method, id, bytes, timeoutMs);
        bytesSent += o.sentBytes;
        bytesReceived += o.receivedBytes;
        maxMs = Math.max(maxMs, o.ms);
        if (o.status !== undefined) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
        if (o.error !== undefined) errors[o.error] = (errors[o.error] ?? 0) + 1;
        if (o.name !== undefined) byName[o.name] = (byName[o.name] ?? 0) + 1;
        if (o.ok) {
          answered++;
          receivedDigests[id] = o.digest;
        } else {
          failed++;
          maxFailedMs = Math.max(maxFailedMs, o.ms);
          if (o.status !== undefined && o.status >= 200 && o.status < 300) mismatches++;
          if (failures.length < 50) failures.push({ at: Date.now() - started - o.ms, ms: o.ms, error: o.error ?? `HTTP ${o.status}${o.meshError === undefined ? '' : ` ${o.meshError}`}` });
        }
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    };
    const progress = setInterval(() => emit({ progress: true, sent, answered, failed, atMs: Date.now() - started }), 1000);
    const running = Promise.all(Array.from({ length: concurrency }, worker));

    const report = async (): Promise<void> => {
      stopping = true;
      await running;
      clearInterval(progress);
      agent.destroy();
      // Digests in request order, so the two hashes are equal exactly when every body came back.
      const all = (ds: Buffer[]): string => {
        const h = createHash('sha256');
        for (let i = 0; i < sent; i++) h.update(ds[i] ?? Buffer.alloc(32));
        return h.digest('hex');
      };
      emit({
        final: true, method, sent, answered, failed, statuses, errors, byName, bytesSent, bytesReceived,
        sha256Sent: all(sentDigests), sha256Received: all(receivedDigests), mismatches, maxMs, maxFailedMs,
        failures, durationMs: Date.now() - started,
      });
    };
    // In-flight requests finish (or time out) before the report: the grace covers one timeout.
    onShutdown(report, timeoutMs + 5000);
    emit({ ready: true, app: 'steady-client', urls: urls.map(String), method, concurrency });
    if (durationMs > 0) {
      await running;
      await report();
      process.exit(0);
    }
  });
}
