// Runs one workload once against one configuration: the client process in the client pod, the
// proxies watched from /proc while it runs. Returns a plain record for results JSON.
import { fileURLToPath } from 'node:url';
import { appPath, runApp, type ExitedApp } from '../tests/apps/spawn-app.ts';
import { clientPod, serverPod, HTTP_PORT, TCP_PORT, type BenchContext, type Configuration } from './configurations.ts';
import type { LoadResult } from './lib/load.ts';
import { ProcessWatch, type ProcessUsage } from './proc-stats.ts';
import type { BulkWorkload, HttpWorkload, Workload } from './workloads.ts';

const LOAD_CLI = fileURLToPath(new URL('./lib/load-cli.ts', import.meta.url));

export type LoadSummary = Omit<LoadResult, 'histogram'>;

export interface BulkResult {
  ok: boolean;
  bytes: number;
  durationMs: number;
  gbps: number;
  errors: string[];
}

export interface RunRecord {
  workload: string;
  config: string;
  round: number;
  startedAt: string;
  load?: LoadSummary;
  bulk?: BulkResult;
  /** Requests the proxies' CPU time is divided by (warmup included, as they served it). */
  requests: number;
  proxies: ProcessUsage[];
  error?: string;
}

function inPod(ctx: BenchContext, pod: string, file: string, args: string[], timeoutMs: number): Promise<ExitedApp> {
  const netns = ctx.tb.pod(pod).netns;
  return runApp(file, args, timeoutMs, (cmd, a) => ctx.tb.spawn(netns, cmd, a));
}

function lastLine(r: ExitedApp, what: string): Record<string, unknown> {
  const last = r.stdout[r.stdout.length - 1];
  if (last === undefined) throw new Error(`${what} printed no result (exit ${r.code}); stderr: ${r.stderr.slice(-2000)}`);
  return last;
}

async function runHttp(ctx: BenchContext, c: Configuration, w: HttpWorkload): Promise<{ load: LoadSummary; requests: number }> {
  const url = `http://${ctx.tb.pod(serverPod(c)).ip}:${c.httpPort ?? HTTP_PORT}${w.path}`;
  const args = [
    '--url', url, '--rate', String(w.rate), '--duration', String(w.durationS), '--warmup', String(w.warmupS),
    '--connections', String(w.connections), '--timeout', '5000',
  ];
  if (w.newConnection) args.push('--new-connection');
  const r = await inPod(ctx, clientPod(c), LOAD_CLI, args, (w.durationS + w.warmupS + 30) * 1000);
  const load = lastLine(r, 'load-cli') as unknown as LoadSummary;
  return { load, requests: load.totalSent };
}

async function runBulk(ctx: BenchContext, c: Configuration, w: BulkWorkload): Promise<BulkResult> {
  const args = ['--host', ctx.tb.pod(serverPod(c)).ip, '--port', String(TCP_PORT), '--mode', 'source', '--bytes', String(w.bytes), '--timeout', '120000'];
  const r = await inPod(ctx, clientPod(c), appPath('tcp-client.ts'), args, 150_000);
  const res = lastLine(r, 'tcp-client') as { ok: boolean; bytesReceived: number; durationMs: number; errors: string[] };
  return {
    ok: res.ok,
    bytes: res.bytesReceived,
    durationMs: res.durationMs,
    gbps: res.durationMs > 0 ? Math.round(((res.bytesReceived * 8) / (res.durationMs / 1000) / 1e9) * 1000) / 1000 : 0,
    errors: res.errors,
  };
}

/** Never throws: a failed run is recorded with its error, and the others go on. */
export async function runOnce(ctx: BenchContext, c: Configuration, w: Workload, round: number): Promise<RunRecord> {
  const rec: RunRecord = { workload: w.id, config: c.id, round, startedAt: new Date().toISOString(), requests: 0, proxies: [] };
  const watch = new ProcessWatch(c.proxies(ctx));
  try {
    if (w.kind === 'http') Object.assign(rec, await runHttp(ctx, c, w));
    else rec.bulk = await runBulk(ctx, c, w);
  } catch (err) {
    rec.error = (err as Error).message;
  } finally {
    rec.proxies = watch.stop();
  }
  return rec;
}
