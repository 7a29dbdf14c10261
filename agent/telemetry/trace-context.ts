// W3C trace context and the span recorder's interface: what the proxy path needs whether or not
// spans are exported. Kept apart from the OpenTelemetry SDK (tracing.ts), which a worker loads only
// when trace export is configured, so an agent without it never parses or keeps the SDK.
import type { Attributes } from '@opentelemetry/api';
import { otelExportEnabled, type OtelEnv } from '../../common/otel/export-enabled.ts';

export type { OtelEnv };

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
  return otelExportEnabled(env, 'TRACES');
}
