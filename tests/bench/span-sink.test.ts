// The bench's span sink counts the spans of an OTLP/HTTP traces export in both encodings the
// agents may use. The bodies are made by the OpenTelemetry SDK's own serializers
// (@opentelemetry/otlp-transformer: what the agents' exporters send), from spans a real SDK tracer
// recorded, so the expected counts come from the SDK, not from the sink's code. No sockets.
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { countSpans } from '../../bench/span-sink.ts';

function recorded(n: number): ReturnType<InMemorySpanExporter['getFinishedSpans']> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  // Two instrumentation scopes, so the spans sit in more than one ScopeSpans.
  const a = provider.getTracer('weft-bench-a');
  const b = provider.getTracer('weft-bench-b');
  for (let i = 0; i < n; i++) (i % 2 === 0 ? a : b).startSpan(`span-${i}`, { attributes: { i, 'http.route': 'demo/items' } }).end();
  return exporter.getFinishedSpans();
}

t.test('protobuf, the agents\' default: every span counted, gzip or not', async (t) => {
  for (const n of [0, 1, 7, 250]) {
    const body = Buffer.from(ProtobufTraceSerializer.serializeRequest(recorded(n)) ?? new Uint8Array());
    t.equal(countSpans(body, 'application/x-protobuf', undefined), n, `${n} spans`);
    t.equal(countSpans(gzipSync(body), 'application/x-protobuf', 'gzip'), n, `${n} spans, gzip`);
  }
});

t.test('JSON: every span counted', async (t) => {
  for (const n of [0, 3, 40]) {
    const body = Buffer.from(JsonTraceSerializer.serializeRequest(recorded(n)) ?? new Uint8Array());
    t.equal(countSpans(body, 'application/json', undefined), n, `${n} spans`);
  }
});
