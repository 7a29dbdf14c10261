// Per-worker aggregates: counters and histograms per bounded label set. A connection finds its
// series once, on open, and keeps a reference (ctx.slot), so close is a few additions. The main
// thread asks each worker for a snapshot and merges them (mergeSnapshots); nothing here is shared.
import { addHistogram, newHistogram, recordHistogram, type HistogramJson } from './histogram.ts';
import { overflowLabels, seriesKey, type ConnectionLabels } from './labels.ts';
import type { ConnectionContext, HttpRequestEvent } from './telemetry.ts';

export interface TcpSeries {
  labels: ConnectionLabels;
  opened: number;
  closed: number;
  failed: number;
  sentBytes: number;
  receivedBytes: number;
  /** Connection lifetimes, seconds. */
  duration: HistogramJson;
  /** ms since the epoch of the last open or close. */
  lastSeen: number;
}

export interface HttpLabels extends ConnectionLabels {
  http_request_method: string;
  http_response_status_code: string;
  http_route: string;
  server_address: string;
  rpc_grpc_status_code: string;
}

export interface HttpSeries {
  labels: HttpLabels;
  requests: number;
  duration: HistogramJson;
  requestBytes: number;
  responseBytes: number;
  lastSeen: number;
}

export type CounterName = 'policy_denials' | 'retries' | 'timeouts' | 'ejections' | 'detection_timeouts' | 'tap_dropped_events' | 'rejected_input'
  | 'cert_renewal_failures' | 'log_write_failures' | 'workload_limited' | 'otel_dropped' | 'held_bytes_throttled';

/** Levels read when asked: the main thread's, and the workers' held bytes (summed across workers by label set). */
export type GaugeName = 'cert_expiry_seconds' | 'control_connected' | 'control_clock_offset_seconds' | 'held_bytes';

export interface GaugeSeries {
  name: GaugeName;
  labels: Record<string, string>;
  value: number;
}

export interface CounterSeries {
  name: CounterName;
  labels: Record<string, string>;
  value: number;
}

export interface TelemetrySnapshot {
  tcp: TcpSeries[];
  http: HttpSeries[];
  counters: CounterSeries[];
  /** The main thread's gauges (certificates, control), and a worker's levels (held bytes). */
  gauges?: GaugeSeries[];
}

/** Series per kind per worker; beyond it new label sets fold into one `overflow` series. */
export const MAX_SERIES = 4096;

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** OTel HTTP semconv: methods outside the known set are `_OTHER`, keeping the label bounded. */
export function normalizeMethod(m: string): string {
  return HTTP_METHODS.has(m) ? m : '_OTHER';
}

function newTcp(labels: ConnectionLabels): TcpSeries {
  return { labels, opened: 0, closed: 0, failed: 0, sentBytes: 0, receivedBytes: 0, duration: newHistogram(), lastSeen: 0 };
}

function counterKey(name: string, labels: Record<string, string>): string {
  let k = name;
  for (const v of Object.values(labels)) k += '\u0001' + v;
  return k;
}

/** What request() remembers on a connection: the last series and the fields that chose it. */
interface HttpSlot {
  readonly method: string;
  readonly status: number;
  readonly route: string;
  readonly server: string;
  readonly grpc: number | null;
  readonly series: HttpSeries;
}

export class Aggregates {
  readonly tcp = new Map<string, TcpSeries>();
  readonly http = new Map<string, HttpSeries>();
  readonly counters = new Map<string, CounterSeries>();
  /** Levels read at snapshot time from their owners (the held-bytes budget): nothing on the hot path. */
  readonly gaugeSources: Array<() => GaugeSeries[]> = [];
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  openConnection(ctx: ConnectionContext): void {
    const key = seriesKey(ctx.labels);
    let s = this.tcp.get(key);
    if (s !== undefined) {
      // The connection keeps its series' labels (equal values: the key is made of them), so the
      // connections of one (source, destination) share one labels object, and the one built for
      // this connection dies young.
      ctx.labels = s.labels;
    } else {
      if (this.tcp.size >= MAX_SERIES) {
        const o = overflowLabels(ctx.labels.direction);
        const ok = seriesKey(o);
        s = this.tcp.get(ok) ?? newTcp(o);
        this.tcp.set(ok, s);
      } else {
        s = newTcp(ctx.labels);
        this.tcp.set(key, s);
      }
    }
    const now = this.#now();
    ctx.startedAt = now;
    ctx.slot = s;
    s.opened++;
    s.lastSeen = now;
  }

