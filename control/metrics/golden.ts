// Golden metrics from summed edge counters: one shape for TCP and HTTP. A "request" is an HTTP
// request on an edge that carried HTTP in the window, and a TCP connection on an edge that did
// not; success is "answered and not a 5xx / gRPC error" for HTTP and "closed without a failure"
// for TCP; latency is the HTTP request latency or the TCP connection lifetime. So a mesh with
// only opaque TCP today shows the same columns that fill with request numbers once L7 lands.

import type { Golden } from '../dashboard/wire.ts';
import type { SummaryHttp, SummaryTcp } from '../api/summary.ts';

export type { Golden };

/** An edge's TCP counters as agents report them (the summary's, without the edge). */
export type TcpCounts = Omit<SummaryTcp, 'edge'>;

/** An edge's (or route's) HTTP counters as agents report them. */
export type HttpCounts = Omit<SummaryHttp, 'edge' | 'route'>;

export interface EdgeCounts {
  tcp: TcpCounts;
  http: HttpCounts;
  routes: Map<string, HttpCounts>;
}

export function newTcp(n: number): TcpCounts {
  return { opened: 0, closed: 0, failed: 0, sentBytes: 0, receivedBytes: 0, duration: new Array<number>(n).fill(0) };
}
export function newHttp(n: number): HttpCounts {
  return { requests: 0, failures: 0, latency: new Array<number>(n).fill(0) };
}
export function newEdgeCounts(n: number): EdgeCounts {
  return { tcp: newTcp(n), http: newHttp(n), routes: new Map() };
}

function addBuckets(into: number[], from: readonly number[]): void {
  for (let i = 0; i < into.length; i++) into[i] += from[i] ?? 0;
}

export function addTcp(into: TcpCounts, d: TcpCounts): void {
  into.opened += d.opened; into.closed += d.closed; into.failed += d.failed;
  into.sentBytes += d.sentBytes; into.receivedBytes += d.receivedBytes;
  addBuckets(into.duration, d.duration);
}
export function addHttp(into: HttpCounts, d: HttpCounts): void {
  into.requests += d.requests; into.failures += d.failures;
  addBuckets(into.latency, d.latency);
}
export function addEdgeCounts(into: EdgeCounts, d: EdgeCounts): void {
  addTcp(into.tcp, d.tcp);
  addHttp(into.http, d.http);
  for (const [r, c] of d.routes) {
    let have = into.routes.get(r);
    if (have === undefined) into.routes.set(r, (have = newHttp(c.latency.length)));
    addHttp(have, c);
  }
}


/**
 * Histogram quantile by linear interpolation inside the bucket (histogram_quantile's way); the
 * +Inf bucket answers with its lower bound, the largest finite boundary.
 */
export function quantile(counts: readonly number[], boundaries: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c > 0 && seen + c >= rank) {
      const lower = i === 0 ? 0 : boundaries[i - 1];
      if (i >= boundaries.length) return lower;
      return lower + ((boundaries[i] - lower) * (rank - seen)) / c;
    }
    seen += c;
  }
  return boundaries.at(-1) ?? null;
}

/** Golden metrics of a group of edges over `seconds`. */
export function golden(edges: Iterable<EdgeCounts>, seconds: number, boundaries: readonly number[]): Golden {
  let requests = 0, completed = 0, failures = 0, connections = 0, failedConnections = 0, bytes = 0;
  let sawHttp = false, sawTcp = false;
  const latency = new Array<number>(boundaries.length + 1).fill(0);
  for (const e of edges) {
    connections += e.tcp.opened;
    failedConnections += e.tcp.failed;
    bytes += e.tcp.sentBytes + e.tcp.receivedBytes;
    if (e.http.requests > 0) {
      sawHttp = true;
      requests += e.http.requests;
      completed += e.http.requests;
      failures += e.http.failures;
      addBuckets(latency, e.http.latency);
    } else if (e.tcp.opened > 0 || e.tcp.closed > 0) {
      sawTcp = true;
      requests += e.tcp.opened;
      completed += e.tcp.closed;
      failures += e.tcp.failed;
      addBuckets(latency, e.tcp.duration);
    }
  }
  const secs = Math.max(seconds, 1e-3);
  return {
    protocol: sawHttp && sawTcp ? 'mixed' : sawHttp ? 'http' : sawTcp ? 'tcp' : 'none',
    requests,
    rate: requests / secs,
    failures,
    successRate: completed <= 0 ? null : Math.max(0, 1 - failures / completed),
    p50: quantile(latency, boundaries, 0.5),
    p95: quantile(latency, boundaries, 0.95),
    p99: quantile(latency, boundaries, 0.99),
    connections,
    connectionRate: connections / secs,
    failedConnections,
    bytesPerSecond: bytes / secs,
  };
}
