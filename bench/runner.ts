// Runs one workload once against one configuration: the client process in the client pod, the
// proxies watched from /proc while it runs. Returns a plain record for results JSON.
import { fileURLToPath } from 'node:url';
import { appPath, runApp, startApp, type ExitedApp } from '../tests/apps/spawn-app.ts';
import { clientPod, nofile, serverPod, siteOf, TCP_PORT, type BenchContext, type Configuration } from './configurations.ts';
import type { LoadResult } from './lib/load.ts';
import { ProcessWatch, rssMiB, type ProcessUsage } from './proc-stats.ts';
import { waitForQuietTicks } from './agent-quiet.ts';
import { requestPath, type BulkWorkload, type HttpWorkload, type IdleWorkload, type Workload } from './workloads.ts';

const LOAD_CLI = fileURLToPath(new URL('./lib/load-cli.ts', import.meta.url));
const HOLD_CLI = fileURLToPath(new URL('./lib/hold-cli.ts', import.meta.url));

export type LoadSummary = Omit<LoadResult, 'histogram'>;

export interface BulkResult {
  ok: boolean;
  bytes: number;
  durationMs: number;
  gbps: number;
  errors: string[];
}

export interface IdleProxyMemory {
  name: string;
  /** VmRSS before the first connection opened. */
  beforeMiB: number;
  /** VmRSS with every connection held, after `settleS` of idleness. */
  heldMiB: number;
}

export interface IdleResult {
  target: number;
  /** Connections held when the memory was read. */
  open: number;
  failed: Record<string, number>;
  /** Held, then closed by the far side before the client let go. */
  closedEarly: number;
  /** Time to open every connection (and make its one request). */
  openMs: number;
  memory: IdleProxyMemory[];
}

export interface RunRecord {
  workload: string;
  config: string;
  round: number;
  startedAt: string;
  load?: LoadSummary;
  bulk?: BulkResult;
  idle?: IdleResult;
  /** Requests the proxies' CPU time is divided by (warmup included, as they served it). */
  requests: number;
  proxies: ProcessUsage[];
  error?: string;
}

/** Runs a client in a pod with its descriptor limit at the hard limit (prlimit execs it: same pid). */
function launcher(ctx: BenchContext, c: Configuration, pod: string) {
  const { tb } = siteOf(ctx, c);
  const netns = tb.pod(pod).netns;
  const n = nofile();
  return (cmd: string, a: string[]) => tb.spawn(netns, 'prlimit', [`--nofile=${n}:${n}`, cmd, ...a]);
}

function inPod(ctx: BenchContext, c: Configuration, pod: string, file: string, args: string[], timeoutMs: number): Promise<ExitedApp> {
  return runApp(file, args, timeoutMs, launcher(ctx, c, pod));
}

function serverIp(ctx: BenchContext, c: Configuration): string {
  return siteOf(ctx, c).tb.pod(serverPod(c)).ip;
}

function lastLine(r: ExitedApp, what: string): Record<string, unknown> {
  const last = r.stdout[r.stdout.length - 1];
  if (last === undefined) throw new Error(`${what} printed no result (exit ${r.code}); stderr: ${r.stderr.slice(-2000)}`);
  return last;
}

/** load-cli flags for a request workload against a configuration. */
export function loadArgs(w: HttpWorkload, ip: string, port: number): string[] {
  const args = [
    '--url', `http://${ip}:${port}${requestPath(w)}`, '--rate', String(w.rate), '--duration', String(w.durationS), '--warmup', String(w.warmupS),
    '--connections', String(w.connections), '--timeout', '5000', '--transport', w.protocol === 'h1' ? 'raw' : w.protocol,
  ];
  if (w.concurrency !== undefined) args.push('--concurrency', String(w.concurrency));
  if (w.protocol === 'grpc') args.push('--grpc-bytes', String(w.bytes));
  if (w.newConnection) args.push('--new-connection');
  return args;
}

