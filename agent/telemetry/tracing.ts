// Request spans with W3C trace context, one recorder per proxy worker. The L7 path asks
// `Telemetry.tracing` before anything else, so with export off a request costs one property read
// and its traceparent (if any) travels on untouched with the other end-to-end headers. With export
// on, each request gets a span that is a child of the incoming traceparent (or the root of a new
// trace), and the span's own traceparent replaces the incoming one upstream.
//
// The OpenTelemetry SDK does the rest from the standard variables: the exporter reads
// OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT / _HEADERS / _TIMEOUT, the provider OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG, the batch processor OTEL_BSP_* (its queue drops spans when full, so a
// slow collector never holds a request). Unsampled requests still get a span context — a new span
// id with the sampled flag clear — so the trace id reaches the app either way.
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, diag, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { otlpProtocol } from './otlp-protocol.ts';
import type { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../../common/log.ts';

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZEROS = /^0+$/;

/** W3C Trace Context §3.2: version 00 (or a future one, read as 00), non-zero ids. */
export function parseTraceparent(h: string | undefined): TraceParent | null {
  if (h === undefined) return null;
  const v = h.trim();
  const m = TRACEPARENT.exec(v);
  if (m === null || m[1] === 'ff') return null;
  if (m[1] === '00' && v.length !== 55) return null;
  if (ZEROS.test(m[2]) || ZEROS.test(m[3])) return null;
  return { traceId: m[2], spanId: m[3], flags: parseInt(m[4], 16) };
}

export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, '0')}`;
}

export interface RequestSpanStart {
  /** 'client' on the source agent, 'server' on the destination agent. */
  kind: 'client' | 'server';
  /** The traceparent the request arrived with, if any. */
  traceparent: string | undefined;
  name: string;
  /** Given to the sampler; attributes only a recorded span needs are better set afterwards. */
  attributes?: Attributes;
}

export interface RequestSpan {
  /** What to send upstream as `traceparent`: this span's context. */
  readonly traceparent: string;
  /** Whether the incoming traceparent was valid and continued (else this span roots a new trace). */
  readonly continued: boolean;
  /** False for a request the sampler left out: it has a context to propagate, nothing to record. */
  readonly recording: boolean;
  setAttributes(attributes: Attributes): void;
  /**
   * Ends the span. `status` is the HTTP status the caller got (0: none); 5xx, no status, or an
   * `error` (a short type: a WEFT_ERR_* code, `timeout`…) mark the span as failed.
   */
  end(status: number, attributes?: Attributes, error?: string): void;
}

export interface SpanRecorder {
  /** False: nothing is recorded, and the L7 path never calls startRequest. */
  readonly exporting: boolean;
  startRequest(i: RequestSpanStart): RequestSpan;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export type OtelEnv = (k: string) => string | undefined;

/** The recorder of a worker whose tracing is off. */
export const noSpans: SpanRecorder = {
  exporting: false,
  startRequest(i) {
    // Not called on the proxy path (it checks `exporting`); answers sensibly for anyone else.
    const tp = parseTraceparent(i.traceparent);
    return { traceparent: tp === null ? '' : formatTraceparent(tp), continued: tp !== null, recording: false, setAttributes() {}, end() {} };
  },
  forceFlush: async () => {},
  shutdown: async () => {},
};

export function tracesEnabled(env: OtelEnv): boolean {
  if (env('OTEL_SDK_DISABLED') === 'true' || env('OTEL_TRACES_EXPORTER') === 'none') return false;
  return (env('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? env('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '') !== '';
}

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

/** What the SDK would only tell its (silent by default) diag logger: settings it will ignore. */
export function samplerProblems(env: OtelEnv): string[] {
  const out: string[] = [];
  const s = env('OTEL_TRACES_SAMPLER');
  if (s !== undefined && s !== '' && !SAMPLERS.includes(s)) {
    out.push(`OTEL_TRACES_SAMPLER=${s} is not one of ${SAMPLERS.join(', ')}; parentbased_always_on is used`);
  }
  const a = env('OTEL_TRACES_SAMPLER_ARG');
  if (a !== undefined && a !== '' && (s ?? '').endsWith('traceidratio')) {
    const n = Number(a);
    if (!Number.isFinite(n) || n < 0 || n > 1) out.push(`OTEL_TRACES_SAMPLER_ARG=${a} must be a ratio from 0 to 1; 1 is used`);
  }
  return out;
}

export interface SpanRecorderOptions {
  env: OtelEnv;
  log: Logger;
  resource?: Resource;
  /** Tests inject an in-memory exporter (spans are then exported synchronously, sampling unchanged). */
  exporter?: SpanExporter;
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
  for (const p of samplerProblems(o.env)) o.log.warn(p);
  if (o.exporter === undefined) {
    // Export failures reach only the SDK's diag channel: send its warnings to our log.
    const warn = (msg: string, ...args: unknown[]): void => o.log.warn(`opentelemetry: ${msg}`, args.length === 0 ? undefined : { details: args.map(String) });
    diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  }
  const processor = o.exporter !== undefined ? new SimpleSpanProcessor(o.exporter) : new BatchSpanProcessor(otlpProtocol(o.env, 'TRACES', o.log) === 'http/protobuf' ? new OTLPTraceProtoExporter() : new OTLPTraceExporter());
  const provider = new BasicTracerProvider({ ...(o.resource === undefined ? {} : { resource: o.resource }), spanProcessors: [processor] });
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
