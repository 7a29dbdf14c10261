// What the dashboard asks for, as pure functions of control's model (workloads, services,
// policies) and the metrics store: the overview, one workload, the topology, chart series and
// the policy view. Workloads are named the way agents label metrics — the
// `app.kubernetes.io/name` label, then `app`, then the pod name — so model and metrics meet.
import type { PolicyRecord, ResourceRecord, ServiceRecord, WorkloadRecord } from '../api/model.ts';
import { golden, newEdgeCounts, addEdgeCounts, type EdgeCounts } from './golden.ts';
import type { EdgeRow, Golden, SeriesPoint, WorkloadRow } from '../dashboard/wire.ts';

export type { EdgeRow, SeriesPoint, WorkloadRow };
import type { EdgeId, MetricsStore } from './metrics-store.ts';

export const OUTSIDE = '';

import { workloadName } from '../api/workload-name.ts';

export { workloadName };

export interface ViewContext {
  records: readonly ResourceRecord[];
  metrics: MetricsStore;
}

interface WorkloadGroup {
  key: string;
  namespace: string;
  name: string;
  pods: WorkloadRecord[];
}

function groups(records: readonly ResourceRecord[]): Map<string, WorkloadGroup> {
  const out = new Map<string, WorkloadGroup>();
  for (const r of records) {
    if (r.kind !== 'workload') continue;
    const name = workloadName(r);
    const key = `${r.namespace}/${name}`;
    let g = out.get(key);
    if (g === undefined) out.set(key, (g = { key, namespace: r.namespace, name, pods: [] }));
    g.pods.push(r);
  }
  return out;
}

/** Pod key (`ns/pod`, what policy counters name) → workload key. */
function podToWorkload(records: readonly ResourceRecord[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of records) if (r.kind === 'workload') m.set(r.key, `${r.namespace}/${workloadName(r)}`);
  return m;
}

function sum(list: Iterable<EdgeCounts>, n: number): EdgeCounts {
  const acc = newEdgeCounts(n);
  for (const e of list) addEdgeCounts(acc, e);
  return acc;
}


export function overview(ctx: ViewContext, windowMs: number): { windowSeconds: number; namespaces: Array<{ name: string; workloads: number; meshed: number }>; workloads: WorkloadRow[] } {
  const { seconds, edges } = ctx.metrics.window(windowMs);
  const b = ctx.metrics.boundaries;
  const all = groups(ctx.records);
  const inbound = new Map<string, EdgeCounts[]>();
  const outbound = new Map<string, EdgeCounts[]>();
  const push = (m: Map<string, EdgeCounts[]>, k: string, e: EdgeCounts): void => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [e]);
    else l.push(e);
  };
  for (const { id, counts } of edges.values()) {
    if (id.destination !== OUTSIDE) push(inbound, id.destination, counts);
    if (id.source !== OUTSIDE) push(outbound, id.source, counts);
  }
  const rows: WorkloadRow[] = [];
  for (const g of all.values()) {
    const meshed = g.pods.some((p) => p.meshed);
    // Unmeshed workloads the mesh never saw are noise here; the ones it talked to stay.
    if (!meshed && !inbound.has(g.key) && !outbound.has(g.key)) continue;
    rows.push({
      key: g.key, namespace: g.namespace, name: g.name, meshed,
      pods: g.pods.length, ready: g.pods.filter((p) => p.ready).length,
      nodes: [...new Set(g.pods.map((p) => p.node))].sort(),
      identities: [...new Set(g.pods.map((p) => p.identity))].sort(),
      inbound: golden(inbound.get(g.key) ?? [], seconds, b),
      outbound: golden(outbound.get(g.key) ?? [], seconds, b),
    });
  }
  rows.sort((x, y) => (x.key < y.key ? -1 : 1));
  const ns = new Map<string, { name: string; workloads: number; meshed: number }>();
  for (const r of rows) {
    let n = ns.get(r.namespace);
    if (n === undefined) ns.set(r.namespace, (n = { name: r.namespace, workloads: 0, meshed: 0 }));
    n.workloads++;
    if (r.meshed) n.meshed++;
  }
  return { windowSeconds: seconds, namespaces: [...ns.values()], workloads: rows };
}


function edgeRow(id: EdgeId, counts: EdgeCounts, seconds: number, b: readonly number[]): EdgeRow {
  return { ...id, golden: golden([counts], seconds, b) };
}

