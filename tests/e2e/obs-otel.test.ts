// OpenTelemetry end to end on the testbed, one mesh (client on n1, server on n2), the encodings in
// a loop: for each of grpc, http/protobuf and http/json (OTEL_EXPORTER_OTLP_PROTOCOL), both
// agents restart with it and a request with a known traceparent must reach the receiver as
// traces (client span at n1, its child server span at n2), metrics (the request counted) and
// logs (access records in the request's trace; a policy denial with its query redacted), all in
// that encoding. The receiver runs in n1's namespace: the HTTP one (tests/common/otlp-receiver.ts)
// and the gRPC one (otlp-grpc-receiver.ts, grpc-js with the spec's .proto subset).
// Control exports its own telemetry over gRPC to a receiver in this process (control runs in the
// root namespace): CSR signings, config-stream lag per agent, snapshot builds, spans, log lines.
// Last, a collector that is down: requests keep working with no added errors, drops are counted.
import t from 'tap';
import https from 'node:https';
import WebSocket from 'ws';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { flattenLogs, flattenMetrics, flattenSpans, type OtlpRequest } from '../common/otlp-receiver.ts';
import { startOtlpGrpcReceiver } from '../common/otlp-grpc-receiver.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';
import { otlpReceiverOnNode } from './helpers.ts';

const tb = await withTestbed(t, {
  name: 'obs-otel',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const receiver = await otlpReceiverOnNode(tb, 'n1', 4318, 4317);
t.teardown(() => receiver.stop());
const controlRx = await startOtlpGrpcReceiver('127.0.0.1', 0);
t.teardown(() => controlRx.close());

const denyAdmin = {
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-admin', namespace: 'demo' },
  spec: { selector: { matchLabels: { app: 'server' } }, action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }] },
};
const common = {
  OTEL_SERVICE_NAME: 'obs-otel-agent',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=testbed',
  OTEL_METRIC_EXPORT_INTERVAL: '1000',
  OTEL_BSP_SCHEDULE_DELAY: '200',
  OTEL_BLRP_SCHEDULE_DELAY: '200',
  WEFT_ACCESS_LOG: 'true',
};
const envFor = (protocol: string): Record<string, string> => ({
  ...common,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? receiver.grpcEndpoint ?? '' : receiver.endpoint,
});

