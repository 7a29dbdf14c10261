// Unit/in-process: the OTLP producer against a real OTLP/HTTP receiver on loopback, and the span
// recorder's W3C trace context handling with an in-memory exporter.
import t from 'tap';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Aggregates } from '../../../agent/telemetry/aggregates.ts';
import { startOtlpMetrics, otlpMetricsEnabled } from '../../../agent/telemetry/otlp-metrics.ts';
import { connectionContext } from '../../../agent/telemetry/telemetry.ts';
import { createSpanRecorder, formatTraceparent, parseTraceparent } from '../../../agent/telemetry/tracing.ts';
import { createLogger } from '../../../common/log.ts';
import { flattenMetrics, startOtlpReceiver } from '../../common/otlp-receiver.ts';

t.test('OTLP metrics: exported on force flush with resource and values', async (t) => {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${rx.port}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: '600000' };
  t.ok(otlpMetricsEnabled((k) => env[k]));
  t.notOk(otlpMetricsEnabled(() => undefined), 'off without an endpoint');
  const a = new Aggregates();
  const c = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: 'spiffe://cluster.local/ns/a/sa/b', tls: 'mutual', sourceAddress: '', destinationAddress: '' });
  a.openConnection(c);
  a.closeConnection(c, 7, 9, false);
  // The exporter reads the endpoint from process.env, like in the agent.
  const saved = process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT;
  t.teardown(() => { if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT; else process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = saved; });
  const m = await startOtlpMetrics({ env: (k) => env[k], collect: async () => a.snapshot(), log: createLogger('test'), resource: { 'service.name': 'weft-agent', 'k8s.node.name': 'n9' }, startedAt: Date.now() - 1000 });
  t.ok(m !== null);
  await m?.forceFlush();
  await m?.shutdown();
  const points = rx.requests.flatMap((r) => flattenMetrics(r.body));
  const sent = points.find((p) => p.metric === 'weft.tcp.sent');
  t.equal(sent?.value, 7);
  t.equal(sent?.resource['k8s.node.name'], 'n9');
  t.equal(sent?.attributes.source_identity, 'spiffe://cluster.local/ns/a/sa/b');
  t.notOk('source_workload' in (sent?.attributes ?? {}), 'unknown values are left out');
  t.equal(points.find((p) => p.metric === 'weft.tcp.connection.duration')?.value, 1, 'histogram count');
});

t.test('traceparent parsing follows W3C', async (t) => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  t.same(parseTraceparent(tp), { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: 1 });
  t.equal(formatTraceparent(parseTraceparent(tp)!), tp);
  t.equal(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null, 'zero trace id');
  t.equal(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), null, 'version ff');
  t.equal(parseTraceparent('garbage'), null);
});

t.test('span recorder: child of the incoming context; pass-through when export is off', async (t) => {
  const off = createSpanRecorder({ env: () => undefined });
  t.equal(off.exporting, false);
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  t.equal(off.startRequest({ traceparent: tp, kind: 'client', method: 'GET', route: '', path: '/', serverAddress: 's', sourceWorkload: 'a', destinationWorkload: 'b' }).traceparent, tp);
  const exporter = new InMemorySpanExporter();
  const rec = createSpanRecorder({ env: () => undefined, exporter });
  const span = rec.startRequest({ traceparent: tp, kind: 'server', method: 'GET', route: 'items', path: '/items/3', serverAddress: 'svc', sourceWorkload: 'a', destinationWorkload: 'b' });
  const out = parseTraceparent(span.traceparent);
  t.equal(out?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'same trace');
  t.not(out?.spanId, '00f067aa0ba902b7', 'a new span id');
  span.end(503);
  const [s] = exporter.getFinishedSpans();
  t.equal(s.name, 'GET items');
  t.equal(s.parentSpanContext?.spanId, '00f067aa0ba902b7');
  t.equal(s.attributes['http.response.status_code'], 503);
  t.equal(s.status.code, 2, 'error status for 5xx');
  await rec.shutdown();
});
