// What agents tell control about their traffic, over the config stream (agent → control), and the
// live tap that control asks of them (control → agent → control). Summaries carry cumulative
// counters since the agent started (`startedAt` names that epoch), so control computes rates over
// any window by difference and a lost summary loses nothing but resolution.
//
//   agent → control: summary      every few seconds
//   control → agent: tap-start    { tapId, filter }     agent → control: tap-events { tapId, events, dropped }
//   control → agent: tap-stop     { tapId }

/** The two ends of an edge and how the agent saw it; the same bounded labels as the metrics. */
export interface SummaryEdge {
  /** outbound: this agent proxied the client; inbound: it delivered to the destination pod. */
  direction: 'outbound' | 'inbound';
  sourceWorkload: string;
  sourceNamespace: string;
  sourceIdentity: string;
  destinationWorkload: string;
  destinationNamespace: string;
  destinationIdentity: string;
  /** `ns/name`, or '' when the client dialled a pod IP. */
  destinationService: string;
  tls: 'mutual' | 'none';
}

/** TCP counters of one edge. Histograms are bucket counts over `SummaryMessage.boundaries` (+Inf last). */
export interface SummaryTcp {
  edge: SummaryEdge;
  opened: number;
  closed: number;
  failed: number;
  sentBytes: number;
  receivedBytes: number;
  duration: number[];
}

/** HTTP counters of one edge and route. A failure is a 5xx, no answer at all, or a gRPC error. */
export interface SummaryHttp {
  edge: SummaryEdge;
  route: string;
  requests: number;
  failures: number;
  latency: number[];
}

export interface SummaryPolicyRow {
  kind: 'denied' | 'audited' | 'closed';
  policy: string;
  /** SPIFFE ID or `unauthenticated`. */
  source: string;
  /** `ns/workload`. */
  destination: string;
  count: number;
}

/** Which compiled policies the agent enforces for one of its local workloads. */
export interface SummaryWorkloadPolicy {
  workload: string;
  mtls: string;
  defaultInbound: string;
  deny: string[];
  allow: string[];
  audit: string[];
}

export interface SummaryCert {
  identity: string;
  state: string;
  notAfter: string | null;
  rotateAt: string | null;
}

export interface SummaryMessage {
  type: 'summary';
  /** ms since the epoch when the agent process started: counters restart with it. */
  startedAt: number;
  /** ms since the epoch when the counters were read. */
  at: number;
  /** Upper bounds (seconds) of the histogram buckets. */
  boundaries: number[];
  tcp: SummaryTcp[];
  http: SummaryHttp[];
  policy: SummaryPolicyRow[];
  policies: SummaryWorkloadPolicy[];
  certs: SummaryCert[];
}

/** The tap filter fields (same meaning as the agent's /tap query). */
export interface StreamTapFilter {
  namespace?: string;
  workload?: string;
  service?: string;
  method?: string;
  pathPrefix?: string;
  statusClass?: string;
}

export interface TapStartMessage {
  type: 'tap-start';
  tapId: string;
  filter: StreamTapFilter;
}

export interface TapStopMessage {
  type: 'tap-stop';
  tapId: string;
}

export interface TapEventsMessage {
  type: 'tap-events';
  tapId: string;
  /** Tap events as the agent's /tap sends them (plain JSON objects). */
  events: Array<Record<string, unknown>>;
  /** Events this agent dropped for this tap since its last batch (slow stream or full batch). */
  dropped: number;
}

/** Series a summary may carry; beyond it the agent sends the busiest ones. */
export const SUMMARY_MAX_SERIES = 2000;
/** Events per tap-events batch; the rest of a burst is dropped and counted. */
export const TAP_BATCH_MAX = 200;