async function runHttp(ctx: BenchContext, c: Configuration, w: HttpWorkload): Promise<{ load: LoadSummary; requests: number }> {
  const args = loadArgs(w, serverIp(ctx, c), c.ports[w.protocol]);
  const r = await inPod(ctx, c, clientPod(c), LOAD_CLI, args, (w.durationS + w.warmupS + 30) * 1000);
  const load = lastLine(r, 'load-cli') as unknown as LoadSummary;
  return { load, requests: load.totalSent };
}

async function runBulk(ctx: BenchContext, c: Configuration, w: BulkWorkload): Promise<BulkResult> {
  // Down: the server sources the bytes; up: the client sends them and the server sinks them.
  const up = w.direction === 'up';
  const args = ['--host', serverIp(ctx, c), '--port', String(TCP_PORT), '--mode', up ? 'sink' : 'source', '--bytes', String(w.bytes), '--timeout', '120000'];
  const r = await inPod(ctx, c, clientPod(c), appPath('tcp-client.ts'), args, 150_000);
  const res = lastLine(r, 'tcp-client') as { ok: boolean; bytesReceived: number; bytesSent: number; durationMs: number; errors: string[] };
  const moved = up ? res.bytesSent : res.bytesReceived;
  return {
    ok: res.ok,
    bytes: moved,
    durationMs: res.durationMs,
    gbps: res.durationMs > 0 ? Math.round(((moved * 8) / (res.durationMs / 1000) / 1e9) * 1000) / 1000 : 0,
    errors: res.errors,
  };
}

/** Opens the connections, waits, reads the proxies' RSS, then lets go (and waits for the proxies
 * to see the closes and, for agents, a quiet interval, so the next run starts from an idle state). */
async function runIdle(ctx: BenchContext, c: Configuration, w: IdleWorkload): Promise<{ idle: IdleResult; requests: number }> {
  const procs = c.proxies(ctx);
  const before = procs.map((p) => rssMiB(p.pid) ?? NaN);
  const args = ['--url', `http://${serverIp(ctx, c)}:${c.ports.h1}/`, '--connections', String(w.connections), '--parallel', String(w.parallel)];
  const app = await startApp(HOLD_CLI, args, 15_000, launcher(ctx, c, clientPod(c)));
  try {
    const est = await app.waitForLine((l) => l.established === true, 300_000) as { open: number; failed: Record<string, number>; closedEarly: number; openMs: number };
    await new Promise((r) => setTimeout(r, w.settleS * 1000));
    const held = procs.map((p) => rssMiB(p.pid) ?? NaN);
    await app.stop(5000);
    const fin = app.lines.find((l) => l.final === true) as { open: number; closedEarly: number } | undefined;
    return {
      idle: {
        target: w.connections,
        open: fin?.open ?? est.open,
        failed: est.failed,
        closedEarly: fin?.closedEarly ?? est.closedEarly,
        openMs: est.openMs,
        memory: procs.map((p, i) => ({ name: p.name, beforeMiB: before[i], heldMiB: held[i] })),
      },
      requests: w.connections,
    };
  } finally {
    await app.stop(1000);
    await new Promise((r) => setTimeout(r, 2000));
    // The next row (the other path on the same agents) starts from an idle agent, not from this
    // row's connections two seconds gone: it waits for the agents' quiet interval, in which they
    // give back what the connections took (agent/memory-reclaim.ts).
    if (c.meshed) await waitForQuietTicks(siteOf(ctx, c).mesh);
  }
}

/** Never throws: a failed run is recorded with its error, and the others go on. */
export async function runOnce(ctx: BenchContext, c: Configuration, w: Workload, round: number): Promise<RunRecord> {
  const rec: RunRecord = { workload: w.id, config: c.id, round, startedAt: new Date().toISOString(), requests: 0, proxies: [] };
  const watch = new ProcessWatch(c.proxies(ctx));
  try {
    if (w.kind === 'http') Object.assign(rec, await runHttp(ctx, c, w));
    else if (w.kind === 'idle') Object.assign(rec, await runIdle(ctx, c, w));
    else rec.bulk = await runBulk(ctx, c, w);
  } catch (err) {
    rec.error = (err as Error).message;
  } finally {
    rec.proxies = watch.stop();
  }
  return rec;
}
