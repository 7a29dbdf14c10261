// L7 observability end to end on the testbed (client on n1, server on n2, agents exporting to an
// OTLP/HTTP receiver on n1):
// - success rate under injected failures: a known share of 5xx answers gives the same counts in
//   /metrics on both agents and the same success rate in /stats and in `weft stat`;
// - a request is one trace across two agents: a client span at n1, its child server span at n2,
//   the app sees a traceparent that is the server span's; a caller's trace id is kept;
// - with the sampling ratio at 0 no span is exported, and the traceparent still reaches the app;
//   an agent with WEFT_TELEMETRY=false records nothing and passes the traceparent on.
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { flattenSpans, type FlatSpan } from '../common/otlp-receiver.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';
import { parseTraceparent } from '../../agent/telemetry/trace-context.ts';
import { otlpReceiverOnNode } from './helpers.ts';

const WEFT = fileURLToPath(new URL('../../dist/weft.mjs', import.meta.url));
const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';
const SERVER_ID = 'spiffe://cluster.local/ns/demo/sa/server';

const tb = await withTestbed(t, {
  name: 'obs-l7',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const receiver = await otlpReceiverOnNode(tb, 'n1');
t.teardown(() => receiver.stop());

// Two Services on the same pods: `faulty` carries only the success-rate traffic, so its rows are
// exact whatever else the file sends to `server`.
const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_METRIC_EXPORT_INTERVAL: '60000' };
const mesh = await Mesh.start(tb, {
  cluster: {
    meshedNamespaces: ['demo'],
    services: [
      { name: 'server', namespace: 'demo', clusterIP: '10.96.0.10', port: 80, targetPort: 8080, selector: 'server' },
      { name: 'faulty', namespace: 'demo', clusterIP: '10.96.0.11', port: 80, targetPort: 8080, selector: 'server' },
    ],
  },
  // A long window: no rate sample falls inside this file's traffic, so /stats covers all of it.
  agentEnv: { ...tracing, WEFT_STATS_WINDOW_SECONDS: '600' },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--name', 'server']);

interface Get { ok: boolean; status: number; body: { headers?: Record<string, string> } }
async function get(url: string, headers: string[] = []): Promise<Get> {
  const r = await mesh.runApp('client', 'l7-client.ts', ['get', '--url', url, ...headers.flatMap((h) => ['--header', h])]);
  const last = r.stdout[r.stdout.length - 1] as unknown as Get | undefined;
  if (last?.ok !== true) throw new Error(`l7-client get ${url}: ${JSON.stringify(last)} ${r.stderr}`);
  return last;
}

const spans = (): FlatSpan[] => receiver.requests.filter((r) => r.path === '/v1/traces').flatMap((r) => flattenSpans(r.body));
async function traceOf(traceId: string, n: number): Promise<FlatSpan[]> {
  await mesh.waitUntil(() => spans().filter((s) => s.traceId === traceId).length >= n, 15_000, `${n} spans of trace ${traceId}`);
  return spans().filter((s) => s.traceId === traceId);
}

function weft(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [WEFT, '--socket', mesh.adminSocket('n1'), ...args], { timeout: 30_000 }, (err, stdout) => {
      resolve({ code: err === null ? 0 : 1, stdout });
    });
  });
}

const OK = 30;
const FAILED = 10;