const mesh = await Mesh.start(tb, {
  cluster: {
    meshedNamespaces: ['demo'],
    services: [{ name: 'server', namespace: 'demo', clusterIP: '10.96.0.10', port: 80, targetPort: 8080, selector: 'server' }],
    extraObjects: [denyAdmin],
  },
  agentEnv: envFor('grpc'),
  controlEnv: {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${controlRx.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_METRIC_EXPORT_INTERVAL: '1000', OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_BLRP_SCHEDULE_DELAY: '200',
  },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--name', 'server']);

interface Get { ok: boolean; status: number }
async function get(url: string, headers: string[] = []): Promise<Get> {
  const r = await mesh.runApp('client', 'l7-client.ts', ['get', '--url', url, ...headers.flatMap((h) => ['--header', h])]);
  const last = r.stdout[r.stdout.length - 1] as unknown as Get | undefined;
  if (last?.ok !== true) throw new Error(`l7-client get ${url}: ${JSON.stringify(last)} ${r.stderr}`);
  return last;
}

const inProtocol = (protocol: string, path: string): OtlpRequest[] => receiver.requests.filter((r) => r.protocol === protocol && r.path === path);
let round = 0;

for (const protocol of ['grpc', 'http/protobuf', 'http/json'] as const) {
  t.test(`${protocol}: traces, metrics and logs from both agents`, async (t) => {
    if (round++ > 0) {
      // Both agents take the encoding: restarted with it (the SDK reads its settings at start).
      for (const n of ['n1', 'n2']) {
        await mesh.stopAgent(n);
        await mesh.startAgent(n, envFor(protocol));
      }
      await Promise.all(['n1', 'n2'].map((n) => mesh.waitReady(n)));
    }
    const trace = `${round}`.padStart(2, '0') + '3f2a7c1b9e8d4f6a5b4c3d2e1f0a9b'.slice(0, 30);
    const caller = `00-${trace}-1a2b3c4d5e6f7a8b-01`;
    t.equal((await get('http://10.96.0.10/headers', [`traceparent: ${caller}`])).status, 200);
    t.equal((await get('http://10.96.0.10/admin/users?token=s3cret', [`traceparent: ${caller}`])).status, 403, 'the DENY policy answered');

    const spans = (): ReturnType<typeof flattenSpans> => inProtocol(protocol, '/v1/traces').flatMap((r) => flattenSpans(r.body)).filter((s) => s.traceId === trace);
    await mesh.waitUntil(() => spans().filter((s) => s.attributes['url.path'] === '/headers').length >= 2, 30_000, `client and server spans over ${protocol}`);
    const client = spans().find((s) => s.kind === 3 && s.attributes['url.path'] === '/headers');
    const server = spans().find((s) => s.kind === 2 && s.attributes['url.path'] === '/headers');
    t.equal(client?.resource['k8s.node.name'], 'n1');
    t.equal(server?.resource['k8s.node.name'], 'n2');
    t.equal(server?.parentSpanId, client?.spanId, 'the server span is the client span\'s child');
    t.equal(client?.resource['service.name'], 'obs-otel-agent', 'OTEL_SERVICE_NAME');
    t.equal(client?.resource['deployment.environment'], 'testbed', 'OTEL_RESOURCE_ATTRIBUTES');

    await mesh.waitUntil(() => inProtocol(protocol, '/v1/metrics').some((r) => flattenMetrics(r.body).some((p) => p.metric === 'weft.http.requests' && p.resource['k8s.node.name'] === 'n1')), 30_000, `metrics over ${protocol}`);
    const points = flattenMetrics([...inProtocol(protocol, '/v1/metrics')].reverse().find((r) => flattenMetrics(r.body).some((p) => p.metric === 'weft.http.requests'))?.body);
    t.ok(points.filter((p) => p.metric === 'weft.http.requests').reduce((n, p) => n + p.value, 0) >= 1, 'requests counted');

    const logs = (): ReturnType<typeof flattenLogs> => inProtocol(protocol, '/v1/logs').flatMap((r) => flattenLogs(r.body));
    await mesh.waitUntil(() => logs().some((l) => l.attributes['event.name'] === 'weft.access' && l.traceId === trace && l.resource['k8s.node.name'] === 'n2')
      && logs().some((l) => l.body === 'request denied by policy'), 30_000, `access and policy log records over ${protocol}`);
    const access = logs().filter((l) => l.attributes['event.name'] === 'weft.access' && l.traceId === trace);
    t.ok(access.some((l) => l.resource['k8s.node.name'] === 'n1') && access.some((l) => l.resource['k8s.node.name'] === 'n2'), 'access records from both agents, in the request\'s trace');
    t.ok(access.some((l) => l.spanId === client?.spanId), 'n1\'s record carries its client span');
    const denied = logs().find((l) => l.body === 'request denied by policy' && (l.attributes.path ?? '').startsWith('/admin/users'));
    t.equal(denied?.severityText, 'WARN');
    t.equal(denied?.attributes.path, '/admin/users?token=REDACTED', 'the query value redacted, as on the other outputs');
    t.equal(denied?.attributes.policy, 'demo/deny-admin');
    t.notOk(JSON.stringify(logs()).includes('s3cret'), 'the secret is in no log record');
  });
}

t.test('control exports its own telemetry (gRPC), and serves it on /metrics', async (t) => {
  const m = (): ReturnType<typeof flattenMetrics> => controlRx.requests.filter((r) => r.path === '/v1/metrics').flatMap((r) => flattenMetrics(r.body));
  await mesh.waitUntil(() => m().some((p) => p.metric === 'weft.control.config.lag' && p.attributes.node === 'n2'), 30_000, 'control metrics with both agents');
  const last = (name: string, attrs: Record<string, string> = {}): number | undefined => [...m()].reverse().find((p) => p.metric === name && Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))?.value;
  t.ok((last('weft.control.csr.signed') ?? 0) >= 2, 'CSR signings counted (each agent got its workload certificates)');
  t.ok((last('weft.control.csr.sign.duration') ?? 0) >= 2, 'their latency recorded');
  t.equal(last('weft.control.agents.connected'), 2);
  t.ok((last('weft.control.config.sent_version', { node: 'n1' }) ?? 0) >= 1, 'version sent to n1');
  t.ok((last('weft.control.snapshot.builds') ?? 0) >= 1, 'snapshot builds counted');
  const spans = controlRx.requests.filter((r) => r.path === '/v1/traces').flatMap((r) => flattenSpans(r.body));
  t.ok(spans.some((s) => s.name === 'csr.sign' && s.resource['service.name'] === 'weft-control'), 'a span per CSR signing');
  t.ok(spans.some((s) => s.name === 'snapshot.build'), 'a span per snapshot build');
  const logs = controlRx.requests.filter((r) => r.path === '/v1/logs').flatMap((r) => flattenLogs(r.body));
  t.ok(logs.some((l) => l.body === 'agent streaming' && l.scope === 'weft-control'), 'control\'s log lines as log records');

  // A dashboard live view open while /metrics is read.
  await mesh.waitUntil(() => mesh.dashboardUrl() !== null, 10_000, 'the dashboard URL');
  const view = new WebSocket(new URL('/api/tap', (mesh.dashboardUrl() as string).replace(/^http/, 'ws')));
  t.teardown(() => view.terminate());
  await new Promise<void>((resolve, reject) => { view.once('open', () => resolve()); view.once('error', reject); });
  const port = Number(/"msg":"listening","address":"127\.0\.0\.1:(\d+)"/.exec(mesh.controlLog())?.[1]);
  const ca = await readFile(join(mesh.caDir, 'ca.crt'), 'utf8');
  const get = (path: string): Promise<string> => new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, ca, servername: 'localhost' }, (res) => {
      let s = '';
      res.setEncoding('utf8').on('data', (d: string) => (s += d)).on('end', () => resolve(s));
    }).on('error', reject);
  });
  // A refusal (unknown route on the API port): counted by reason, on /metrics and over OTLP.
  await get('/no-such-route');
  const text = await get('/metrics');
  await mesh.waitUntil(() => (last('weft.rejected_input', { reason: 'api_route' }) ?? 0) >= 1, 15_000, 'the refusal in control\'s OTLP export');
  t.pass('refusals by reason over OTLP (weft.rejected_input)');
  const prom = parseProm(text);
  t.ok(sumOf(prom, 'weft_control_csr_signed_total', {}) >= 2, '/metrics: CSR signings');
  t.ok(prom.some((x) => x.name === 'weft_control_config_lag_versions' && x.labels.node === 'n1'), '/metrics: lag per agent');
  t.equal(sumOf(prom, 'weft_control_agents_connected', {}), 2);
  t.equal(sumOf(prom, 'weft_control_dashboard_connections', {}), 1, '/metrics: the open dashboard view');
  view.terminate();
});

