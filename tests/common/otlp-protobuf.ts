// Decodes OTLP protobuf export requests (ExportTraceServiceRequest, ExportMetricsServiceRequest,
// ExportLogsServiceRequest)
// into the shape of their OTLP JSON encoding, so a test reads both protocols with the same
// helpers. Only the fields the tests read are described; others are skipped by wire type.
// Field numbers are those of opentelemetry-proto (trace/v1, metrics/v1, logs/v1, common/v1, resource/v1).

type Kind = 'string' | 'fixed32' | 'hex' | 'varint' | 'int64str' | 'fixed64str' | 'double' | 'bool' | 'packedFixed64' | 'packedDouble';
interface Field { name: string; kind?: Kind; message?: string; repeated?: boolean }
type Schema = Record<string, Record<number, Field>>;

const kv: Field = { name: 'attributes', message: 'KeyValue', repeated: true };

const SCHEMA: Schema = {
  ExportTraceServiceRequest: { 1: { name: 'resourceSpans', message: 'ResourceSpans', repeated: true } },
  ResourceSpans: { 1: { name: 'resource', message: 'Resource' }, 2: { name: 'scopeSpans', message: 'ScopeSpans', repeated: true } },
  ScopeSpans: { 1: { name: 'scope', message: 'Scope' }, 2: { name: 'spans', message: 'Span', repeated: true } },
  Span: {
    1: { name: 'traceId', kind: 'hex' }, 2: { name: 'spanId', kind: 'hex' }, 3: { name: 'traceState', kind: 'string' },
    4: { name: 'parentSpanId', kind: 'hex' }, 5: { name: 'name', kind: 'string' }, 6: { name: 'kind', kind: 'varint' },
    7: { name: 'startTimeUnixNano', kind: 'fixed64str' }, 8: { name: 'endTimeUnixNano', kind: 'fixed64str' },
    9: kv, 15: { name: 'status', message: 'Status' },
  },
  Status: { 2: { name: 'message', kind: 'string' }, 3: { name: 'code', kind: 'varint' } },
  ExportMetricsServiceRequest: { 1: { name: 'resourceMetrics', message: 'ResourceMetrics', repeated: true } },
  ResourceMetrics: { 1: { name: 'resource', message: 'Resource' }, 2: { name: 'scopeMetrics', message: 'ScopeMetrics', repeated: true } },
  ScopeMetrics: { 1: { name: 'scope', message: 'Scope' }, 2: { name: 'metrics', message: 'Metric', repeated: true } },
  Metric: {
    1: { name: 'name', kind: 'string' }, 2: { name: 'description', kind: 'string' }, 3: { name: 'unit', kind: 'string' },
    5: { name: 'gauge', message: 'Gauge' }, 7: { name: 'sum', message: 'Sum' }, 9: { name: 'histogram', message: 'Histogram' },
  },
  Gauge: { 1: { name: 'dataPoints', message: 'NumberDataPoint', repeated: true } },
  Sum: { 1: { name: 'dataPoints', message: 'NumberDataPoint', repeated: true }, 2: { name: 'aggregationTemporality', kind: 'varint' }, 3: { name: 'isMonotonic', kind: 'bool' } },
  Histogram: { 1: { name: 'dataPoints', message: 'HistogramDataPoint', repeated: true }, 2: { name: 'aggregationTemporality', kind: 'varint' } },
  NumberDataPoint: { 7: kv, 2: { name: 'startTimeUnixNano', kind: 'fixed64str' }, 3: { name: 'timeUnixNano', kind: 'fixed64str' }, 4: { name: 'asDouble', kind: 'double' }, 6: { name: 'asInt', kind: 'fixed64str' } },
  HistogramDataPoint: {
    9: kv, 2: { name: 'startTimeUnixNano', kind: 'fixed64str' }, 3: { name: 'timeUnixNano', kind: 'fixed64str' },
    4: { name: 'count', kind: 'fixed64str' }, 5: { name: 'sum', kind: 'double' },
    6: { name: 'bucketCounts', kind: 'packedFixed64' }, 7: { name: 'explicitBounds', kind: 'packedDouble' },
  },
  ExportLogsServiceRequest: { 1: { name: 'resourceLogs', message: 'ResourceLogs', repeated: true } },
  ResourceLogs: { 1: { name: 'resource', message: 'Resource' }, 2: { name: 'scopeLogs', message: 'ScopeLogs', repeated: true } },
  ScopeLogs: { 1: { name: 'scope', message: 'Scope' }, 2: { name: 'logRecords', message: 'LogRecord', repeated: true } },
  LogRecord: {
    1: { name: 'timeUnixNano', kind: 'fixed64str' }, 11: { name: 'observedTimeUnixNano', kind: 'fixed64str' },
    2: { name: 'severityNumber', kind: 'varint' }, 3: { name: 'severityText', kind: 'string' },
    5: { name: 'body', message: 'AnyValue' }, 6: kv, 8: { name: 'flags', kind: 'fixed32' },
    9: { name: 'traceId', kind: 'hex' }, 10: { name: 'spanId', kind: 'hex' }, 12: { name: 'eventName', kind: 'string' },
  },
  Resource: { 1: kv },
  Scope: { 1: { name: 'name', kind: 'string' }, 2: { name: 'version', kind: 'string' } },
  KeyValue: { 1: { name: 'key', kind: 'string' }, 2: { name: 'value', message: 'AnyValue' } },
  AnyValue: { 1: { name: 'stringValue', kind: 'string' }, 2: { name: 'boolValue', kind: 'bool' }, 3: { name: 'intValue', kind: 'int64str' }, 4: { name: 'doubleValue', kind: 'double' } },
};

