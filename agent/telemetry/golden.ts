// Golden metrics (rate, success, latency) and topology, derived from the same aggregates the
// exporters read: a pure function of the current merged snapshot and one from the start of the
// window, so it is table-tested without an agent. Totals are cumulative; rates, success rates
// and percentiles cover the window.
import { counterKey, type HttpSeries, type TcpSeries, type TelemetrySnapshot } from './aggregates.ts';
import { addHistogram, newHistogram, quantile, subtractHistogram, type HistogramJson } from './histogram.ts';
import { seriesKey } from './labels.ts';

export type StatsBy = 'workload' | 'service' | 'edge';
export const STATS_BY: readonly StatsBy[] = ['workload', 'service', 'edge'];

export interface Window {
  now: TelemetrySnapshot;
  /** The snapshot at the window's start; undefined means "since the agent started". */
  base: TelemetrySnapshot | undefined;
  seconds: number;
}

export interface TcpGolden {
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsFailed: number;
  active: number;
  bytesSent: number;
  bytesReceived: number;
  /** Window: */
  connectionRate: number;
  failureRate: number | null;
  sentBytesRate: number;
  receivedBytesRate: number;
  durationP50: number | null;
  durationP95: number | null;
  durationP99: number | null;
}

export interface HttpGolden {
  requests: number;
  requestRate: number;
  successRate: number | null;
  latencyP50: number | null;
  latencyP95: number | null;
  latencyP99: number | null;
}

export interface GoldenRow {
  key: Record<string, string>;
  tcp: TcpGolden;
  http: HttpGolden | null;
}

interface Acc {
  key: Record<string, string>;
  opened: number; closed: number; failed: number; sent: number; received: number;
  wOpened: number; wFailed: number; wClosed: number; wSent: number; wReceived: number;
  duration: HistogramJson;
  requests: number; wRequests: number; wFailures: number;
  latency: HistogramJson;
  hasHttp: boolean;
}

function newAcc(key: Record<string, string>): Acc {
  return {
    key, opened: 0, closed: 0, failed: 0, sent: 0, received: 0, wOpened: 0, wFailed: 0, wClosed: 0, wSent: 0, wReceived: 0,
    duration: newHistogram(), requests: 0, wRequests: 0, wFailures: 0, latency: newHistogram(), hasHttp: false,
  };
}

/** Which row (if any) a series counts in, for each view. */
function groupOf(by: StatsBy, s: TcpSeries['labels']): Record<string, string> | null {
  const l = s;
  switch (by) {
    case 'workload':
      // What each local workload served: inbound, plus same-node outbound (which has no inbound leg).
      if (l.direction === 'inbound' || (l.tls === 'none' && l.destination_identity !== '')) {
        return { namespace: l.destination_namespace, workload: l.destination_workload };
      }
      return null;
    case 'service':
      return l.direction === 'outbound' && l.destination_service !== '' ? { service: l.destination_service } : null;
    case 'edge':
      // Outbound legs see both ends; inbound legs add peers from other nodes and outside the mesh.
      if (l.direction === 'outbound' || l.destination_workload !== '') {
        return {
          source: l.source_workload === '' ? '' : `${l.source_namespace}/${l.source_workload}`,
          sourceIdentity: l.source_identity,
          destination: l.destination_workload === '' ? '' : `${l.destination_namespace}/${l.destination_workload}`,
          destinationIdentity: l.destination_identity,
          tls: l.tls,
        };
      }
      return null;
  }
}

const ratio = (a: number, b: number): number | null => (b <= 0 ? null : a / b);

export function goldenStats(by: StatsBy, w: Window): GoldenRow[] {
  const rows = new Map<string, Acc>();
  const acc = (key: Record<string, string>): Acc => {
    const k = Object.values(key).join('\u0001');
    let a = rows.get(k);
    if (a === undefined) rows.set(k, (a = newAcc(key)));
    return a;
  };
  const baseTcp = new Map<string, TcpSeries>();
  const baseHttp = new Map<string, HttpSeries>();
  for (const s of w.base?.tcp ?? []) baseTcp.set(seriesKey(s.labels), s);
  for (const s of w.base?.http ?? []) baseHttp.set(httpKey(s), s);
  for (const s of w.now.tcp) {
    const key = groupOf(by, s.labels);
    if (key === null) continue;
    const a = acc(key);
    const b = baseTcp.get(seriesKey(s.labels));
    a.opened += s.opened; a.closed += s.closed; a.failed += s.failed; a.sent += s.sentBytes; a.received += s.receivedBytes;
    a.wOpened += s.opened - (b?.opened ?? 0);
    a.wClosed += s.closed - (b?.closed ?? 0);
    a.wFailed += s.failed - (b?.failed ?? 0);
    a.wSent += s.sentBytes - (b?.sentBytes ?? 0);
    a.wReceived += s.receivedBytes - (b?.receivedBytes ?? 0);
    addHistogram(a.duration, subtractHistogram(s.duration, b?.duration));
  }
  for (const s of w.now.http) {
    const key = groupOf(by, s.labels);
    if (key === null) continue;
    const a = acc(key);
    const b = baseHttp.get(httpKey(s));
    a.hasHttp = true;
    a.requests += s.requests;
    const n = s.requests - (b?.requests ?? 0);
    a.wRequests += n;
    // Success: not 5xx, and an answer at all; gRPC errors count as failures too.
    const code = Number(s.labels.http_response_status_code || '0');
    const grpc = s.labels.rpc_grpc_status_code;
    if (code === 0 || code >= 500 || (grpc !== '' && grpc !== '0')) a.wFailures += n;
    addHistogram(a.latency, subtractHistogram(s.duration, b?.duration));
  }
  const secs = Math.max(w.seconds, 1e-3);
  return [...rows.values()].map((a) => ({
    key: a.key,
    tcp: {
      connectionsOpened: a.opened, connectionsClosed: a.closed, connectionsFailed: a.failed, active: a.opened - a.closed,
      bytesSent: a.sent, bytesReceived: a.received,
      connectionRate: a.wOpened / secs, failureRate: ratio(a.wFailed, a.wClosed),
      sentBytesRate: a.wSent / secs, receivedBytesRate: a.wReceived / secs,
      durationP50: quantile(a.duration, 0.5), durationP95: quantile(a.duration, 0.95), durationP99: quantile(a.duration, 0.99),
    },
    http: a.hasHttp
      ? {
          requests: a.requests, requestRate: a.wRequests / secs,
          successRate: a.wRequests === 0 ? null : 1 - a.wFailures / a.wRequests,
          latencyP50: quantile(a.latency, 0.5), latencyP95: quantile(a.latency, 0.95), latencyP99: quantile(a.latency, 0.99),
        }
      : null,
  })).sort((x, y) => Object.values(x.key).join('/').localeCompare(Object.values(y.key).join('/')));
}

