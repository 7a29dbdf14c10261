// A minimal OTLP/HTTP receiver for tests: accepts POST /v1/metrics, /v1/traces and /v1/logs with
// a JSON or a protobuf body (gzip-compressed or not) and keeps the decoded bodies (protobuf in its
// JSON shape, see otlp-protobuf.ts), with the protocol each came in, its headers and compression.
// Other content types are refused with 415. `hold`: never answer (a collector that hangs).
// The gRPC receiver is otlp-grpc-receiver.ts; both record OtlpRequest.
// As a module: startOtlpReceiver(). As a script (to run inside a testbed netns):
//   node tests/common/otlp-receiver.ts --host H --port P [--grpc-port G]
//   → one JSON line per request on stdout
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeOtlpProtobuf } from './otlp-protobuf.ts';

export interface OtlpRequest {
  /** /v1/traces, /v1/metrics or /v1/logs (gRPC: the service's signal, same names). */
  path: string;
  body: unknown;
  protocol: 'http/json' | 'http/protobuf' | 'grpc';
  /** Request headers (gRPC: metadata), lower-case names. */
  headers?: Record<string, string>;
  /** 'gzip' when the body came compressed, else 'none'. */
  compression?: string;
  /** gRPC only: ms from arrival to the call's deadline (the exporter's timeout), if one was sent. */
  deadlineMs?: number;
}

export interface OtlpReceiver {
  readonly port: number;
  readonly requests: OtlpRequest[];
  close(): Promise<void>;
}

const PATHS = new Set(['/v1/metrics', '/v1/traces', '/v1/logs']);

export function flatHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

export function startOtlpReceiver(host = '127.0.0.1', port = 0, onRequest?: (r: OtlpRequest) => void, opts: { hold?: boolean } = {}): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url === undefined || !PATHS.has(req.url)) {
        res.writeHead(404).end();
        return;
      }
      const type = String(req.headers['content-type']);
      const gz = req.headers['content-encoding'] === 'gzip';
      const raw = gz ? gunzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks);
      const meta = { headers: flatHeaders(req.headers), compression: gz ? 'gzip' : 'none' };
      let r: OtlpRequest;
      if (type.startsWith('application/json')) r = { path: req.url, body: JSON.parse(raw.toString('utf8')) as unknown, protocol: 'http/json', ...meta };
      else if (type.startsWith('application/x-protobuf')) r = { path: req.url, body: decodeOtlpProtobuf(req.url, raw), protocol: 'http/protobuf', ...meta };
      else {
        res.writeHead(415).end();
        return;
      }
      if (opts.hold === true) {
        requests.push(r);
        onRequest?.(r);
        return;
      }
      requests.push(r);
      onRequest?.(r);
      // An empty Export*ServiceResponse: '{}' in JSON, zero bytes in protobuf.
      if (r.protocol === 'http/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        requests,
        close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

// --- reading OTLP JSON metrics -----------------------------------------------------------------

interface AnyValue { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean }
interface KeyValue { key: string; value: AnyValue }
interface NumberPoint { attributes?: KeyValue[]; asInt?: string | number; asDouble?: number }
interface HistPoint { attributes?: KeyValue[]; count: string | number; sum?: number; bucketCounts?: Array<string | number>; explicitBounds?: number[] }
interface OtlpMetric { name: string; unit?: string; gauge?: { dataPoints: NumberPoint[] }; sum?: { dataPoints: NumberPoint[]; isMonotonic?: boolean }; histogram?: { dataPoints: HistPoint[] } }
interface MetricsBody { resourceMetrics: Array<{ resource?: { attributes?: KeyValue[] }; scopeMetrics: Array<{ metrics: OtlpMetric[] }> }> }

export function attrsOf(kvs: KeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of kvs ?? []) {
    const v = kv.value;
    out[kv.key] = String(v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue ?? '');
  }
  return out;
}

export interface FlatPoint {
  resource: Record<string, string>;
  metric: string;
  attributes: Record<string, string>;
  /** Sum or gauge value, or histogram count. */
  value: number;
  sum?: number;
}

