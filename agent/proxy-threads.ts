// The main thread's side of the agent's proxies (proxy-thread.ts: worker threads, or the one proxy
// inline): starts them, answers what they ask (certificates), hands on what they publish (taps,
// in-pod listener results), and asks them all at once for what the admin server, /metrics and the
// dashboard read (stats, policy counters, telemetry) — answering with what arrived within a bound,
// so a stuck proxy cannot hang /metrics.
import { errorCode } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { AgentSinks } from './app.ts';
import { workerHeapLimits, type AgentConfig } from './config.ts';
import type { WorkloadCertificate } from './identity/tls-contexts.ts';
import { startProxyThread, type ProxyThread } from './proxy-thread.ts';
import { sumStats, type StatsJson } from './proxy/stats.ts';
import type { TelemetrySnapshot } from './telemetry/aggregates.ts';
import type { TapEvent } from './telemetry/tap-events.ts';
import type { FromWorker, ToWorker, WorkerInit, WorkerPolicyStats } from './worker-protocol.ts';

/** How long a gathering waits for every proxy before answering with what it has. */
const GATHER_MS = 2000;

export interface ProxyThreadsOptions {
  cfg: AgentConfig;
  layout: { inline: boolean; count: number };
  /** The agent's bundle (a worker runs the same file). */
  entry: URL;
  env: Record<string, string>;
  /** Shared with every proxy: live tap consumers (they forward events only when > 0). */
  tapFlag: Int32Array;
  sinks: AgentSinks;
  log: Logger;
  /** A proxy asks for a workload's certificate (the one CSR per identity lives on the main thread). */
  certificate(identity: string): Promise<WorkloadCertificate>;
  /** Tap events a proxy published. */
  onTap(events: TapEvent[]): void;
  /** A proxy's answer to a `pods` message (in-pod listeners). */
  onPodsSynced(m: Extract<FromWorker, { type: 'pods-synced' }>): void;
  /** The state message a proxy starts from (null while control has sent nothing). */
  initialState(): ToWorker | null;
  /** How long a gathering waits for every proxy; default 2 s. */
  gatherMs?: number;
  /** Starts one proxy; default startProxyThread (unit tests pass their own). */
  start?: (init: WorkerInit) => ProxyThread;
}

type GatherKind = 'stats' | 'policy-stats' | 'telemetry';
type Gathered = StatsJson | WorkerPolicyStats | TelemetrySnapshot;

interface Gathering {
  kind: GatherKind;
  want: number;
  got: Gathered[];
  done(got: Gathered[]): void;
}

export class ProxyThreads {
  readonly threads: ProxyThread[] = [];
  /** Resolves when every proxy listens; rejects when one could not, or crashed first. */
  readonly listening: Promise<void>;
  /** A proxy crashed: readiness says so from then on. */
  fatal: Error | null = null;
  readonly #opts: ProxyThreadsOptions;
  readonly #listening: boolean[] = [];
  readonly #gatherings = new Map<number, Gathering>();
  #nextReq = 1;

  constructor(opts: ProxyThreadsOptions) {
    this.#opts = opts;
    this.listening = new Promise<void>((resolve, reject) => {
      for (let i = 0; i < opts.layout.count; i++) this.#start(i, resolve, reject);
    });
    // Rejections are read by whoever awaits `listening`; none must go unhandled meanwhile.
    this.listening.catch(() => {});
  }

  get count(): number {
    return this.threads.length;
  }

  /** Sends `m` to every proxy; how many that is (the answers to expect). */
  broadcast(m: ToWorker): number {
    for (const t of this.threads) t.postMessage(m);
    return this.threads.length;
  }

  /** Every proxy's counters, summed. */
  async stats(): Promise<StatsJson> {
    return sumStats(await this.#gather('stats') as StatsJson[]);
  }

  policyStats(): Promise<WorkerPolicyStats[]> {
    return this.#gather('policy-stats') as Promise<WorkerPolicyStats[]>;
  }

  telemetry(): Promise<TelemetrySnapshot[]> {
    return this.#gather('telemetry') as Promise<TelemetrySnapshot[]>;
  }

  /**
   * Stops accepting, lets open connections finish for up to `drainMs` (each proxy exits when its
   * own are done), then ends every proxy.
   */
  async drain(drainMs: number): Promise<void> {
    const drained = Promise.all(this.threads.map((t) => new Promise<void>((r) => {
      t.onceExit(() => r());
      t.postMessage({ type: 'drain' } satisfies ToWorker);
    })));
    const timer = new Promise<void>((r) => setTimeout(r, drainMs + 1000).unref());
    await Promise.race([drained, timer]);
    await this.terminate();
  }

  async terminate(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.terminate()));
  }

  #start(i: number, resolve: () => void, reject: (err: Error) => void): void {
    const o = this.#opts;
    const init: WorkerInit = { role: 'weft-proxy-worker', index: i, env: o.env, tapFlag: o.tapFlag };
    // The proxies' output (logs, access log) goes through the main thread's guarded sinks: a full
    // log disk must cost lines, not the process.
    const t = o.start !== undefined ? o.start(init) : startProxyThread({ init, entry: o.entry, resourceLimits: workerHeapLimits(o.cfg), sinks: o.sinks }, o.layout.inline);
    this.threads.push(t);
    this.#listening.push(false);
    t.onMessage((m: FromWorker) => {
      switch (m.type) {
        case 'listening':
          this.#listening[i] = true;
          if (this.#listening.every(Boolean)) resolve();
          break;
        case 'listen-failed':
          reject(Object.assign(new Error(`proxy worker ${i} could not listen: ${m.message}`), { code: m.code }));
          break;
        case 'cert-request':
          o.certificate(m.identity).then(
            (cert) => t.postMessage({ type: 'cert', reqId: m.reqId, cert } satisfies ToWorker),
            (err: unknown) => t.postMessage({ type: 'cert', reqId: m.reqId, error: { code: errorCode(err), message: (err as Error).message } } satisfies ToWorker),
          );
          break;
        case 'stats':
          this.#answer(m.reqId, m.stats);
          break;
        case 'policy-stats':
          this.#answer(m.reqId, m.stats);
          break;
        case 'telemetry':
          this.#answer(m.reqId, m.snapshot);
          break;
        case 'tap-events':
          o.onTap(m.events);
          break;
        case 'drained':
          break;
        case 'pods-synced':
          o.onPodsSynced(m);
          break;
      }
    });
    t.onError((err) => {
      this.fatal = err;
      o.log.error('proxy worker crashed', { worker: i, err });
      reject(err);
    });
    const st = o.initialState();
    if (st !== null) t.postMessage(st);
  }

  /** Asks every proxy; answers with what arrived within GATHER_MS. */
  #gather(kind: GatherKind): Promise<Gathered[]> {
    const reqId = this.#nextReq++;
    return new Promise((resolve) => {
      this.#gatherings.set(reqId, { kind, want: this.threads.length, got: [], done: resolve });
      const type = kind === 'stats' ? 'stats-request' : kind === 'policy-stats' ? 'policy-stats-request' : 'telemetry-request';
      this.broadcast({ type, reqId });
      setTimeout(() => {
        const g = this.#gatherings.get(reqId);
        if (g === undefined) return;
        this.#gatherings.delete(reqId);
        resolve(g.got);
      }, this.#opts.gatherMs ?? GATHER_MS).unref();
    });
  }

  #answer(reqId: number, part: Gathered): void {
    const g = this.#gatherings.get(reqId);
    if (g === undefined) return;
    g.got.push(part);
    if (g.got.length < g.want) return;
    this.#gatherings.delete(reqId);
    g.done(g.got);
  }
}