t.test('success rate under injected failures: Prometheus, /stats and weft stat agree', async (t) => {
  // Round-robin over the URLs: exactly 3 of every 4 requests succeed. 500 is final (never retried).
  const base = 'http://10.96.0.11';
  const r = await mesh.runApp('client', 'l7-client.ts', ['load', '--urls', [`${base}/`, `${base}/`, `${base}/`, `${base}/status/500`].join(','), '--requests', String(OK + FAILED), '--concurrency', '4']);
  const res = r.stdout[r.stdout.length - 1] as { statuses?: Record<string, number> };
  t.same(res.statuses, { 200: OK, 500: FAILED }, 'the app saw the injected failures');

  const out = parseProm((await mesh.admin('n1', '/metrics')).body as string);
  const edge = { direction: 'outbound', source_workload: 'client', destination_workload: 'server', destination_service: 'demo/faulty', tls: 'mutual' };
  t.equal(sumOf(out, 'weft_http_requests_total', { ...edge, http_response_status_code: '200' }), OK, 'n1: successes');
  t.equal(sumOf(out, 'weft_http_requests_total', { ...edge, http_response_status_code: '500' }), FAILED, 'n1: failures');
  t.equal(sumOf(out, 'weft_http_request_duration_seconds_count', edge), OK + FAILED, 'n1: a duration per request');
  t.equal(sumOf(out, 'weft_http_retries_total', {}), 0, 'nothing retried');
  const inn = parseProm((await mesh.admin('n2', '/metrics')).body as string);
  const inbound = { direction: 'inbound', source_identity: CLIENT_ID, destination_workload: 'server', tls: 'mutual' };
  t.equal(sumOf(inn, 'weft_http_requests_total', { ...inbound, http_response_status_code: '200' }), OK, 'n2: successes');
  t.equal(sumOf(inn, 'weft_http_requests_total', { ...inbound, http_response_status_code: '500' }), FAILED, 'n2: failures');

  const want = OK / (OK + FAILED);
  const stats = (await mesh.admin('n1', '/stats?by=service')).body as { rows: Array<{ key: { service: string }; http: { requests: number; successRate: number | null } | null }> };
  const row = stats.rows.find((x) => x.key.service === 'demo/faulty');
  t.equal(row?.http?.requests, OK + FAILED, '/stats: requests');
  t.equal(row?.http?.successRate, want, '/stats: success rate');
  const wl = (await mesh.admin('n2', '/stats?by=workload')).body as { rows: Array<{ key: { workload: string }; http: { successRate: number | null } | null }> };
  t.equal(wl.rows.find((x) => x.key.workload === 'server')?.http?.successRate, want, '/stats on n2: the server workload');

  const json = await weft(['stat', 'service', '-o', 'json']);
  t.equal(json.code, 0);
  const cli = JSON.parse(json.stdout) as typeof stats;
  t.equal(cli.rows.find((x) => x.key.service === 'demo/faulty')?.http?.successRate, want, 'weft stat -o json');
  const human = await weft(['stat', 'service']);
  t.match(human.stdout, /demo\/faulty\s.*\s75\.00%\s/, 'weft stat table: SUCCESS 75.00%');
});

t.test('one trace across two agents: client span at n1, server span at n2, the app sees the server span', async (t) => {
  const a = await get('http://10.96.0.10/headers');
  const seen = parseTraceparent(a.body.headers?.traceparent);
  t.ok(seen !== null, 'the app got a traceparent though the caller sent none');
  if (seen === null) return;
  t.equal(seen.flags & 1, 1, 'sampled (parentbased_always_on by default)');
  const trace = await traceOf(seen.traceId, 2);
  const client = trace.find((s) => s.kind === 3);
  const server = trace.find((s) => s.kind === 2);
  t.equal(trace.length, 2, 'one span per agent');
  t.equal(client?.resource['k8s.node.name'], 'n1', 'the client span comes from the source agent');
  t.equal(server?.resource['k8s.node.name'], 'n2', 'the server span from the destination agent');
  t.equal(client?.parentSpanId, '', 'the client span starts the trace');
  t.equal(server?.parentSpanId, client?.spanId, 'the server span is the client span\'s child');
  t.equal(seen.spanId, server?.spanId, "the app's parent is the server span");
  t.match(client?.attributes, {
    'weft.direction': 'outbound', 'weft.source.workload': 'client', 'weft.source.namespace': 'demo', 'weft.source.identity': CLIENT_ID,
    'weft.destination.workload': 'server', 'weft.destination.namespace': 'demo', 'weft.destination.identity': SERVER_ID,
    'weft.destination.service': 'demo/server', 'weft.tls': 'mutual', 'http.request.method': 'GET', 'http.response.status_code': '200',
    'server.address': '10.96.0.10', 'url.path': '/headers', 'http.request.resend_count': '0',
  });
  t.match(server?.attributes, {
    'weft.direction': 'inbound', 'weft.source.identity': CLIENT_ID, 'weft.source.namespace': 'demo', 'weft.destination.workload': 'server',
    'weft.destination.identity': SERVER_ID, 'weft.tls': 'mutual', 'http.request.method': 'GET', 'http.response.status_code': '200',
  });
  t.equal(client?.status, 0, 'success leaves the status unset');
  t.equal(client?.resource['service.name'], 'weft-agent');
});

