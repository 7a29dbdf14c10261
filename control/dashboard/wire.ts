// The JSON shapes of the dashboard's HTTP API, shared by control (control/metrics builds them) and
// the browser bundle (control/dashboard/ui reads them). No imports: the browser build and its
// DOM-only type-check pull this file in as it is.

export interface Golden {
  /** http when any edge in the group carried requests, tcp when only connections, none when idle. */
  protocol: 'http' | 'tcp' | 'mixed' | 'none';
  requests: number;
  /** Requests (or connections) per second over the window. */
  rate: number;
  failures: number;
  /** 0..1, null when nothing completed in the window. */
  successRate: number | null;
  /** Seconds. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  connections: number;
  connectionRate: number;
  failedConnections: number;
  bytesPerSecond: number;
}

export interface WorkloadRow {
  key: string;
  namespace: string;
  name: string;
  meshed: boolean;
  pods: number;
  ready: number;
  nodes: string[];
  identities: string[];
  inbound: Golden;
  outbound: Golden;
}

/** An edge as the dashboard shows it: both ends, without the leg that observed it. */
export interface EdgeId {
  source: string;
  sourceIdentity: string;
  destination: string;
  destinationIdentity: string;
  service: string;
  tls: string;
}

export interface EdgeRow extends EdgeId {
  golden: Golden;
}

export interface SeriesPoint {
  t: number;
  rate: number;
  successRate: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
