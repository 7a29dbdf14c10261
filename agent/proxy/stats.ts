// Plain counters for /config_dump and tests: connections per path and bytes each way. The
// OpenTelemetry metrics are built on the same events; these are the cheap always-on totals.
import { newL7Counters, type L7Counters } from '../http/counters.ts';

export type PathKind = 'outbound_hbone' | 'outbound_local' | 'outbound_passthrough' | 'inbound_hbone' | 'inbound_plaintext';

export interface PathCounters {
  opened: number;
  closed: number;
  failed: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
}

/** One accepted connection as operators look it up: who talked to whom, with which identity. */
export interface ConnectionRecord {
  path: PathKind;
  at: string;
  /** Verified SPIFFE ID of the peer (HBONE), or the local source workload's identity (outbound). */
  sourceIdentity: string | null;
  sourceAddress: string;
  destination: string;
  destinationWorkload: string | null;
}

const RECENT = 64;

export class ProxyStats {
  readonly paths: Record<PathKind, PathCounters>;
  rejected = 0;
  /** Connections reset and requests refused by the per-workload limits (workload-limits.ts). */
  readonly limited = { connections: 0, pending_requests: 0 };
  /** L7: detection verdicts, requests, retries, timeouts, ejections (agent/http/counters.ts). */
  readonly l7: L7Counters = newL7Counters();
  /** Per-worker L7 detail for the dump (balancer costs, breaker states, budgets); set by the proxy. */
  l7Detail: (() => Record<string, unknown>) | undefined = undefined;
  /** The last RECENT connections, newest last: a bounded ring, never a growing log. */
  readonly recent: ConnectionRecord[] = [];

  constructor() {
    const zero = (): PathCounters => ({ opened: 0, closed: 0, failed: 0, active: 0, bytesIn: 0, bytesOut: 0 });
    this.paths = {
      outbound_hbone: zero(),
      outbound_local: zero(),
      outbound_passthrough: zero(),
      inbound_hbone: zero(),
      inbound_plaintext: zero(),
    };
  }

  opened(kind: PathKind): void {
    const c = this.paths[kind];
    c.opened++;
    c.active++;
  }

  record(r: ConnectionRecord): void {
    if (this.recent.length >= RECENT) this.recent.shift();
    this.recent.push(r);
  }

  closed(kind: PathKind, bytesIn: number, bytesOut: number, failed: boolean): void {
    const c = this.paths[kind];
    c.closed++;
    c.active--;
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
    if (failed) c.failed++;
  }

  toJSON(): StatsJson {
    return { paths: this.paths, rejected: this.rejected, limited: this.limited, recent: this.recent, l7: this.l7, l7Workers: this.l7Detail === undefined ? [] : [this.l7Detail()] };
  }
}

export interface StatsJson {
  paths: Record<PathKind, PathCounters>;
  rejected: number;
  limited: { connections: number; pending_requests: number };
  recent: ConnectionRecord[];
  l7: L7Counters;
  l7Workers: Record<string, unknown>[];
}

/** Sums the stats of several workers; recent connections merged by time, newest last. */
export function sumStats(all: StatsJson[]): StatsJson {
  const total = new ProxyStats().toJSON();
  for (const s of all) {
    total.rejected += s.rejected;
    if (s.limited !== undefined) {
      total.limited.connections += s.limited.connections;
      total.limited.pending_requests += s.limited.pending_requests;
    }
    if (s.l7Workers !== undefined) total.l7Workers.push(...s.l7Workers);
    if (s.l7 !== undefined) for (const k of Object.keys(total.l7) as (keyof L7Counters)[]) total.l7[k] += s.l7[k] ?? 0;
    total.recent.push(...s.recent);
    for (const k of Object.keys(total.paths) as PathKind[]) {
      const t = total.paths[k];
      const v = s.paths[k];
      t.opened += v.opened; t.closed += v.closed; t.failed += v.failed; t.active += v.active;
      t.bytesIn += v.bytesIn; t.bytesOut += v.bytesOut;
    }
  }
  total.recent.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  total.recent.splice(0, Math.max(0, total.recent.length - RECENT));
  return total;
}