  closeConnection(ctx: ConnectionContext, sent: number, received: number, failed: boolean): void {
    const s = ctx.slot as TcpSeries | undefined;
    if (s === undefined) return;
    ctx.slot = undefined; // a second close must not count twice
    const now = this.#now();
    s.closed++;
    if (failed) s.failed++;
    s.sentBytes += sent;
    s.receivedBytes += received;
    recordHistogram(s.duration, (now - ctx.startedAt) / 1000);
    s.lastSeen = now;
  }

  request(e: HttpRequestEvent): void {
    const ctx = e.connection;
    // A connection's requests mostly land in one series (same method, status, route, authority):
    // the last one is remembered on the connection, so the common case builds no key and hashes
    // nothing. Series are never dropped (MAX_SERIES bounds them), so a remembered one stays live.
    const m = ctx.httpSlot as HttpSlot | undefined;
    let s: HttpSeries;
    if (m !== undefined && m.method === e.method && m.status === e.status && m.route === e.route && m.server === e.serverAddress && m.grpc === e.grpcStatus) {
      s = m.series;
    } else {
      s = this.#httpSeries(e);
      ctx.httpSlot = { method: e.method, status: e.status, route: e.route, server: e.serverAddress, grpc: e.grpcStatus, series: s } satisfies HttpSlot;
    }
    s.requests++;
    recordHistogram(s.duration, e.durationSeconds);
    s.requestBytes += e.requestBytes;
    s.responseBytes += e.responseBytes;
    s.lastSeen = this.#now();
    if (e.retryAttempt > 0) this.count('retries', ctx.labels.destination_service);
    if (e.timedOut) this.count('timeouts', ctx.labels.destination_service);
  }

  /** The series of a request's labels, made on first sight (or the overflow series past MAX_SERIES). */
  #httpSeries(e: HttpRequestEvent): HttpSeries {
    const method = normalizeMethod(e.method);
    const status = e.status === 0 ? '' : String(e.status);
    const grpc = e.grpcStatus === null ? '' : String(e.grpcStatus);
    const key = seriesKey(e.connection.labels) + '\u0002' + method + '\u0001' + status + '\u0001' + e.route + '\u0001' + e.serverAddress + '\u0001' + grpc;
    let s = this.http.get(key);
    if (s === undefined) {
      const over = this.http.size >= MAX_SERIES;
      const labels: HttpLabels = over
        ? { ...overflowLabels(e.connection.labels.direction), http_request_method: '_OTHER', http_response_status_code: '', http_route: 'overflow', server_address: 'overflow', rpc_grpc_status_code: '' }
        : { ...e.connection.labels, http_request_method: method, http_response_status_code: status, http_route: e.route, server_address: e.serverAddress, rpc_grpc_status_code: grpc };
      const k = over ? 'overflow' : key;
      s = this.http.get(k) ?? { labels, requests: 0, duration: newHistogram(), requestBytes: 0, responseBytes: 0, lastSeen: 0 };
      this.http.set(k, s);
    }
    return s;
  }

  /**
   * Rare events (denials, retries, ejections…) keyed by one bounded value. The label object is
   * only built the first time a series appears.
   */
  count(name: CounterName, value: string, by = 1, labels?: () => Record<string, string>): void {
    const key = name + '\u0001' + value;
    let s = this.counters.get(key);
    if (s === undefined) {
      if (this.counters.size >= MAX_SERIES) return;
      // `labels`: a counter with several labels; `value` is then the caller's unique key for them.
      s = { name, labels: labels?.() ?? counterLabels(name, value), value: 0 };
      this.counters.set(key, s);
    }
    s.value += by;
  }

  snapshot(): TelemetrySnapshot {
    const snap: TelemetrySnapshot = { tcp: [...this.tcp.values()], http: [...this.http.values()], counters: [...this.counters.values()] };
    if (this.gaugeSources.length > 0) snap.gauges = this.gaugeSources.flatMap((read) => read());
    return snap;
  }
}

