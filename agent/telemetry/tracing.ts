// Request spans with W3C trace context, one recorder per proxy worker. The L7 path asks
// `Telemetry.tracing` before anything else, so with export off a request costs one property read
// and its traceparent (if any) travels on untouched with the other end-to-end headers. With export
// on, each request gets a span that is a child of the incoming traceparent (or the root of a new
// trace), and the span's own traceparent replaces the incoming one upstream.
//
// The OpenTelemetry SDK does the rest from the standard variables (common/otel/sdk-env.ts): the
// exporters from OTEL_TRACES_EXPORTER and OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL / _ENDPOINT /
// _HEADERS / _TIMEOUT / _COMPRESSION, the sampler from OTEL_TRACES_SAMPLER[_ARG], the batch
// processor from OTEL_BSP_* (its queue drops spans when full, so a slow collector never holds a
// request; drops are counted). Unsampled requests still get a span context — a new span id with
// the sampled flag clear — so the trace id reaches the app either way.
//
// This file is the SDK half: workers import it dynamically, only when export is configured.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from '../../common/log.ts';
import { routeDiagToLog, tracerProviderFromEnv, type OnDrop } from '../../common/otel/sdk-env.ts';
import { formatTraceparent, noSpans, parseTraceparent, tracesEnabled, type OtelEnv, type RequestSpan, type SpanRecorder } from './trace-context.ts';


export interface SpanRecorderOptions {
  env: OtelEnv;
  log: Logger;
  resource?: Resource;
  /** Tests inject an in-memory exporter (spans are then exported synchronously, sampling unchanged). */
  exporter?: SpanExporter;
  /** Spans the batch processor dropped (queue full) or could not export. */
  onDrop?: OnDrop;
}

class Recorded implements RequestSpan {
  readonly traceparent: string;
  readonly continued: boolean;
  readonly #span: Span;

  constructor(span: Span, continued: boolean) {
    this.#span = span;
    this.continued = continued;
    const sc = span.spanContext();
    this.traceparent = formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags });
  }

  get recording(): boolean {
    return this.#span.isRecording();
  }

  setAttributes(attributes: Attributes): void {
    this.#span.setAttributes(attributes);
  }

  end(status: number, attributes?: Attributes, error?: string): void {
    const s = this.#span;
    if (!s.isRecording()) return;
    if (attributes !== undefined) s.setAttributes(attributes);
    if (status !== 0) s.setAttribute('http.response.status_code', status);
    if (error !== undefined || status >= 500 || status === 0) {
      const type = error ?? (status === 0 ? 'no_response' : String(status));
      s.setAttribute('error.type', type);
      s.setStatus({ code: SpanStatusCode.ERROR, message: type });
    }
    s.end();
  }
}

export function createSpanRecorder(o: SpanRecorderOptions): SpanRecorder {
  if (o.exporter === undefined && !tracesEnabled(o.env)) return noSpans;
  // Export failures and settings the SDK ignores (an unknown sampler…) reach only its diag channel.
  if (o.exporter === undefined) routeDiagToLog(o.log);
  const provider = tracerProviderFromEnv(o.resource ?? resourceFromAttributes({}), o.onDrop ?? (() => {}), o.exporter === undefined ? undefined : [new SimpleSpanProcessor({ exporter: o.exporter })]);
  const tracer = provider.getTracer('weft-agent');
  return {
    exporting: true,
    startRequest(i) {
      const parent = parseTraceparent(i.traceparent);
      let ctx: Context = ROOT_CONTEXT;
      if (parent !== null) {
        ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.flags & TraceFlags.SAMPLED, isRemote: true });
      }
      const kind = i.kind === 'client' ? SpanKind.CLIENT : SpanKind.SERVER;
      const span = tracer.startSpan(i.name, i.attributes === undefined ? { kind } : { kind, attributes: i.attributes }, ctx);
      return new Recorded(span, parent !== null);
    },
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
