// In-process: the OTLP metrics producer against a real OTLP/HTTP receiver on loopback (spans:
// tracing.test.ts; every OTEL_* setting and the gRPC encoding: otel-env.test.ts).
import t from 'tap';
import { Aggregates } from '../../../agent/telemetry/aggregates.ts';
import { startOtlpMetrics } from '../../../agent/telemetry/otlp-metrics.ts';
import { otelExportEnabled } from '../../../common/otel/export-enabled.ts';
import { connectionContext } from '../../../agent/telemetry/telemetry.ts';
import { createLogger } from '../../../common/log.ts';
import { flattenMetrics, startOtlpReceiver } from '../../common/otlp-receiver.ts';

for (const protocol of ['http/json', 'http/protobuf'] as const) t.test(`OTLP metrics (${protocol}): exported on force flush with resource and values`, async (t) => {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${rx.port}/v1/metrics`, OTEL_METRIC_EXPORT_INTERVAL: '600000', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol };
  t.ok(otelExportEnabled((k) => env[k], 'METRICS'));
  t.notOk(otelExportEnabled(() => undefined, 'METRICS'), 'off without an endpoint');
  const a = new Aggregates();
  const c = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: 'spiffe://cluster.local/ns/a/sa/b', tls: 'mutual', sourceAddress: '', destinationAddress: '' });
  a.openConnection(c);
  a.closeConnection(c, 7, 9, false);
  // The SDK reads its settings from process.env, like in the agent.
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  t.teardown(() => { for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; } });
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