t.test('a collector that is down costs the data plane nothing; the drops are counted', async (t) => {
  const down = { ...envFor('grpc'), OTEL_EXPORTER_OTLP_ENDPOINT: `http://${tb.node('n1').ip}:4999`, OTEL_EXPORTER_OTLP_TIMEOUT: '500', OTEL_BSP_EXPORT_TIMEOUT: '1000', OTEL_BLRP_EXPORT_TIMEOUT: '1000' };
  for (const n of ['n1', 'n2']) {
    await mesh.stopAgent(n);
    await mesh.startAgent(n, down);
  }
  await Promise.all(['n1', 'n2'].map((n) => mesh.waitReady(n)));
  const r = await mesh.runApp('client', 'l7-client.ts', ['load', '--urls', 'http://10.96.0.10/', '--requests', '200', '--concurrency', '4']);
  const res = r.stdout[r.stdout.length - 1] as { statuses?: Record<string, number> };
  t.same(res.statuses, { 200: 200 }, 'every request answered 200 with no collector');
  await mesh.waitUntil(async () => {
    const a = await mesh.admin('n1', '/metrics');
    const s = parseProm(a.body as string);
    return sumOf(s, 'weft_otel_dropped_total', { signal: 'traces', reason: 'export_failed' }) > 0 && sumOf(s, 'weft_otel_dropped_total', { signal: 'logs' }) > 0;
  }, 30_000, 'n1 to count the spans and log records it could not export');
  const s = parseProm((await mesh.admin('n1', '/metrics')).body as string);
  t.ok(sumOf(s, 'weft_otel_dropped_total', { signal: 'traces' }) > 0, 'spans lost, counted');
  t.ok(sumOf(s, 'weft_http_requests_total', { http_response_status_code: '200' }) >= 200, 'and the requests themselves were served');
});