export function workloadDetail(ctx: ViewContext, key: string, windowMs: number): unknown {
  const g = groups(ctx.records).get(key);
  const { seconds, edges } = ctx.metrics.window(windowMs);
  const b = ctx.metrics.boundaries;
  const inbound: EdgeRow[] = [];
  const outbound: EdgeRow[] = [];
  const routes = new Map<string, EdgeCounts>();
  for (const { id, counts } of edges.values()) {
    if (id.destination === key) {
      inbound.push(edgeRow(id, counts, seconds, b));
      for (const [r, c] of counts.routes) {
        let acc = routes.get(r);
        if (acc === undefined) routes.set(r, (acc = newEdgeCounts(c.latency.length)));
        addEdgeCounts(acc, { tcp: acc.tcp, http: c, routes: new Map() });
      }
    }
    if (id.source === key) outbound.push(edgeRow(id, counts, seconds, b));
  }
  if (g === undefined && inbound.length === 0 && outbound.length === 0) return null;
  const pods = g?.pods ?? [];
  const identities = [...new Set(pods.map((p) => p.identity))].sort();
  const podKeys = new Set(pods.map((p) => p.key));
  const services = ctx.records.filter((r): r is ServiceRecord => r.kind === 'service' && pods.some((p) => selects(r.selector, p.labels) && r.namespace === p.namespace))
    .map((s) => ({ key: s.key, clusterIP: s.clusterIP, ports: s.ports.map((p) => `${p.port}→${p.targetPort}/${p.protocol}`) }));
  const certs: Array<{ node: string; identity: string; state: string; notAfter: string | null; rotateAt: string | null }> = [];
  const policies: Array<{ pod: string; node: string; mtls: string; defaultInbound: string; deny: string[]; allow: string[]; audit: string[] }> = [];
  for (const { node, summary } of ctx.metrics.latest()) {
    for (const c of summary.certs) if (identities.includes(c.identity)) certs.push({ node, ...c });
    for (const p of summary.policies) if (podKeys.has(p.workload)) policies.push({ pod: p.workload, node, mtls: p.mtls, defaultInbound: p.defaultInbound, deny: p.deny, allow: p.allow, audit: p.audit });
  }
  const [namespace, name] = key.split('/');
  return {
    key, namespace, name, windowSeconds: seconds,
    pods: pods.map((p) => ({ name: p.name, node: p.node, ip: p.ip, identity: p.identity, meshed: p.meshed, ready: p.ready })),
    identities, services, certs, policies,
    inbound: inbound.sort((x, y) => y.golden.requests - x.golden.requests),
    outbound: outbound.sort((x, y) => y.golden.requests - x.golden.requests),
    routes: [...routes].map(([route, c]) => ({ route: route === '' ? '(no route)' : route, golden: golden([c], seconds, b) })),
    inboundGolden: golden(inbound.length === 0 ? [] : [sum(edgesTo(edges, key), b.length + 1)], seconds, b),
    outboundGolden: golden(outbound.length === 0 ? [] : [sum(edgesFrom(edges, key), b.length + 1)], seconds, b),
  };
}