/** Which single label each mesh counter carries. */
export const COUNTER_LABEL: Record<CounterName, string> = {
  policy_denials: 'destination_workload',
  retries: 'destination_service',
  timeouts: 'destination_service',
  ejections: 'destination_service',
  detection_timeouts: 'direction',
  tap_dropped_events: 'stage',
  rejected_input: 'reason',
  cert_renewal_failures: 'identity',
  log_write_failures: 'stream',
  workload_limited: 'source_workload',
  otel_dropped: 'signal',
  held_bytes_throttled: 'source_identity',
};

function counterLabels(name: CounterName, value: string): Record<string, string> {
  return { [COUNTER_LABEL[name]]: value };
}

/** Sums worker snapshots series by series (same labels → one series). */
export function mergeSnapshots(all: readonly TelemetrySnapshot[]): TelemetrySnapshot {
  const tcp = new Map<string, TcpSeries>();
  const http = new Map<string, HttpSeries>();
  const counters = new Map<string, CounterSeries>();
  for (const snap of all) {
    for (const s of snap.tcp) {
      const k = seriesKey(s.labels);
      const t = tcp.get(k);
      if (t === undefined) {
        tcp.set(k, { ...s, duration: { ...s.duration, counts: [...s.duration.counts] } });
        continue;
      }
      t.opened += s.opened; t.closed += s.closed; t.failed += s.failed;
      t.sentBytes += s.sentBytes; t.receivedBytes += s.receivedBytes;
      addHistogram(t.duration, s.duration);
      t.lastSeen = Math.max(t.lastSeen, s.lastSeen);
    }
    for (const s of snap.http) {
      const l = s.labels;
      const k = seriesKey(l) + '\u0002' + l.http_request_method + '\u0001' + l.http_response_status_code + '\u0001' + l.http_route + '\u0001' + l.server_address + '\u0001' + l.rpc_grpc_status_code;
      const t = http.get(k);
      if (t === undefined) {
        http.set(k, { ...s, duration: { ...s.duration, counts: [...s.duration.counts] } });
        continue;
      }
      t.requests += s.requests; t.requestBytes += s.requestBytes; t.responseBytes += s.responseBytes;
      addHistogram(t.duration, s.duration);
      t.lastSeen = Math.max(t.lastSeen, s.lastSeen);
    }
    for (const s of snap.counters) {
      const k = counterKey(s.name, s.labels);
      const t = counters.get(k);
      if (t === undefined) counters.set(k, { ...s, labels: { ...s.labels } });
      else t.value += s.value;
    }
  }
  // Workers' levels of one label set add up (held bytes of one workload over the workers); the
  // main thread's gauges come from it alone.
  const gaugeMap = new Map<string, GaugeSeries>();
  for (const snap of all) {
    for (const g of snap.gauges ?? []) {
      const k = counterKey(g.name, g.labels);
      const t = gaugeMap.get(k);
      if (t === undefined) gaugeMap.set(k, { ...g, labels: { ...g.labels } });
      else t.value += g.value;
    }
  }
  const gauges = [...gaugeMap.values()];
  return { tcp: [...tcp.values()], http: [...http.values()], counters: [...counters.values()], gauges };
}

export { counterKey };