t.test("a caller's traceparent: its trace continues through both agents; 5xx marks the spans failed", async (t) => {
  const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const a = await get('http://10.96.0.10/headers', [`traceparent: ${caller}`, 'tracestate: congo=t61rcWkgMzE']);
  const seen = parseTraceparent(a.body.headers?.traceparent);
  t.equal(seen?.traceId, '0af7651916cd43dd8448eb211c80319c', 'same trace id at the app');
  t.equal(a.body.headers?.tracestate, 'congo=t61rcWkgMzE', 'tracestate passed on');
  const trace = await traceOf('0af7651916cd43dd8448eb211c80319c', 2);
  const client = trace.find((s) => s.kind === 3);
  t.equal(client?.parentSpanId, 'b7ad6b7169203331', "the client span is the caller's child");
  t.equal(trace.find((s) => s.kind === 2)?.parentSpanId, client?.spanId);

  const failing = '00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  await get('http://10.96.0.10/status/500', [`traceparent: ${failing}`]);
  const f = await traceOf('1af7651916cd43dd8448eb211c80319c', 2);
  for (const s of f) {
    t.equal(s.status, 2, `${s.kind === 3 ? 'client' : 'server'} span: error status`);
    t.equal(s.attributes['http.response.status_code'], '500');
  }
});

t.test('ratio 0 at the source, telemetry off at the destination: nothing exported, the traceparent still reaches the app', async (t) => {
  await Promise.all(['n1', 'n2'].map((n) => mesh.stopAgent(n)));
  const before = spans().length;
  // One restart for both cases: ratio 0 (unsampled parents stay unsampled downstream too: the
  // unit tests cover the destination side) and WEFT_TELEMETRY=false, which passes headers on.
  await mesh.startAgent('n1', { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
  await mesh.startAgent('n2', { WEFT_TELEMETRY: 'false' });
  await Promise.all(['n1', 'n2'].map((n) => mesh.waitReady(n)));
  const fresh = await get('http://10.96.0.10/headers');
  const seen = parseTraceparent(fresh.body.headers?.traceparent);
  t.ok(seen !== null, 'a traceparent was started');
  t.equal(seen?.flags, 0, 'not sampled');
  const caller = '00-2af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
  const kept = await get('http://10.96.0.10/headers', [`traceparent: ${caller}`]);
  const k = parseTraceparent(kept.body.headers?.traceparent);
  t.equal(k?.traceId, '2af7651916cd43dd8448eb211c80319c', "the caller's trace id kept");
  t.not(k?.spanId, 'b7ad6b7169203331', 'with a new parent span id from the mesh');
  // Several export intervals (OTEL_BSP_SCHEDULE_DELAY=200): anything recorded would be out by now.
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(spans().length, before, 'no spans exported');
  const requests = async (node: string): Promise<number> => sumOf(parseProm((await mesh.admin(node, '/metrics')).body as string), 'weft_http_requests_total', {});
  t.equal(await requests('n1'), 2, 'the source agent still counts its requests');
  t.equal(await requests('n2'), 0, 'the destination agent with telemetry off records nothing');
});
