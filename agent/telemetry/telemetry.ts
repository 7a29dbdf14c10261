// The seams the proxy calls. Connection events come from the L4 handlers now; request events from
// the L7 path (agent/http) when it lands. Both are recorded O(1) into per-worker aggregates, and
// offered to the live tap and the access log only when those are switched on.
import type { WorkloadRecord } from '../../control/api/model.ts';
import { UNKNOWN, workloadName, type ConnectionLabels, type Direction, type TlsMode } from './labels.ts';
import { noSpans, type SpanRecorder } from './trace-context.ts';

/** One proxied connection, built once when the handler has decided where it goes. */
export interface ConnectionContext {
  /** Never changed in place; opened() swaps it for its series' equal object (one per series, shared). */
  labels: ConnectionLabels;
  /** The proxy path (outbound_hbone, inbound_plaintext…): tap and access log only. */
  readonly path: string;
  readonly sourceAddress: string;
  readonly destinationAddress: string;
  /** Set by opened(): ms since the epoch. */
  startedAt: number;
  /** The recorder's series slot, set by opened() so closed() needs no lookup. Opaque to callers. */
  slot: unknown;
  /** The recorder's last HTTP series on this connection (its requests mostly repeat one). Opaque. */
  httpSlot?: unknown;
}

export interface ConnectionTelemetry {
  opened(ctx: ConnectionContext): void;
  /** bytesSent: towards the destination; bytesReceived: from it. error: why it failed, if it did. */
  closed(ctx: ConnectionContext, bytesSent: number, bytesReceived: number, error: Error | undefined): void;
}

/** One HTTP request as the L7 path saw it (one per attempt: retries are separate requests). */
export interface HttpRequestEvent {
  /** The connection (or HTTP/2 stream's parent) it travelled on: gives the edge labels. */
  connection: ConnectionContext;
  /** As sent; anything outside the standard set is recorded as `_OTHER` (OTel HTTP semconv). */
  method: string;
  /** 0 when no response came (reset, timeout before headers). */
  status: number;
  /** The matched route's name (bounded), '' when none. Never the raw path. */
  route: string;
  /** The raw path: tap and traces only, never a metric label. */
  path: string;
  /** The authority the client addressed (service host); a label only as server_address. */
  serverAddress: string;
  durationSeconds: number;
  requestBytes: number;
  responseBytes: number;
  /** grpc-status trailer when the request was gRPC, else null. */
  grpcStatus: number | null;
  /** 0 for the first try, n for the n-th retry. */
  retryAttempt: number;
  timedOut: boolean;
  /**
   * The W3C traceparent the request left the proxy with (this hop's span when tracing, else the
   * one it arrived with): puts access records in the request's trace. Undefined when none.
   */
  traceparent?: string | undefined;
}

export interface HttpTelemetry {
  request(e: HttpRequestEvent): void;
}

/** Counters of the reliability and security machinery, registered now, fed by their owners. */
export interface MeshEventTelemetry {
  policyDenied(ctx: ConnectionContext, reason: string): void;
  endpointEjected(destinationService: string): void;
  detectionTimedOut(ctx: ConnectionContext): void;
  /** A source pod over its per-workload limit was refused a connection or a request. */
  workloadLimited(source: WorkloadRecord, limit: 'connections' | 'pending_requests'): void;
  /** A source identity went over its held-bytes budget and its sessions were throttled. */
  heldBytesThrottled(identity: string): void;
  /** Where the held bytes per source identity are read, at snapshot time (the worker's budget). */
  watchHeldBytes(read: () => Iterable<{ readonly key: string; readonly held: number }>): void;
  /**
   * Bad input refused before it reached anyone (malformed HTTP, a header timeout, a failed
   * handshake, a bad CONNECT target). `reason` is one of a small fixed set (bounded label).
   */
  inputRejected(reason: string): void;
}

/** Request spans (agent/telemetry/request-spans.ts builds them from the L7 path's state). */
export interface TracingTelemetry {
  /** Read first, per request: false means no span work at all (traceparent passes through). */
  readonly tracing: boolean;
  readonly spans: SpanRecorder;
}

export interface Telemetry extends ConnectionTelemetry, HttpTelemetry, MeshEventTelemetry, TracingTelemetry {}

/** Does nothing: for tests of the proxy that do not look at metrics, and WEFT_TELEMETRY=false. */
export const noTelemetry: Telemetry = {
  opened() {},
  closed() {},
  request() {},
  policyDenied() {},
  endpointEjected() {},
  detectionTimedOut() {},
  workloadLimited() {},
  heldBytesThrottled() {},
  watchHeldBytes() {},
  inputRejected() {},
  tracing: false,
  spans: noSpans,
};

export interface ContextInput {
  direction: Direction;
  path: string;
  source?: WorkloadRecord | undefined;
  /** Overrides the source identity (the verified peer SPIFFE ID on inbound HBONE). */
  sourceIdentity?: string | undefined;
  destination?: WorkloadRecord | undefined;
  service?: string | undefined;
  tls: TlsMode;
  sourceAddress: string;
  destinationAddress: string;
}

export function connectionContext(i: ContextInput): ConnectionContext {
  const s = i.source !== undefined && i.source.meshed ? i.source : undefined;
  const d = i.destination;
  return {
    labels: {
      direction: i.direction,
      source_workload: s === undefined ? UNKNOWN : workloadName(s),
      source_namespace: s === undefined ? UNKNOWN : s.namespace,
      source_identity: i.sourceIdentity ?? s?.identity ?? UNKNOWN,
      destination_workload: d === undefined ? UNKNOWN : workloadName(d),
      destination_namespace: d === undefined ? UNKNOWN : d.namespace,
      destination_identity: d === undefined || !d.meshed ? UNKNOWN : d.identity,
      destination_service: i.service ?? UNKNOWN,
      tls: i.tls,
    },
    path: i.path,
    sourceAddress: i.sourceAddress,
    destinationAddress: i.destinationAddress,
    startedAt: 0,
    slot: undefined,
    httpSlot: undefined,
  };
}