class Reader {
  pos: number;
  readonly buf: Buffer;
  readonly end: number;
  constructor(buf: Buffer, start: number, end: number) { this.buf = buf; this.pos = start; this.end = end; }
  varint(): bigint {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error('protobuf: varint past the end');
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  }
  take(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw new Error('protobuf: field past the end');
    this.pos += n;
    return at;
  }
}

function decodeMessage(buf: Buffer, start: number, end: number, type: string): Record<string, unknown> {
  const fields = SCHEMA[type];
  const out: Record<string, unknown> = {};
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const tag = Number(r.varint());
    const f = fields[tag >>> 3];
    const wire = tag & 7;
    let value: unknown;
    if (wire === 0) {
      const v = r.varint();
      value = f?.kind === 'bool' ? v !== 0n : f?.kind === 'int64str' ? BigInt.asIntN(64, v).toString() : Number(v);
    } else if (wire === 1) {
      const at = r.take(8);
      value = f?.kind === 'double' ? buf.readDoubleLE(at) : buf.readBigUInt64LE(at).toString();
    } else if (wire === 5) {
      value = buf.readUInt32LE(r.take(4));
    } else if (wire === 2) {
      const len = Number(r.varint());
      const at = r.take(len);
      if (f === undefined) continue;
      if (f.message !== undefined) value = decodeMessage(buf, at, at + len, f.message);
      else if (f.kind === 'hex') value = buf.subarray(at, at + len).toString('hex');
      else if (f.kind === 'packedFixed64') value = Array.from({ length: len / 8 }, (_, i) => buf.readBigUInt64LE(at + i * 8).toString());
      else if (f.kind === 'packedDouble') value = Array.from({ length: len / 8 }, (_, i) => buf.readDoubleLE(at + i * 8));
      else value = buf.subarray(at, at + len).toString('utf8');
    } else {
      throw new Error(`protobuf: wire type ${wire} is not used by OTLP`);
    }
    if (f === undefined) continue;
    if (f.repeated === true) ((out[f.name] ??= []) as unknown[]).push(value);
    else out[f.name] = value;
  }
  return out;
}

/** An OTLP/HTTP protobuf body for `path` (/v1/traces, /v1/metrics or /v1/logs) in its JSON shape. */
export function decodeOtlpProtobuf(path: string, body: Buffer): Record<string, unknown> {
  const type = path === '/v1/traces' ? 'ExportTraceServiceRequest' : path === '/v1/logs' ? 'ExportLogsServiceRequest' : 'ExportMetricsServiceRequest';
  return decodeMessage(body, 0, body.length, type);
}
