// Per-source-workload fairness: how many connections, and how many HTTP requests in flight, one pod
// on this node may have through the agent at once. A pod past its limit is refused at once — its
// connection reset, its request answered 503 — rather than queued, so a noisy neighbour spends its
// own budget and not the node's: sockets, memory and the workers' event loops stay available to
// every other pod. Counts are per worker thread (connections never move between workers), so each
// worker enforces its share of the configured limit; the kernel spreads connections evenly.
import type net from 'node:net';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { ErrorCodes } from '../../common/errors.ts';
import { LogThrottle } from '../../common/log-throttle.ts';
import type { Logger } from '../../common/log.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { ProxyStats } from './stats.ts';
import { HeldBytesBudget } from '../h2/held-bytes-budget.ts';

export type LimitKind = 'connections' | 'pending_requests';

/**
 * Workloads kept at zero before the next new one sweeps them out. Deleting a key at zero and
 * adding it back on its next request made the Map rehash every few requests (one pod, a request
 * or two in flight): each rehash is a new hash table allocated straight into the old generation
 * (sampled by bench/heap-diff.ts at ~80 B per request, 1000 req/s). A zero is written in place instead, and a
 * pod that comes and goes still leaves at most this many entries behind.
 */
const IDLE_KEPT = 64;

/** How often one workload's refusals may log a line (the counter has every one). */
const LOG_INTERVAL_MS = 10_000;

export interface WorkloadLimiterOptions {
  kind: LimitKind;
  /** Across the whole agent; 0 means no limit. */
  limit: number;
  /** Worker threads sharing the limit: each enforces ceil(limit / shares). */
  shares: number;
  telemetry: Telemetry;
  /** Refusals are also counted here, for /config_dump/proxy. */
  stats: ProxyStats;
  log: Logger;
}

export class WorkloadLimiter {
  readonly kind: LimitKind;
  /** This worker's share (Infinity: unlimited). */
  readonly perWorker: number;
  readonly #held = new Map<string, number>();
  /** Entries of #held at zero. */
  #idle = 0;
  readonly #telemetry: Telemetry;
  readonly #stats: ProxyStats;
  readonly #logs: LogThrottle;

  constructor(o: WorkloadLimiterOptions) {
    this.kind = o.kind;
    this.perWorker = o.limit === 0 ? Number.POSITIVE_INFINITY : Math.ceil(o.limit / Math.max(1, o.shares));
    this.#telemetry = o.telemetry;
    this.#stats = o.stats;
    this.#logs = new LogThrottle(o.log, { intervalMs: LOG_INTERVAL_MS });
  }

  /** Takes one unit for `w`, or counts and logs a refusal and returns false. */
  tryAcquire(w: WorkloadRecord): boolean {
    const held = this.#held.get(w.key);
    const n = held ?? 0;
    if (n < this.perWorker) {
      if (held === undefined && this.#idle >= IDLE_KEPT) this.#sweep();
      else if (held === 0) this.#idle--;
      this.#held.set(w.key, n + 1);
      return true;
    }
    this.#stats.limited[this.kind]++;
    this.#telemetry.workloadLimited(w, this.kind);
    this.#logs.warn(w.key, 'workload over its limit: refused', () => ({
      code: ErrorCodes.WORKLOAD_LIMIT, workload: w.key, limit: this.kind, perWorker: this.perWorker,
    }));
    return false;
  }

  release(w: WorkloadRecord): void {
    const n = this.#held.get(w.key);
    if (n === undefined || n === 0) return;
    this.#held.set(w.key, n - 1);
    if (n === 1) this.#idle++;
  }

  /** Forgets the workloads at zero (a new one is coming in and IDLE_KEPT are already kept). */
  #sweep(): void {
    for (const [key, n] of this.#held) if (n === 0) this.#held.delete(key);
    this.#idle = 0;
  }

  /** Units held by `key` in this worker. */
  held(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** Workloads holding anything right now (bounded by the pods with live connections). */
  get workloads(): number {
    return this.#held.size - this.#idle;
  }

  /** Workloads remembered, at zero included (bounded: IDLE_KEPT beyond those holding units). */
  get remembered(): number {
    return this.#held.size;
  }
}

/**
 * Admits a captured connection against its source's connection limit: true when it may proceed
 * (released when it closes), false when it was reset.
 */
export function admitConnection(limiter: WorkloadLimiter | undefined, client: net.Socket, source: WorkloadRecord | undefined): boolean {
  if (limiter === undefined || source === undefined) return true;
  if (!limiter.tryAcquire(source)) {
    client.resetAndDestroy();
    return false;
  }
  // 'close' comes once: `on` spares once()'s wrapper, a closure and a scope per connection.
  client.on('close', () => limiter.release(source));
  return true;
}

/**
 * This worker's held-bytes budget (WEFT_MAX_HELD_BYTES_PER_WORKLOAD, agent/h2/held-bytes-budget.ts),
 * keyed by source identity — how the sessions to peer agents are keyed (agent/http/peer-sessions.ts,
 * hbone/client.ts) and what the HBONE listener knows of its client (its certificate). Its share
 * of the limit, as for the other per-workload limits; throttles counted, held bytes read at
 * snapshot time for the metrics.
 */
export function heldBytesBudget(limit: number, shares: number, telemetry: Telemetry, log: Logger): HeldBytesBudget {
  const logs = new LogThrottle(log, { intervalMs: LOG_INTERVAL_MS });
  const perWorker = limit === 0 ? 0 : Math.ceil(limit / Math.max(1, shares));
  const budget = new HeldBytesBudget({
    limit: perWorker,
    onThrottle: (identity) => {
      telemetry.heldBytesThrottled(identity);
      logs.warn(identity, 'workload holds more unread data than its budget: its stream windows lowered until its readers drain', () => ({
        code: ErrorCodes.WORKLOAD_LIMIT, identity, limit: 'held_bytes', perWorker,
      }));
    },
  });
  telemetry.watchHeldBytes(() => budget.accounts());
  return budget;
}

/** Response header naming which limit refused a request (weft-error carries the stable code). */
export const LIMIT_HEADER = 'weft-limit';

interface RefusableResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(text: string): unknown;
  /** HTTP/2 compat responses: the stream, for a trailers-only gRPC answer. */
  readonly stream?: { respond(headers: Record<string, string | number>, o: { endStream: boolean }): void; readonly headersSent: boolean };
}

/**
 * Answers a request its source may not have in flight: 503 (gRPC: trailers-only UNAVAILABLE, which
 * gRPC clients treat as retryable), never forwarded. The body, if any, is drained and dropped.
 */
export function refuseRequest(req: { headers: Record<string, string | string[] | undefined>; resume(): unknown }, res: RefusableResponse): void {
  req.resume();
  if (res.headersSent || res.destroyed) return;
  const headers = { 'weft-error': ErrorCodes.WORKLOAD_LIMIT, [LIMIT_HEADER]: 'pending_requests' };
  const message = 'weft: the source workload has too many requests in flight (WEFT_MAX_PENDING_REQUESTS_PER_WORKLOAD)';
  const grpc = String(req.headers['content-type'] ?? '').startsWith('application/grpc');
  if (grpc && res.stream !== undefined && !res.stream.headersSent) {
    res.stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': message, ...headers }, { endStream: true });
    return;
  }
  const text = message + '\n';
  res.writeHead(503, { ...headers, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), 'retry-after': '1' });
  res.end(text);
}
