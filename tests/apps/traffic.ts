// Sample-app traffic loop for the sandbox: steady, visible requests so the mesh's metrics, tap and
// topology have something to show.
//   node tests/apps/traffic.ts --target URL [--target URL ...] [--interval 500] [--count N] [--timeout 2000]
// Every interval it sends one GET to each target over a keep-alive agent (connections persist through
// the mesh like a real app's). stdout: {"ready":true,"app":"traffic","targets":[...]} then one line per
// request: {"target","status","ms"} or {"target","error"} (error is a code: ECONNREFUSED, ETIMEDOUT…).
// Stops after --count requests in total (default: never) or on SIGTERM.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';

export interface TrafficResult {
  target: string;
  status?: number;
  ms?: number;
  error?: string;
}

/** One GET with a deadline; resolves with a status or an error code, never rejects. */
export function getOnce(agent: http.Agent, target: string, timeoutMs: number): Promise<TrafficResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    let done = false;
    const finish = (r: TrafficResult): void => {
      if (done) return;
      done = true;
      resolve(r);
    };
    const req = http.get(target, { agent, timeout: timeoutMs }, (res) => {
      res.on('data', () => {});
      res.on('end', () => finish({ target, status: res.statusCode ?? 0, ms: Math.round((performance.now() - start) * 10) / 10 }));
      res.on('error', (err: NodeJS.ErrnoException) => finish({ target, error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ target, error: err.code ?? err.message }));
  });
}

function checkTarget(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--target ${JSON.stringify(raw)} is not a URL (e.g. http://10.0.1.5:8080/)`);
  }
  if (u.protocol !== 'http:') throw new UsageError(`--target ${raw}: only http:// is supported`);
  return u.toString();
}

if (import.meta.main) {
  const usage = 'node tests/apps/traffic.ts --target URL [--target URL ...] [--interval 500] [--count N] [--timeout 2000]';
  runCli('traffic', usage, (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: {
        target: { type: 'string', multiple: true },
        interval: { type: 'string' },
        count: { type: 'string' },
        timeout: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const targets = (values.target ?? []).map(checkTarget);
    if (targets.length === 0) throw new UsageError('at least one --target is required');
    const intervalMs = intFlag('interval', values.interval, 500, 1, 3_600_000);
    const count = intFlag('count', values.count, Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER);
    const timeoutMs = intFlag('timeout', values.timeout, 2000, 1, 600_000);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

    let sent = 0;
    let inFlight = 0;
    let stopping = false;
    const stop = (): void => {
      stopping = true;
      clearInterval(timer);
      agent.destroy();
    };
    const tick = (): void => {
      for (const target of targets) {
        if (stopping || sent >= count) break;
        sent++;
        inFlight++;
        void getOnce(agent, target, timeoutMs).then((r) => {
          inFlight--;
          if (!stopping) emit({ ...r });
          if (sent >= count && inFlight === 0) stop();
        });
      }
    };
    const timer = setInterval(tick, intervalMs);
    onShutdown(stop);
    emit({ ready: true, app: 'traffic', targets, intervalMs });
    tick();
  });
}
