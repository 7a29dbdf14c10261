// `node dist/agent.mjs`: in the main thread, parse config and start the agent; in a worker thread
// (the same file, so one entry serves both), run a proxy worker. Each side imports its half on
// demand: the bundle is split (scripts/build.ts), so a worker never parses the control client, the
// admin server or the redirectors, and the main thread never parses the proxy. Every isolate keeps
// the source it loaded, so what it does not load is memory saved three times over.
import { isMainThread, workerData } from 'node:worker_threads';
import { describeSettings, processEnv } from '../common/config.ts';
import { isWeftError } from '../common/errors.ts';
import { stopOnSignals } from '../common/lifecycle.ts';
import { createLogger, setLogLevel } from '../common/log.ts';
import { GuardedSink } from '../common/log-sink.ts';
import { agentSettings, loadAgentConfig } from './config.ts';
import { reportFileLimit } from './file-limit.ts';
import { limitHeapGrowth } from './heap-growth.ts';
import { mainHeapFlags, reexecWithFlags } from './main-heap.ts';
import { startMemoryReclaim } from './memory-reclaim.ts';
import { mallocTrim } from './native/index.ts';
import type { WorkerInit } from './worker-protocol.ts';

// The main thread writes stdout and stderr through guarded sinks (a full log disk must not kill
// the agent); workers' output reaches them through the main thread.
const sinks = isMainThread ? { stdout: new GuardedSink('stdout', process.stdout), stderr: new GuardedSink('stderr', process.stderr) } : undefined;
const log = createLogger('agent', sinks?.stderr ?? process.stderr);

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`weft agent — the per-node mesh proxy\n\nEnvironment:\n${describeSettings(agentSettings)}\n`);
    return;
  }
  const cfg = loadAgentConfig(processEnv);
  setLogLevel(cfg.logLevel);
  // Before anything is opened: on success this does not return, and the agent starts over in the
  // same process with the main thread's young generation capped (agent/main-heap.ts).
  const execve = process.execve?.bind(process);
  reexecWithFlags(mainHeapFlags(cfg.workerYoungGenMb, process.execArgv, process.env.NODE_OPTIONS ?? ''), { execPath: process.execPath, execArgv: process.execArgv, argv: process.argv, env: process.env, execve }, (msg, err) => log.warn(msg, { err }));
  limitHeapGrowth(cfg.heapGrowingPercent);
  log.info('starting', { config: cfg });
  await reportFileLimit(log);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('WEFT_') && v !== undefined) env[k] = v;
  if (sinks === undefined) throw new Error('the agent main runs on the main thread');
  const { startAgent } = await import('./app.ts');
  const app = await startAgent(cfg, log, new URL(import.meta.url), env, sinks);
  // Memory a busy spell left resident, given back when quiet (agent/memory-reclaim.ts).
  const stopReclaim = startMemoryReclaim(cfg.memoryReclaimMs, mallocTrim);
  // "ready" is logged by the app when /ready would answer 200 (agent/readiness-log.ts).
  stopOnSignals(log, () => {
    stopReclaim();
    return app.stop();
  });
}

const init = workerData as WorkerInit | undefined;
if (!isMainThread && init?.role === 'weft-proxy-worker') {
  import('./worker.ts').then(({ runWorker }) => runWorker(init)).catch((err: unknown) => {
    log.error('proxy worker failed', { err });
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    if (isWeftError(err)) log.error(err.message, { code: err.code });
    else log.error('agent failed to start', { err });
    process.exit(1);
  });
}
