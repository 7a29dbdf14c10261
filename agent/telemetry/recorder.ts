// The Telemetry a proxy worker hands its handlers: counts into the worker's aggregates, and only
// when switched on, builds a tap event (someone is tapping) or an access log line.
import { Aggregates, type GaugeSeries } from './aggregates.ts';
import type { TapBuffer } from './tap-buffer.ts';
import type { TapConnectionEvent, TapRequestEvent } from './tap-events.ts';
import type { ConnectionContext, HttpRequestEvent, Telemetry } from './telemetry.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { workloadName } from './labels.ts';
import { noSpans, type SpanRecorder } from './trace-context.ts';
import { queryRedactor, redactQuery, type QueryValueMode } from './redact-query.ts';

export interface RecorderOptions {
  tap?: TapBuffer | undefined;
  /** One JSON line per connection/request when set (WEFT_ACCESS_LOG=true). */
  accessLog?: ((line: string) => void) | undefined;
  /** The access log as OpenTelemetry log records (logs export configured and WEFT_ACCESS_LOG on). */
  accessRecords?: AccessRecords | undefined;
  /** Request spans (agent/telemetry/trace-context.ts); none when absent. */
  spans?: SpanRecorder | undefined;
  /** What a request's query shows in the tap and the access log (WEFT_QUERY_VALUES); redacted by default. */
  queryValues?: QueryValueMode | undefined;
  now?: () => number;
}

/** Where access records go beside the JSON line (common/otel/log-records.ts, loaded with logs export). */
export interface AccessRecords {
  access(event: Record<string, unknown>, traceparent: string | undefined): void;
}

export function namespaceOf(identity: string): string {
  // spiffe://<td>/ns/<ns>/sa/<sa>: the peer's namespace is known even when its workload is not.
  const i = identity.indexOf('/ns/');
  if (i < 0) return '';
  const rest = identity.slice(i + 4);
  const j = rest.indexOf('/');
  return j < 0 ? rest : rest.slice(0, j);
}

export function connectionEvent(ctx: ConnectionContext, sent: number, received: number, error: Error | undefined, now: number): TapConnectionEvent {
  const l = ctx.labels;
  const e: TapConnectionEvent = {
    type: 'connection',
    at: new Date(now).toISOString(),
    direction: l.direction,
    path: ctx.path,
    source: { workload: l.source_workload, namespace: l.source_namespace || namespaceOf(l.source_identity), identity: l.source_identity, address: ctx.sourceAddress },
    destination: { workload: l.destination_workload, namespace: l.destination_namespace, identity: l.destination_identity, address: ctx.destinationAddress, service: l.destination_service },
    tls: l.tls,
    bytesSent: sent,
    bytesReceived: received,
    durationMs: ctx.startedAt === 0 ? 0 : now - ctx.startedAt,
    outcome: error === undefined ? 'ok' : 'failed',
  };
  if (error !== undefined) e.error = (error as Error & { code?: string }).code ?? error.message;
  return e;
}

/** The tap event (and access log line) of a request; its path goes through `outputPath` (query values redacted unless the operator chose otherwise). */
export function requestEvent(r: HttpRequestEvent, now: number, outputPath: (path: string) => string = redactQuery): TapRequestEvent {
  const c = connectionEvent(r.connection, 0, 0, undefined, now);
  return {
    ...c,
    type: 'request',
    path: outputPath(r.path),
    method: r.method,
    authority: r.serverAddress,
    status: r.status,
    grpcStatus: r.grpcStatus,
    durationMs: r.durationSeconds * 1000,
    requestBytes: r.requestBytes,
    responseBytes: r.responseBytes,
    retryAttempt: r.retryAttempt,
    timedOut: r.timedOut,
    outcome: r.status === 0 || r.status >= 500 || r.timedOut ? 'failed' : 'ok',
  };
}

export class TelemetryRecorder implements Telemetry {
  readonly aggregates: Aggregates;
  readonly tracing: boolean;
  readonly spans: SpanRecorder;
  readonly #tap: TapBuffer | undefined;
  readonly #log: ((line: string) => void) | undefined;
  readonly #records: AccessRecords | undefined;
  readonly #now: () => number;
  readonly #outputPath: (path: string) => string;

  constructor(o: RecorderOptions = {}) {
    this.#now = o.now ?? Date.now;
    this.#outputPath = queryRedactor(o.queryValues ?? 'redacted');
    this.aggregates = new Aggregates(this.#now);
    this.#tap = o.tap;
    this.#log = o.accessLog;
    this.#records = o.accessRecords;
    this.spans = o.spans ?? noSpans;
    this.tracing = this.spans.exporting;
  }

  opened(ctx: ConnectionContext): void {
    this.aggregates.openConnection(ctx);
  }

  closed(ctx: ConnectionContext, sent: number, received: number, error: Error | undefined): void {
    if (ctx.slot === undefined) return;
    this.aggregates.closeConnection(ctx, sent, received, error !== undefined);
    const tap = this.#tap !== undefined && this.#tap.active;
    if (!tap && this.#log === undefined) return;
    const e = connectionEvent(ctx, sent, received, error, this.#now());
    if (tap) this.#tap?.offer(e);
    this.#log?.(JSON.stringify({ accessLog: true, ...e }) + '\n');
    this.#records?.access(e as unknown as Record<string, unknown>, undefined);
  }

  request(r: HttpRequestEvent): void {
    this.aggregates.request(r);
    const tap = this.#tap !== undefined && this.#tap.active;
    if (!tap && this.#log === undefined) return;
    const e = requestEvent(r, this.#now(), this.#outputPath);
    if (tap) this.#tap?.offer(e);
    this.#log?.(JSON.stringify({ accessLog: true, ...e }) + '\n');
    this.#records?.access(e as unknown as Record<string, unknown>, r.traceparent);
  }

  policyDenied(ctx: ConnectionContext, _reason: string): void {
    this.aggregates.count('policy_denials', ctx.labels.destination_workload);
  }

  endpointEjected(destinationService: string): void {
    this.aggregates.count('ejections', destinationService);
  }

  detectionTimedOut(ctx: ConnectionContext): void {
    this.aggregates.count('detection_timeouts', ctx.labels.direction);
  }

  workloadLimited(source: WorkloadRecord, limit: 'connections' | 'pending_requests'): void {
    // By workload (the app label), not the pod: series stay few as pods come and go.
    const workload = workloadName(source);
    this.aggregates.count('workload_limited', source.namespace + '\u0001' + workload + '\u0001' + limit, 1, () => ({ source_workload: workload, source_namespace: source.namespace, limit }));
  }

  heldBytesThrottled(identity: string): void {
    this.aggregates.count('held_bytes_throttled', identity);
  }

  watchHeldBytes(read: () => Iterable<{ readonly key: string; readonly held: number }>): void {
    this.aggregates.gaugeSources.push(() => {
      const out: GaugeSeries[] = [];
      for (const a of read()) out.push({ name: 'held_bytes', labels: { source_identity: a.key }, value: a.held });
      return out;
    });
  }

  inputRejected(reason: string): void {
    this.aggregates.count('rejected_input', reason);
  }

  /** What this worker's OpenTelemetry export lost (signal: TRACES, LOGS). */
  otelDropped(signal: string, reason: string, n: number): void {
    const sig = signal.toLowerCase();
    this.aggregates.count('otel_dropped', sig + '\u0001' + reason, n, () => ({ signal: sig, reason }));
  }

  tapDropped(n: number): void {
    this.aggregates.count('tap_dropped_events', 'worker', n);
  }
}
