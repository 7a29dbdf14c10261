// The mesh's recent traffic as control sees it: agents' cumulative summaries turned into
// per-interval deltas, summed per edge into time buckets, kept for a bounded window (15 minutes
// by default) and nothing more. Each connection is counted once: on its outbound leg (the
// client's agent sees both ends) or, for plaintext clients outside the mesh, on its inbound leg.
//
// Counter resets: an agent's summaries carry `startedAt`; a new value means a restarted agent
// whose counters began again at zero, so its first summary counts whole. The first summary of
// an agent control has never heard from (control restarted) is only a baseline: its totals
// belong to the past, not to the current bucket.
import type { SummaryEdge, SummaryHttp, SummaryMessage, SummaryTcp } from '../api/summary.ts';
import type { EdgeId } from '../dashboard/wire.ts';
import { addEdgeCounts, addHttp, addTcp, newEdgeCounts, type EdgeCounts, type HttpCounts, type TcpCounts } from './golden.ts';

export type { EdgeId } from '../dashboard/wire.ts';

export interface Bucket {
  start: number;
  edges: Map<string, { id: EdgeId; counts: EdgeCounts }>;
}

export interface RecentDenial {
  at: number;
  node: string;
  kind: 'denied' | 'audited' | 'closed';
  policy: string;
  source: string;
  destination: string;
  count: number;
}

interface NodeState {
  startedAt: number;
  tcp: Map<string, SummaryTcp>;
  http: Map<string, SummaryHttp>;
  policy: Map<string, number>;
  latest: SummaryMessage;
  receivedAt: number;
}

export interface MetricsStoreOptions {
  bucketMs?: number;
  windowMs?: number;
  /** Recent policy events kept for the policies view. */
  maxDenials?: number;
  /** Edges per bucket; beyond it new edges fold into one `(other)` edge. */
  maxEdges?: number;
  now?: () => number;
}

const DEFAULT_BOUNDARIES = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

function workloadOf(ns: string, wl: string): string {
  return wl === '' ? '' : `${ns}/${wl}`;
}

export function edgeIdOf(e: SummaryEdge): EdgeId {
  return {
    source: workloadOf(e.sourceNamespace, e.sourceWorkload),
    sourceIdentity: e.sourceIdentity,
    destination: workloadOf(e.destinationNamespace, e.destinationWorkload),
    destinationIdentity: e.destinationIdentity,
    service: e.destinationService,
    tls: e.tls,
  };
}

export function edgeIdKey(e: EdgeId): string {
  return [e.source, e.sourceIdentity, e.destination, e.destinationIdentity, e.service, e.tls].join('\u0001');
}

function legKey(e: SummaryEdge): string {
  return e.direction + '\u0001' + edgeIdKey(edgeIdOf(e));
}

/**
 * The leg that counts: outbound, or inbound when the client is outside the mesh (plaintext, no
 * verified identity: nobody proxied its outbound leg). An inbound leg with a peer identity came
 * over HBONE from a meshed client whose agent counted the outbound leg already.
 */
export function countsLeg(e: SummaryEdge): boolean {
  return e.direction === 'outbound' || (e.sourceWorkload === '' && e.sourceIdentity === '');
}

const diff = (now: number, prev: number | undefined): number => Math.max(0, now - (prev ?? 0));
const diffBuckets = (now: readonly number[], prev: readonly number[] | undefined): number[] => now.map((c, i) => diff(c, prev?.[i]));

export class MetricsStore {
  readonly bucketMs: number;
  readonly windowMs: number;
  readonly #maxDenials: number;
  readonly #maxEdges: number;
  readonly #now: () => number;
  readonly #nodes = new Map<string, NodeState>();
  readonly #buckets: Bucket[] = [];
  readonly #denials: RecentDenial[] = [];
  #boundaries: number[] = DEFAULT_BOUNDARIES;
  /** When the first summary arrived: rates never divide by time control was not listening. */
  #firstAt: number | null = null;
  summaries = 0;

  constructor(o: MetricsStoreOptions = {}) {
    this.bucketMs = o.bucketMs ?? 5000;
    this.windowMs = o.windowMs ?? 15 * 60_000;
    this.#maxDenials = o.maxDenials ?? 500;
    this.#maxEdges = o.maxEdges ?? 5000;
    this.#now = o.now ?? Date.now;
  }

  get boundaries(): readonly number[] {
    return this.#boundaries;
  }

  now(): number {
    return this.#now();
  }