function* edgesTo(edges: Map<string, { id: EdgeId; counts: EdgeCounts }>, key: string): Iterable<EdgeCounts> {
  for (const e of edges.values()) if (e.id.destination === key) yield e.counts;
}
function* edgesFrom(edges: Map<string, { id: EdgeId; counts: EdgeCounts }>, key: string): Iterable<EdgeCounts> {
  for (const e of edges.values()) if (e.id.source === key) yield e.counts;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

export function topology(ctx: ViewContext, windowMs: number): { windowSeconds: number; nodes: Array<{ id: string; namespace: string; name: string; meshed: boolean; inbound: Golden }>; edges: Array<{ source: string; destination: string; golden: Golden; tls: string[] }> } {
  const ov = overview(ctx, windowMs);
  const { seconds, edges } = ctx.metrics.window(windowMs);
  const b = ctx.metrics.boundaries;
  const pairs = new Map<string, { source: string; destination: string; counts: EdgeCounts[]; tls: Set<string> }>();
  for (const { id, counts } of edges.values()) {
    const k = id.source + '\u0001' + id.destination;
    let p = pairs.get(k);
    if (p === undefined) pairs.set(k, (p = { source: id.source, destination: id.destination, counts: [], tls: new Set() }));
    p.counts.push(counts);
    p.tls.add(id.tls);
  }
  const nodes = ov.workloads.filter((w) => w.meshed || w.inbound.requests > 0 || w.outbound.requests > 0)
    .map((w) => ({ id: w.key, namespace: w.namespace, name: w.name, meshed: w.meshed, inbound: w.inbound }));
  const known = new Set(nodes.map((n) => n.id));
  for (const p of pairs.values()) {
    for (const end of [p.source, p.destination]) {
      if (known.has(end)) continue;
      known.add(end);
      const [namespace, name] = end === OUTSIDE ? ['', '(outside the mesh)'] : end.split('/');
      nodes.push({ id: end, namespace, name, meshed: false, inbound: golden([], seconds, b) });
    }
  }
  return {
    windowSeconds: seconds,
    nodes,
    edges: [...pairs.values()].map((p) => ({ source: p.source, destination: p.destination, golden: golden(p.counts, seconds, b), tls: [...p.tls].sort() })),
  };
}


/** One point per bucket: the mesh, or one workload's inbound (what it served) or outbound traffic. */
export function series(ctx: ViewContext, windowMs: number, workload: string | null, direction: 'inbound' | 'outbound'): { bucketSeconds: number; points: SeriesPoint[] } {
  const b = ctx.metrics.boundaries;
  const secs = ctx.metrics.bucketMs / 1000;
  const points = ctx.metrics.buckets(windowMs).map((bucket) => {
    const sel: EdgeCounts[] = [];
    for (const { id, counts } of bucket.edges.values()) {
      if (workload === null || (direction === 'inbound' ? id.destination : id.source) === workload) sel.push(counts);
    }
    const g = golden(sel, secs, b);
    return { t: bucket.start, rate: g.rate, successRate: g.successRate, p50: g.p50, p95: g.p95, p99: g.p99 };
  });
  return { bucketSeconds: secs, points };
}

function describeTarget(p: PolicyRecord): string {
  if (p.meshWide) return 'every workload in the mesh';
  switch (p.target.kind) {
    case 'namespace': return `every workload in ${p.namespace}`;
    case 'service': return `pods of service ${p.namespace}/${p.target.name}`;
    case 'selector': return `pods in ${p.namespace} with ${Object.entries(p.target.matchLabels).map(([k, v]) => `${k}=${v}`).join(',') || '(expressions)'}`;
  }
}

/**
 * Which policy allows or denies which edge. Denials come from the enforcing agents' counters, so
 * they name the exact policy. An edge that passed into a workload with ALLOW policies was allowed
 * by one of them (the agents do not count allows per policy): it is listed under each of them.
 */
export function policiesView(ctx: ViewContext, windowMs: number): unknown {
  const toWorkload = podToWorkload(ctx.records);
  const wl = (pod: string): string => toWorkload.get(pod) ?? pod;
  const enforced = new Map<string, Set<string>>();
  const allowsOf = new Map<string, Set<string>>();
  const counters = new Map<string, { kind: string; policy: string; source: string; destination: string; total: number; recent: number; lastAt: number | null }>();
  for (const { summary } of ctx.metrics.latest()) {
    for (const p of summary.policies) {
      for (const name of [...p.deny, ...p.allow, ...p.audit]) {
        let s = enforced.get(name);
        if (s === undefined) enforced.set(name, (s = new Set()));
        s.add(wl(p.workload));
      }
      if (p.allow.length > 0) {
        let s = allowsOf.get(wl(p.workload));
        if (s === undefined) allowsOf.set(wl(p.workload), (s = new Set()));
        for (const a of p.allow) s.add(a);
      }
    }
    for (const r of summary.policy) {
      const k = `${r.kind}\n${r.policy}\n${r.source}\n${wl(r.destination)}`;
      const have = counters.get(k);
      if (have === undefined) counters.set(k, { kind: r.kind, policy: r.policy, source: r.source, destination: wl(r.destination), total: r.count, recent: 0, lastAt: null });
      else have.total += r.count;
    }
  }
  const recent = ctx.metrics.recentDenials().filter((d) => d.at >= ctx.metrics.now() - windowMs).map((d) => ({ ...d, destination: wl(d.destination) }));
  for (const d of recent) {
    const c = counters.get(`${d.kind}\n${d.policy}\n${d.source}\n${d.destination}`);
    if (c === undefined) continue;
    c.recent += d.count;
    c.lastAt = Math.max(c.lastAt ?? 0, d.at);
  }
  const { seconds, edges } = ctx.metrics.window(windowMs);
  const allowed = new Map<string, EdgeRow[]>();
  for (const { id, counts } of edges.values()) {
    for (const name of allowsOf.get(id.destination) ?? []) {
      if (counts.tcp.opened - counts.tcp.failed <= 0 && counts.http.requests - counts.http.failures <= 0) continue;
      let l = allowed.get(name);
      if (l === undefined) allowed.set(name, (l = []));
      l.push(edgeRow(id, counts, seconds, ctx.metrics.boundaries));
    }
  }
  const records = ctx.records.filter((r): r is PolicyRecord => r.kind === 'policy').sort((a, b) => (a.key < b.key ? -1 : 1));
  const rows = [...counters.values()];
  return {
    windowSeconds: seconds,
    policies: records.map((p) => ({
      key: p.key, action: p.action, target: describeTarget(p), rules: p.rules,
      enforcedOn: [...(enforced.get(p.key) ?? [])].sort(),
      denied: rows.filter((r) => r.policy === p.key && r.kind !== 'audited'),
      audited: rows.filter((r) => r.policy === p.key && r.kind === 'audited'),
      allowed: p.action === 'ALLOW' ? allowed.get(p.key) ?? [] : [],
    })),
    // Denials by policies control no longer has (removed since) or by defaults.
    otherDenials: rows.filter((r) => !records.some((p) => p.key === r.policy)),
    recent,
  };
}