/** Every data point of a metrics export, flattened. */
export function flattenMetrics(body: unknown): FlatPoint[] {
  const out: FlatPoint[] = [];
  for (const rm of (body as MetricsBody).resourceMetrics ?? []) {
    const resource = attrsOf(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        for (const p of m.gauge?.dataPoints ?? []) out.push({ resource, metric: m.name, attributes: attrsOf(p.attributes), value: Number(p.asInt ?? p.asDouble ?? 0) });
        for (const p of m.sum?.dataPoints ?? []) out.push({ resource, metric: m.name, attributes: attrsOf(p.attributes), value: Number(p.asInt ?? p.asDouble ?? 0) });
        for (const p of m.histogram?.dataPoints ?? []) out.push({ resource, metric: m.name, attributes: attrsOf(p.attributes), value: Number(p.count), ...(p.sum === undefined ? {} : { sum: p.sum }) });
      }
    }
  }
  return out;
}

// --- reading OTLP JSON traces ------------------------------------------------------------------

interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind?: number;
  attributes?: KeyValue[]; status?: { code?: number; message?: string };
}
interface TracesBody { resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> }

export interface FlatSpan {
  resource: Record<string, string>;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: number;
}

/** Every span of a traces export, flattened (ids as the JSON encoding sends them: hex). */
export function flattenSpans(body: unknown): FlatSpan[] {
  const out: FlatSpan[] = [];
  for (const rs of (body as TracesBody).resourceSpans ?? []) {
    const resource = attrsOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          resource, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name,
          kind: s.kind ?? 0, attributes: attrsOf(s.attributes), status: s.status?.code ?? 0,
        });
      }
    }
  }
  return out;
}

// --- reading OTLP JSON logs --------------------------------------------------------------------

interface OtlpLog { severityNumber?: number; severityText?: string; body?: AnyValue; attributes?: KeyValue[]; traceId?: string; spanId?: string; eventName?: string }
interface LogsBody { resourceLogs?: Array<{ resource?: { attributes?: KeyValue[] }; scopeLogs?: Array<{ scope?: { name?: string }; logRecords?: OtlpLog[] }> }> }

export interface FlatLog {
  resource: Record<string, string>;
  scope: string;
  severityNumber: number;
  severityText: string;
  body: string;
  attributes: Record<string, string>;
  /** Hex, '' when the record has no trace context. */
  traceId: string;
  spanId: string;
}

/** Every log record of a logs export, flattened. */
export function flattenLogs(body: unknown): FlatLog[] {
  const out: FlatLog[] = [];
  for (const rl of (body as LogsBody).resourceLogs ?? []) {
    const resource = attrsOf(rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      for (const l of sl.logRecords ?? []) {
        out.push({
          resource, scope: sl.scope?.name ?? '', severityNumber: l.severityNumber ?? 0, severityText: l.severityText ?? '',
          body: String(l.body?.stringValue ?? ''), attributes: attrsOf(l.attributes), traceId: l.traceId ?? '', spanId: l.spanId ?? '',
        });
      }
    }
  }
  return out;
}

if (process.argv[1]?.endsWith('otlp-receiver.ts')) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '4318' }, 'grpc-port': { type: 'string' } } });
  const emit = (req: OtlpRequest): void => { process.stdout.write(JSON.stringify(req) + '\n'); };
  const r = await startOtlpReceiver(values.host, Number(values.port), emit);
  let g: OtlpReceiver | undefined;
  if (values['grpc-port'] !== undefined) {
    const { startOtlpGrpcReceiver } = await import('./otlp-grpc-receiver.ts');
    g = await startOtlpGrpcReceiver(values.host, Number(values['grpc-port']), emit);
  }
  process.stdout.write(JSON.stringify({ ready: true, port: r.port, grpcPort: g?.port }) + '\n');
  process.on('SIGTERM', () => void Promise.all([r.close(), g?.close()]).then(() => process.exit(0)));
}