  ingest(node: string, msg: SummaryMessage): void {
    const now = this.#now();
    this.summaries++;
    this.#firstAt ??= now;
    if (msg.boundaries.length > 0) this.#boundaries = msg.boundaries;
    const prev = this.#nodes.get(node);
    // Baseline only: a node seen for the first time whose counters predate control's window.
    const countWhole = prev !== undefined && prev.startedAt !== msg.startedAt;
    const base = prev !== undefined && prev.startedAt === msg.startedAt ? prev : undefined;
    const state: NodeState = { startedAt: msg.startedAt, tcp: new Map(), http: new Map(), policy: new Map(), latest: msg, receivedAt: now };
    for (const s of msg.tcp) state.tcp.set(legKey(s.edge), s);
    for (const s of msg.http) state.http.set(legKey(s.edge) + '\u0002' + s.route, s);
    for (const r of msg.policy) state.policy.set(`${r.kind}\n${r.policy}\n${r.source}\n${r.destination}`, r.count);
    this.#nodes.set(node, state);
    if (base === undefined && !countWhole) return;

    const bucket = this.#bucketAt(now);
    const n = this.#boundaries.length + 1;
    for (const [k, s] of state.tcp) {
      if (!countsLeg(s.edge)) continue;
      const p = base?.tcp.get(k);
      const d: TcpCounts = {
        opened: diff(s.opened, p?.opened), closed: diff(s.closed, p?.closed), failed: diff(s.failed, p?.failed),
        sentBytes: diff(s.sentBytes, p?.sentBytes), receivedBytes: diff(s.receivedBytes, p?.receivedBytes),
        duration: diffBuckets(s.duration, p?.duration),
      };
      if (d.opened === 0 && d.closed === 0) continue;
      addTcp(this.#edge(bucket, s.edge, n).tcp, d);
    }
    for (const [k, s] of state.http) {
      if (!countsLeg(s.edge)) continue;
      const p = base?.http.get(k);
      const d: HttpCounts = { requests: diff(s.requests, p?.requests), failures: diff(s.failures, p?.failures), latency: diffBuckets(s.latency, p?.latency) };
      if (d.requests === 0) continue;
      const e = this.#edge(bucket, s.edge, n);
      addHttp(e.http, d);
      let r = e.routes.get(s.route);
      if (r === undefined) e.routes.set(s.route, (r = { requests: 0, failures: 0, latency: new Array<number>(n).fill(0) }));
      addHttp(r, d);
    }
    for (const r of msg.policy) {
      const k = `${r.kind}\n${r.policy}\n${r.source}\n${r.destination}`;
      const d = diff(r.count, base?.policy.get(k));
      if (d === 0) continue;
      this.#denials.push({ at: msg.at, node, kind: r.kind, policy: r.policy, source: r.source, destination: r.destination, count: d });
      if (this.#denials.length > this.#maxDenials) this.#denials.splice(0, this.#denials.length - this.#maxDenials);
    }
  }

  /** A node's agent went away: forget its baseline (its next summary starts a new epoch). */
  forget(node: string): void {
    this.#nodes.delete(node);
  }

  #bucketAt(now: number): Bucket {
    const start = now - (now % this.bucketMs);
    let b = this.#buckets.at(-1);
    if (b === undefined || b.start !== start) {
      b = { start, edges: new Map() };
      this.#buckets.push(b);
    }
    this.#prune(now);
    return b;
  }

  #prune(now: number): void {
    while (this.#buckets.length > 0 && this.#buckets[0].start < now - this.windowMs) this.#buckets.shift();
    const cutoff = now - this.windowMs;
    while (this.#denials.length > 0 && this.#denials[0].at < cutoff) this.#denials.shift();
  }

  #edge(b: Bucket, e: SummaryEdge, n: number): EdgeCounts {
    let id = edgeIdOf(e);
    let k = edgeIdKey(id);
    let slot = b.edges.get(k);
    if (slot === undefined) {
      if (b.edges.size >= this.#maxEdges) {
        id = { source: '(other)', sourceIdentity: '', destination: '(other)', destinationIdentity: '', service: '', tls: 'none' };
        k = edgeIdKey(id);
        slot = b.edges.get(k);
      }
      if (slot === undefined) b.edges.set(k, (slot = { id, counts: newEdgeCounts(n) }));
    }
    return slot.counts;
  }

  /** Edges summed over the last windowMs, with the seconds the sum covers. */
  window(windowMs: number): { seconds: number; edges: Map<string, { id: EdgeId; counts: EdgeCounts }> } {
    const now = this.#now();
    this.#prune(now);
    const from = now - windowMs;
    const out = new Map<string, { id: EdgeId; counts: EdgeCounts }>();
    const n = this.#boundaries.length + 1;
    for (const b of this.#buckets) {
      if (b.start + this.bucketMs <= from) continue;
      for (const [k, e] of b.edges) {
        let have = out.get(k);
        if (have === undefined) out.set(k, (have = { id: e.id, counts: newEdgeCounts(n) }));
        addEdgeCounts(have.counts, e.counts);
      }
    }
    const since = this.#firstAt === null ? now : this.#firstAt;
    return { seconds: Math.max(1, Math.min(windowMs, now - since) / 1000), edges: out };
  }

  /** The buckets of the last windowMs (oldest first), for charts. */
  buckets(windowMs: number): readonly Bucket[] {
    const now = this.#now();
    this.#prune(now);
    return this.#buckets.filter((b) => b.start + this.bucketMs > now - windowMs);
  }

  /** Policy events seen in the window, newest first. */
  recentDenials(limit = 200): RecentDenial[] {
    return this.#denials.slice(-limit).reverse();
  }

  /** Each node's latest summary (policies enforced, certificates, cumulative policy counters). */
  latest(): Array<{ node: string; receivedAt: number; summary: SummaryMessage }> {
    return [...this.#nodes].map(([node, s]) => ({ node, receivedAt: s.receivedAt, summary: s.latest })).sort((a, b) => (a.node < b.node ? -1 : 1));
  }
}
