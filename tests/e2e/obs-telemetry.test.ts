// Observability end to end on the testbed: after known traffic, /metrics and an OTLP export carry
// the expected series and values on both agents; the live tap delivers filtered events; a tap
// consumer that stops reading costs dropped (and counted) events, never stalled traffic.
import t from 'tap';
import WebSocket from 'ws';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { flattenMetrics } from '../common/otlp-receiver.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';
import { otlpReceiverOnNode, tcpClient } from './helpers.ts';

const tb = await withTestbed(t, {
  name: 'obs-tel',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'local', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});

// The OTLP receiver runs inside n1's namespace: the testbed has no route to the root namespace.
const receiver = await otlpReceiverOnNode(tb, 'n1');
t.teardown(() => receiver.stop());
const otlp = receiver.requests;

const mesh = await Mesh.start(tb, {
  cluster: {
    meshedNamespaces: ['demo'],
    services: [{ name: 'server', namespace: 'demo', clusterIP: '10.96.0.10', port: 80, targetPort: 8080, selector: 'server' }],
  },
  agentEnv: {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    OTEL_SERVICE_NAME: 'obs-agent',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=testbed',
    WEFT_TAP_MAX_BUFFERED_BYTES: '4096',
  },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);
await mesh.startApp('local', 'tcp-server.ts', ['--port', '8080']);

const metrics = async (node: string) => {
  const a = await mesh.admin(node, '/metrics');
  if (a.status !== 200) throw new Error(`/metrics on ${node}: ${a.status}`);
  return parseProm(a.body as string);
};

function tapSocket(node: string, query: string): Promise<{ ws: WebSocket; events: Array<Record<string, unknown>> }> {
  const ws = new WebSocket(`ws+unix://${mesh.adminSocket(node)}:/tap${query}`);
  const events: Array<Record<string, unknown>> = [];
  ws.on('message', (d) => events.push(JSON.parse(String(d)) as Record<string, unknown>));
  return new Promise((resolve, reject) => {
    // Resolve on the agent's greeting: from then on the workers forward events.
    ws.once('message', () => resolve({ ws, events }));
    ws.once('error', reject);
  });
}

const BYTES = 10_000;
const CONNS = 3;
// The sample client opens each connection with its mode line before the payload.
const MODE_LINE = 'ECHO\n'.length;

t.test('TCP metrics after known traffic: Prometheus text on both agents', async (t) => {
  const r = await tcpClient(mesh, 'client', '10.96.0.10', 80, 'echo', ['--bytes', String(BYTES), '--connections', String(CONNS)]);
  t.ok(r.ok, 'the traffic went through');
  const edge = { direction: 'outbound', source_workload: 'client', source_namespace: 'demo', destination_workload: 'server', destination_service: 'demo/server', tls: 'mutual' };
  let s = await metrics('n1');
  t.equal(sumOf(s, 'weft_tcp_connections_opened_total', edge), CONNS, 'n1 counted the opened connections');
  t.equal(sumOf(s, 'weft_tcp_connections_closed_total', { ...edge, failed: 'false' }), CONNS, 'closed, none failed');
  t.equal(sumOf(s, 'weft_tcp_connections_closed_total', { ...edge, failed: 'true' }), 0);
  t.equal(sumOf(s, 'weft_tcp_sent_bytes_total', edge), CONNS * (BYTES + MODE_LINE), 'bytes sent to the server (mode line + payload)');
  t.equal(sumOf(s, 'weft_tcp_received_bytes_total', edge), CONNS * BYTES, 'bytes received back (echo)');
  t.equal(sumOf(s, 'weft_tcp_connection_duration_seconds_count', edge), CONNS, 'a duration per connection');
  const series = s.find((x) => x.name === 'weft_tcp_connections_opened_total' && x.labels.destination_workload === 'server');
  t.equal(series?.labels.source_identity, 'spiffe://cluster.local/ns/demo/sa/client', 'source identity label');
  t.equal(series?.labels.destination_identity, 'spiffe://cluster.local/ns/demo/sa/server', 'destination identity label');
  t.notOk(JSON.stringify(series?.labels).includes(tb.pod('server').ip), 'no pod IPs in labels');
  for (const name of ['weft_http_requests_total', 'weft_policy_denials_total', 'weft_http_retries_total', 'weft_http_timeouts_total', 'weft_outlier_ejections_total', 'weft_protocol_detection_timeouts_total', 'weft_tap_dropped_events_total']) {
    t.match((await mesh.admin('n1', '/metrics')).body as string, `# TYPE ${name} counter`, `${name} is registered`);
  }
  s = await metrics('n2');
  const inbound = { direction: 'inbound', source_identity: 'spiffe://cluster.local/ns/demo/sa/client', destination_workload: 'server', tls: 'mutual' };
  t.equal(sumOf(s, 'weft_tcp_connections_opened_total', inbound), CONNS, 'n2 counted the inbound leg with the peer identity');
  t.equal(sumOf(s, 'weft_tcp_sent_bytes_total', inbound), CONNS * (BYTES + MODE_LINE));
  t.equal(sumOf(s, 'weft_tcp_received_bytes_total', inbound), CONNS * BYTES);
});

t.test('OTLP export carries the same series, with the resource from OTEL_* settings', async (t) => {
  const want = (p: ReturnType<typeof flattenMetrics>[number]): boolean =>
    p.resource['k8s.node.name'] === 'n1' && p.metric === 'weft.tcp.connections.opened' && p.attributes.destination_service === 'demo/server';
  // Bytes are recorded when a connection closes: wait for an export taken after all of them closed.
  const closedIn = (body: unknown): boolean => flattenMetrics(body).filter((x) => x.resource['k8s.node.name'] === 'n1' && x.metric === 'weft.tcp.connection.duration' && x.attributes.destination_service === 'demo/server').reduce((n, x) => n + x.value, 0) === CONNS;
  await mesh.waitUntil(() => otlp.some((r) => r.path === '/v1/metrics' && closedIn(r.body)), 15_000, 'an OTLP export with the closed connections');
  const last = [...otlp].reverse().find((r) => r.path === '/v1/metrics' && closedIn(r.body));
  const points = flattenMetrics(last?.body);
  const p = points.find(want);
  t.equal(p?.resource['service.name'], 'obs-agent', 'OTEL_SERVICE_NAME wins over the default');
  t.equal(p?.resource['deployment.environment'], 'testbed', 'OTEL_RESOURCE_ATTRIBUTES applied');
  t.equal(p?.attributes.source_identity, 'spiffe://cluster.local/ns/demo/sa/client');
  const sum = (metric: string) => points.filter((x) => x.resource['k8s.node.name'] === 'n1' && x.metric === metric && x.attributes.destination_service === 'demo/server').reduce((n, x) => n + x.value, 0);
  t.equal(sum('weft.tcp.sent'), CONNS * (BYTES + MODE_LINE), 'sent bytes');
  t.equal(sum('weft.tcp.received'), CONNS * BYTES, 'received bytes');
  t.equal(sum('weft.tcp.connection.duration'), CONNS, 'histogram count');
});

t.test('golden metrics, edges and top from the same aggregates', async (t) => {
  const svc = (await mesh.admin('n1', '/stats?by=service')).body as { rows: Array<{ key: { service: string }; tcp: { connectionsOpened: number; bytesSent: number; failureRate: number | null } }> };
  const row = svc.rows.find((r) => r.key.service === 'demo/server');
  t.equal(row?.tcp.connectionsOpened, CONNS);
  t.equal(row?.tcp.bytesSent, CONNS * (BYTES + MODE_LINE));
  const wl = (await mesh.admin('n2', '/stats?by=workload')).body as { rows: Array<{ key: { workload: string }; tcp: { connectionsOpened: number } }> };
  t.equal(wl.rows.find((r) => r.key.workload === 'server')?.tcp.connectionsOpened, CONNS, 'server workload on n2');
  const bad = await mesh.admin('n1', '/stats?by=pod');
  t.equal(bad.status, 400, 'unknown grouping refused');
  const e = (await mesh.admin('n1', '/edges')).body as { edges: Array<{ source: { workload: string; identity: string }; destination: { workload: string; identity: string }; connections: number }> };
  const edge = e.edges.find((x) => x.source.workload === 'client' && x.destination.workload === 'server');
  t.equal(edge?.connections, CONNS);
  t.equal(edge?.destination.identity, 'spiffe://cluster.local/ns/demo/sa/server');
  const top = (await mesh.admin('n1', '/top')).body as { destinations: Array<{ destination: string }> };
  t.ok(top.destinations.some((d) => d.destination === 'demo/server'), 'the service is among the most hit');
});

t.test('live tap: filtered events with identities, bytes and outcome', async (t) => {
  const tap = await tapSocket('n1', '?workload=server');
  t.teardown(() => tap.ws.terminate());
  await tcpClient(mesh, 'client', tb.pod('local').ip, 8080, 'echo', ['--bytes', '100']);
  await tcpClient(mesh, 'client', '10.96.0.10', 80, 'echo', ['--bytes', '1234', '--connections', '2']);
  await mesh.waitUntil(() => tap.events.filter((e) => e.type === 'connection').length >= 2, 10_000, 'two tap events');
  await new Promise((r) => setTimeout(r, 300));
  const conns = tap.events.filter((e) => e.type === 'connection') as Array<{ destination: { workload: string; service: string; identity: string }; source: { workload: string; identity: string }; bytesSent: number; bytesReceived: number; outcome: string; durationMs: number }>;
  t.equal(conns.length, 2, 'only the connections to the server (the filter ran on the agent)');
  for (const c of conns) {
    t.equal(c.destination.workload, 'server');
    t.equal(c.destination.service, 'demo/server');
    t.equal(c.source.identity, 'spiffe://cluster.local/ns/demo/sa/client');
    t.equal(c.bytesSent, 1234 + MODE_LINE);
    t.equal(c.bytesReceived, 1234);
    t.equal(c.outcome, 'ok');
  }
  const refused = new WebSocket(`ws+unix://${mesh.adminSocket('n1')}:/tap?pod=x`);
  const status = await new Promise<number>((resolve) => {
    refused.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
    refused.once('error', () => resolve(-1));
  });
  t.equal(status, 400, 'an unknown filter is refused');
});

t.test('a tap consumer that stops reading loses events; traffic does not stall', async (t) => {
  const slow = await tapSocket('n1', '');
  t.teardown(() => slow.ws.terminate());
  slow.ws.pause(); // stop reading: the kernel buffers fill, then the agent's queue limit applies
  const before = sumOf(await metrics('n1'), 'weft_tap_dropped_events_total', { stage: 'consumer' });
  for (let i = 0; i < 2; i++) {
    const r = await tcpClient(mesh, 'client', tb.pod('local').ip, 8080, 'echo', ['--bytes', '1', '--connections', '200']);
    t.ok(r.ok, `burst ${i + 1}: all 200 connections completed with a stalled tap consumer`);
  }
  await mesh.waitUntil(async () => sumOf(await metrics('n1'), 'weft_tap_dropped_events_total', { stage: 'consumer' }) > before, 10_000, 'drops to be counted');
  const dump = (await mesh.admin('n1', '/config_dump/telemetry')).body as { telemetry: { tap: { dropped: number; consumers: Array<{ dropped: number }> } } };
  t.ok(dump.telemetry.tap.consumers.some((c) => c.dropped > 0), 'the slow consumer is the one that lost events');
  slow.ws.resume();
  // The notice rides ahead of the next event the consumer can take.
  for (let i = 0; i < 10 && !slow.events.some((e) => e.type === 'dropped'); i++) {
    await tcpClient(mesh, 'client', tb.pod('local').ip, 8080, 'echo', ['--bytes', '1']);
    await new Promise((r) => setTimeout(r, 300));
  }
  const notice = slow.events.find((e) => e.type === 'dropped') as { events: number } | undefined;
  t.ok(notice !== undefined && notice.events > 0, 'the consumer learned how many events it missed');
});