function httpKey(s: HttpSeries): string {
  const l = s.labels;
  return seriesKey(l) + '\u0002' + l.http_request_method + '\u0001' + l.http_response_status_code + '\u0001' + l.http_route + '\u0001' + l.server_address + '\u0001' + l.rpc_grpc_status_code;
}

export interface Edge {
  source: { workload: string; namespace: string; identity: string };
  destination: { workload: string; namespace: string; identity: string };
  services: string[];
  tls: string;
  /** Which leg this agent saw: outbound (it proxied the client) or inbound (it delivered). */
  observedAs: string;
  connections: number;
  failed: number;
  bytesSent: number;
  bytesReceived: number;
  requests: number;
  lastSeen: string;
}

/** Who talked to whom, with identities, as this agent saw it. */
export function edges(s: TelemetrySnapshot): Edge[] {
  const out = new Map<string, Edge>();
  const get = (l: TcpSeries['labels'], lastSeen: number): Edge => {
    const k = [l.direction, l.source_workload, l.source_namespace, l.source_identity, l.destination_workload, l.destination_namespace, l.destination_identity, l.tls].join('\u0001');
    let e = out.get(k);
    if (e === undefined) {
      e = {
        source: { workload: l.source_workload, namespace: l.source_namespace, identity: l.source_identity },
        destination: { workload: l.destination_workload, namespace: l.destination_namespace, identity: l.destination_identity },
        services: [], tls: l.tls, observedAs: l.direction, connections: 0, failed: 0, bytesSent: 0, bytesReceived: 0, requests: 0, lastSeen: '',
      };
      out.set(k, e);
    }
    if (l.destination_service !== '' && !e.services.includes(l.destination_service)) e.services.push(l.destination_service);
    const iso = new Date(lastSeen).toISOString();
    if (iso > e.lastSeen) e.lastSeen = iso;
    return e;
  };
  for (const t of s.tcp) {
    const e = get(t.labels, t.lastSeen);
    e.connections += t.opened; e.failed += t.failed; e.bytesSent += t.sentBytes; e.bytesReceived += t.receivedBytes;
  }
  for (const h of s.http) get(h.labels, h.lastSeen).requests += h.requests;
  return [...out.values()].sort((a, b) => b.connections - a.connections);
}

export interface TopRow {
  destination: string;
  kind: 'service' | 'workload' | 'address';
  connections: number;
  connectionRate: number;
  requests: number;
  requestRate: number;
}

/** Most-hit destinations in the window (outbound legs): services first-class, else workloads. */
export function top(w: Window, limit = 20): TopRow[] {
  const rows = new Map<string, TopRow>();
  const secs = Math.max(w.seconds, 1e-3);
  const base = new Map<string, number>();
  for (const s of w.base?.tcp ?? []) base.set(seriesKey(s.labels), s.opened);
  const baseReq = new Map<string, number>();
  for (const s of w.base?.http ?? []) baseReq.set(httpKey(s), s.requests);
  const row = (l: TcpSeries['labels']): TopRow => {
    const [destination, kind] = l.destination_service !== '' ? [l.destination_service, 'service' as const]
      : l.destination_workload !== '' ? [`${l.destination_namespace}/${l.destination_workload}`, 'workload' as const] : ['(outside the mesh)', 'address' as const];
    let r = rows.get(destination);
    if (r === undefined) rows.set(destination, (r = { destination, kind, connections: 0, connectionRate: 0, requests: 0, requestRate: 0 }));
    return r;
  };
  for (const s of w.now.tcp) {
    if (s.labels.direction !== 'outbound') continue;
    const r = row(s.labels);
    const n = s.opened - (base.get(seriesKey(s.labels)) ?? 0);
    r.connections += n;
    r.connectionRate += n / secs;
  }
  for (const s of w.now.http) {
    if (s.labels.direction !== 'outbound') continue;
    const r = row(s.labels);
    const n = s.requests - (baseReq.get(httpKey(s)) ?? 0);
    r.requests += n;
    r.requestRate += n / secs;
  }
  return [...rows.values()].filter((r) => r.connections > 0 || r.requests > 0)
    .sort((a, b) => b.requests + b.connections - (a.requests + a.connections)).slice(0, limit);
}

export { counterKey };
