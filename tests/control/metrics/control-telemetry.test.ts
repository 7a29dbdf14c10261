// Unit: control's own telemetry — the lag rule, the Prometheus text of every family, and the same
// numbers over OTLP/gRPC to a real receiver (tests/common/otlp-grpc-receiver.ts). The sources
// (streams, informers, dashboard) are plain functions here: the e2e (tests/e2e/obs-otel.test.ts)
// reads them from a running control with real agents.
import t from 'tap';
import { ControlTelemetry, configLag, renderControlPrometheus } from '../../../control/metrics/control-telemetry.ts';
import { startControlOtel } from '../../../control/metrics/control-otel.ts';
import { createLogger } from '../../../common/log.ts';
import { parseProm, sumOf } from '../../agent/telemetry/prom-parse.ts';
import { startOtlpGrpcReceiver } from '../../common/otlp-grpc-receiver.ts';
import { flattenMetrics, flattenSpans } from '../../common/otlp-receiver.ts';

const sources = {
  agents: () => [{ node: 'n1', sentVersion: 12, ackedVersion: 9 }, { node: 'n2', sentVersion: 12, ackedVersion: null }],
  discovery: () => [{ kind: 'Pod', lists: 3, watchRestarts: 7, lastError: 'watch closed: 410 Gone' }, { kind: 'Service', lists: 1, watchRestarts: 0, lastError: null }],
  dashboardConnections: () => 2,
  rejections: (): Array<[string, number]> => [['csr_forbidden', 3], ['api_route', 1]],
};

t.test('config lag: sent minus acked; everything sent before the first ack', async (t) => {
  t.equal(configLag(12, 9), 3);
  t.equal(configLag(12, 12), 0);
  t.equal(configLag(12, null), 12);
  t.equal(configLag(5, 7), 0, 'never negative');
});

t.test('Prometheus text: every family with its points', async (t) => {
  const c = new ControlTelemetry(sources);
  c.csr(200, null, 1000, 1030);
  c.csr(200, null, 2000, 2004);
  c.csr(403, null, 3000, 3001);
  c.snapshotBuilt(12, 500, 2, 4000, 4012);
  c.otelDropped('LOGS', 'queue_full', 5);
  const s = parseProm(renderControlPrometheus(c.families()));
  t.equal(sumOf(s, 'weft_control_csr_signed_total', {}), 2, 'refusals are not signings');
  t.equal(sumOf(s, 'weft_control_csr_sign_duration_seconds_count', {}), 2);
  t.equal(sumOf(s, 'weft_control_csr_sign_duration_seconds_bucket', { le: '0.005' }), 1, 'the 4 ms signing in the 5 ms bucket');
  t.equal(sumOf(s, 'weft_control_csr_sign_duration_seconds_bucket', { le: '0.05' }), 2);
  t.equal(sumOf(s, 'weft_control_snapshot_builds_total', {}), 1);
  t.equal(sumOf(s, 'weft_control_config_sent_version', { node: 'n1' }), 12);
  t.equal(sumOf(s, 'weft_control_config_acked_version', { node: 'n1' }), 9);
  t.notOk(s.some((x) => x.name === 'weft_control_config_acked_version' && x.labels.node === 'n2'), 'no acked series before the first ack');
  t.equal(sumOf(s, 'weft_control_config_lag_versions', { node: 'n2' }), 12);
  t.equal(sumOf(s, 'weft_control_agents_connected', {}), 2);
  t.equal(sumOf(s, 'weft_control_discovery_lists_total', { kind: 'Pod' }), 3, 'two relists of Pods');
  t.equal(sumOf(s, 'weft_control_discovery_watch_restarts_total', { kind: 'Pod' }), 7);
  t.equal(sumOf(s, 'weft_control_discovery_watch_restarts_total', { kind: 'Service' }), 0);
  t.equal(sumOf(s, 'weft_control_discovery_watch_failing', { kind: 'Pod' }), 1);
  t.equal(sumOf(s, 'weft_control_discovery_watch_failing', { kind: 'Service' }), 0);
  t.equal(sumOf(s, 'weft_control_dashboard_connections', {}), 2);
  t.equal(sumOf(s, 'weft_otel_dropped_total', { signal: 'logs', reason: 'queue_full' }), 5);
  t.notOk(s.some((x) => x.name === 'weft_rejected_input_total'), 'refusals are rendered by rejections.ts on /metrics, not twice');
});

t.test('over OTLP/gRPC: the same metrics, and spans for CSR signings and snapshot builds', async (t) => {
  const rx = await startOtlpGrpcReceiver();
  t.teardown(() => rx.close());
  const saved = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('OTEL_')).map((k) => [k, process.env[k]]));
  for (const k of Object.keys(saved)) delete process.env[k];
  Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_LOGS_EXPORTER: 'none', OTEL_METRIC_EXPORT_INTERVAL: '600000' });
  t.teardown(() => {
    for (const k of Object.keys(process.env).filter((x) => x.startsWith('OTEL_'))) delete process.env[k];
    Object.assign(process.env, saved);
  });
  const c = new ControlTelemetry(sources);
  const otel = await startControlOtel({ env: (k) => process.env[k], telemetry: c, resource: { 'service.name': 'weft-control' }, log: createLogger('test'), onDrop: () => {} });
  c.csr(200, null, Date.now() - 20, Date.now());
  c.csr(401, null, Date.now() - 5, Date.now());
  c.snapshotBuilt(12, 500, 2, Date.now() - 10, Date.now());
  await otel.forceFlush();
  await otel.shutdown();
  const points = rx.requests.filter((r) => r.path === '/v1/metrics').flatMap((r) => flattenMetrics(r.body));
  t.equal(points.find((p) => p.metric === 'weft.control.csr.signed')?.value, 1);
  t.equal(points.find((p) => p.metric === 'weft.control.csr.sign.duration')?.value, 1, 'histogram count');
  t.equal(points.find((p) => p.metric === 'weft.control.config.lag' && p.attributes.node === 'n1')?.value, 3, 'lag per agent');
  t.equal(points.find((p) => p.metric === 'weft.control.discovery.lists' && p.attributes.kind === 'Pod')?.value, 3);
  t.equal(points.find((p) => p.metric === 'weft.control.dashboard.connections')?.value, 2);
  t.equal(points.find((p) => p.metric === 'weft.rejected_input' && p.attributes.reason === 'csr_forbidden')?.value, 3, 'CSR refusals by reason over OTLP');
  t.equal(points[0]?.resource['service.name'], 'weft-control');
  const spans = rx.requests.filter((r) => r.path === '/v1/traces').flatMap((r) => flattenSpans(r.body));
  t.same(spans.map((s) => s.name).sort(), ['csr.sign', 'csr.sign', 'snapshot.build']);
  t.equal(spans.filter((s) => s.name === 'csr.sign' && s.status === 2).length, 1, 'the refused CSR is an error span');
  t.equal(spans.find((s) => s.name === 'snapshot.build')?.attributes['weft.model.records'], '500');
});
