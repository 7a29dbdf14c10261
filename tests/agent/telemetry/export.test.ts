// In-process: the OTLP metrics producer against a real OTLP/HTTP receiver on loopback (spans:
// tracing.test.ts).
import t from 'tap';
import { Aggregates } from '../../../agent/telemetry/aggregates.ts';
import { startOtlpMetrics } from '../../../agent/telemetry/otlp-metrics.ts';
import { otlpMetricsEnabled } from '../../../agent/telemetry/otlp-enabled.ts';
import { connectionContext } from '../../../agent/telemetry/telemetry.ts';
import { createLogger } from '../../../common/log.ts';
import { flattenMetrics, startOtlpReceiver } from '../../common/otlp-receiver.ts';

for (const protocol of ['http/json', 'http/protobuf'] as const) t.test(`OTLP metrics (${protocol}): exported on force flush with resource and values`, async (t) => {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${rx.port}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: '600000', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol };
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
  t.same([...new Set(rx.requests.map((r) => r.protocol))], [protocol], 'sent in the encoding asked for');
  const points = rx.requests.flatMap((r) => flattenMetrics(r.body));
  const sent = points.find((p) => p.metric === 'weft.tcp.sent');
  t.equal(sent?.value, 7);
  t.equal(sent?.resource['k8s.node.name'], 'n9');
  t.equal(sent?.attributes.source_identity, 'spiffe://cluster.local/ns/a/sa/b');
  t.notOk('source_workload' in (sent?.attributes ?? {}), 'unknown values are left out');
  t.equal(points.find((p) => p.metric === 'weft.tcp.connection.duration')?.value, 1, 'histogram count');
});

t.test('OTLP protocol setting: per signal wins, grpc is refused aloud', async (t) => {
  const { otlpProtocol } = await import('../../../agent/telemetry/otlp-protocol.ts');
  const warned: string[] = [];
  const log = { ...createLogger('test'), warn: (m: string) => { warned.push(m); } };
  t.equal(otlpProtocol(() => undefined, 'METRICS', log), 'http/json', 'json when nothing is set');
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' };
  t.equal(otlpProtocol((k) => env[k], 'TRACES', log), 'http/json', 'the signal setting wins');
  t.equal(otlpProtocol((k) => env[k], 'METRICS', log), 'http/protobuf', 'the general setting otherwise');
  t.equal(otlpProtocol((k) => (k === 'OTEL_EXPORTER_OTLP_PROTOCOL' ? 'grpc' : undefined), 'METRICS', log), 'http/protobuf');
  t.match(warned, [/grpc.*not supported/]);
});
