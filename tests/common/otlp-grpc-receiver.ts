// An OTLP/gRPC receiver for tests: a real grpc-js server serving the collector's three Export
// services, decoding with the .proto subset in otlp-proto/ (written from the specification's field
// numbers, independent of the exporters' own serializers). Each request is kept in the OTLP JSON
// shape (ids as hex, 64-bit numbers as strings), so otlp-receiver.ts's flatten* helpers read it,
// with its metadata, compression and deadline. `hold`: never answer (a collector that hangs).
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import type { OtlpReceiver, OtlpRequest } from './otlp-receiver.ts';

const DIR = fileURLToPath(new URL('./otlp-proto/', import.meta.url));

const def = loadSync(['trace.proto', 'metrics.proto', 'logs.proto'], {
  includeDirs: [DIR], keepCase: false, longs: String, enums: Number, bytes: Buffer, defaults: false, oneofs: false,
});
const pkg = loadPackageDefinition(def) as unknown as {
  opentelemetry: { proto: { collector: Record<'trace' | 'metrics' | 'logs', { v1: Record<string, { service: ServiceDefinition }> }> } };
};

const HEX_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** The decoded message in its OTLP JSON shape: bytes ids as hex, other buffers dropped. */
function jsonShape(v: unknown, key = ''): unknown {
  if (Buffer.isBuffer(v)) return HEX_FIELDS.has(key) ? v.toString('hex') : v.toString('base64');
  if (Array.isArray(v)) return v.map((x) => jsonShape(x));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonShape(x, k);
    return out;
  }
  return v;
}

export function startOtlpGrpcReceiver(host = '127.0.0.1', port = 0, onRequest?: (r: OtlpRequest) => void, opts: { hold?: boolean } = {}): Promise<OtlpReceiver> {
  const requests: OtlpRequest[] = [];
  const held: Array<sendUnaryData<unknown>> = [];
  const server = new Server();
  const handler = (path: string): UntypedServiceImplementation => ({
    Export(call: ServerUnaryCall<unknown, unknown>, done: sendUnaryData<unknown>) {
      const md = call.metadata.getMap();
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(md)) headers[k] = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
      // grpc-js strips grpc-encoding from the metadata it hands over and decompresses on its own;
      // the call it wraps keeps what the client declared (a test-only read of a private field).
      const encoding = (call as unknown as { call?: { incomingEncoding?: string } }).call?.incomingEncoding;
      const deadline = call.getDeadline();
      const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
      const r: OtlpRequest = {
        path, body: jsonShape(call.request), protocol: 'grpc', headers,
        compression: encoding === undefined || encoding === 'identity' ? 'none' : encoding,
        ...(Number.isFinite(at) ? { deadlineMs: at - Date.now() } : {}),
      };
      requests.push(r);
      onRequest?.(r);
      if (opts.hold === true) held.push(done);
      else done(null, {});
    },
  });
  const c = pkg.opentelemetry.proto.collector;
  server.addService(c.trace.v1.TraceService.service, handler('/v1/traces'));
  server.addService(c.metrics.v1.MetricsService.service, handler('/v1/metrics'));
  server.addService(c.logs.v1.LogsService.service, handler('/v1/logs'));
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err !== null) {
        reject(err);
        return;
      }
      resolve({
        port: bound,
        requests,
        close: () => new Promise<void>((r) => {
          for (const d of held.splice(0)) d({ code: status.UNAVAILABLE, details: 'receiver closing' });
          server.forceShutdown();
          r();
        }),
      });
    });
  });
}
