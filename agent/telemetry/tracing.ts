// Request spans for the L7 path, with W3C trace context. The L7 code calls startRequest() per
// request with the incoming traceparent, forwards the returned traceparent upstream, and calls
// end() with the outcome. TCP connections get no spans. Exporting is on only when an OTLP traces
// endpoint is set; sampling follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the SDK reads
// them), and with export off the recorder still propagates the caller's context unchanged.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Context } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** W3C Trace Context §3.2: version 00 (or a future one, read as 00), non-zero ids. */
export function parseTraceparent(h: string | undefined): TraceParent | null {
  if (h === undefined) return null;
  const m = TRACEPARENT.exec(h.trim());
  if (m === null || m[1] === 'ff') return null;
  if (m[1] === '00' && h.trim().length !== 55) return null;
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) return null;
  return { traceId: m[2], spanId: m[3], flags: parseInt(m[4], 16) };
}

export function formatTraceparent(p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${(p.flags & 0xff).toString(16).padStart(2, '0')}`;
}

export interface RequestSpanInput {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  /** 'client' on the source agent, 'server' on the destination agent. */
  kind: 'client' | 'server';
  method: string;
  /** The route name (bounded) for the span name; the raw path goes in url.path. */
  route: string;
  path: string;
  serverAddress: string;
  sourceWorkload: string;
  destinationWorkload: string;
}

export interface RequestSpan {
  /** What to send upstream as `traceparent`. */
  readonly traceparent: string | undefined;
  end(status: number, error?: string): void;
}

export interface SpanRecorder {
  readonly exporting: boolean;
  startRequest(i: RequestSpanInput): RequestSpan;
  shutdown(): Promise<void>;
}

const passthrough = (tp: string | undefined): RequestSpan => ({ traceparent: tp, end() {} });

export interface SpanRecorderOptions {
  env: (k: string) => string | undefined;
  resource?: Resource;
  /** Tests inject an in-memory exporter (spans are then exported synchronously). */
  exporter?: SpanExporter;
}

export function tracesEnabled(env: (k: string) => string | undefined): boolean {
  if (env('OTEL_SDK_DISABLED') === 'true' || env('OTEL_TRACES_EXPORTER') === 'none') return false;
  return (env('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? env('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '') !== '';
}

export function createSpanRecorder(o: SpanRecorderOptions): SpanRecorder {
  if (o.exporter === undefined && !tracesEnabled(o.env)) {
    return { exporting: false, startRequest: (i) => passthrough(i.traceparent), shutdown: async () => {} };
  }
  const processor = o.exporter !== undefined ? new SimpleSpanProcessor(o.exporter) : new BatchSpanProcessor(new OTLPTraceExporter());
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
      const span = tracer.startSpan(i.route === '' ? i.method : `${i.method} ${i.route}`, {
        kind: i.kind === 'client' ? SpanKind.CLIENT : SpanKind.SERVER,
        attributes: {
          'http.request.method': i.method,
          'url.path': i.path,
          'server.address': i.serverAddress,
          ...(i.route === '' ? {} : { 'http.route': i.route }),
          'weft.source.workload': i.sourceWorkload,
          'weft.destination.workload': i.destinationWorkload,
        },
      }, ctx);
      const sc = span.spanContext();
      return {
        traceparent: formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags }),
        end(status, error) {
          if (status !== 0) span.setAttribute('http.response.status_code', status);
          if (error !== undefined || status >= 500 || status === 0) {
            span.setStatus({ code: SpanStatusCode.ERROR, ...(error === undefined ? {} : { message: error }) });
            if (error !== undefined) span.setAttribute('error.type', error);
          }
          span.end();
        },
      };
    },
    shutdown: () => provider.shutdown(),
  };
}
