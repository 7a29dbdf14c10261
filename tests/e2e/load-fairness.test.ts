// Per-workload fairness: a noisy pod floods its node's agent — first with connections, then with
// requests in flight over HTTP/2 and HTTP/1.1 — while a quiet pod on the same node keeps up steady
// checked HTTP and TCP traffic. The noisy pod is held to its limits (connections reset, requests
// answered 503 with weft-error: WEFT_ERR_WORKLOAD_LIMIT), every refusal is counted in
// weft_workload_limited_total under its workload, and the quiet pod loses nothing.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { parseProm } from '../agent/telemetry/prom-parse.ts';
import { proxyStats } from './helpers.ts';

const CONN_LIMIT = 200;
const PENDING_LIMIT = 40;
const FLOOD_CONNECTIONS = 1000;

const tb = await withTestbed(t, {
  name: 'load-fairness',
  nodes: [
    { name: 'a', pods: [{ name: 'noisy', namespace: 'fair' }, { name: 'quiet', namespace: 'fair' }] },
    { name: 'b', pods: [{ name: 'server', namespace: 'fair' }] },
  ],
});
const mesh = await Mesh.start(tb, {
  cluster: { meshedNamespaces: ['fair'] },
  agentEnv: { WEFT_MAX_CONNECTIONS_PER_WORKLOAD: String(CONN_LIMIT), WEFT_MAX_PENDING_REQUESTS_PER_WORKLOAD: String(PENDING_LIMIT) },
});
t.teardown(() => mesh.stop());
const server = tb.pod('server').ip;
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--h2-port', '8081']);
await mesh.startApp('server', 'tcp-server.ts', ['--port', '9000', '--backlog', '4096']);

type Done = Record<string, unknown> & { sent: number; ok: number; failed: number; limited: number; statuses: Record<string, number>; weftErrors: Record<string, number>; errors: Record<string, number>; bytesSent: number; bytesReceived: number; latencyMs: { p50: number; p99: number; max: number } };

async function limitedMetric(node: string): Promise<Map<string, number>> {
  const text = (await mesh.admin(node, '/metrics')).body as string;
  const out = new Map<string, number>();
  for (const s of parseProm(text)) if (s.name === 'weft_workload_limited_total') out.set(`${s.labels.source_namespace}/${s.labels.source_workload}/${s.labels.limit}`, s.value);
  return out;
}

t.test('a noisy pod is held to its limits while its neighbour loses nothing', async (t) => {
  // The quiet pod's steady traffic spans the whole flood (and a little before and after).
  const quietHttp = await mesh.startApp('quiet', 'load-client.ts', ['--url', `http://${server}:8080/echo`, '--concurrency', '2', '--pause-ms', '20', '--duration-ms', '20000', '--bytes', '4096']);
  const quietTcp = await mesh.startApp('quiet', 'load-client.ts', ['--tcp', `${server}:9000`, '--concurrency', '1', '--pause-ms', '50', '--duration-ms', '20000', '--bytes', '16384']);
  await new Promise((r) => setTimeout(r, 1000));

  // 1. Connections: far more than the limit at once, held for a few seconds.
  const flood = await mesh.runApp('noisy', 'hold-client.ts', [
    '--host', server, '--port', '9000', '--connections', String(FLOOD_CONNECTIONS), '--parallel', '200', '--hold', '3000', '--timeout', '60000',
  ], 90_000);
  const held = flood.stdout.find((l) => 'held' in l) as { held: number; failed: number; errors: Record<string, number>; ms: number };
  const connDone = flood.stdout.find((l) => l.done === true) as { ok: number; failed: number };
  t.ok(held.held > 0 && held.held <= CONN_LIMIT, `the noisy pod held ${held.held} connections (limit ${CONN_LIMIT})`);
  t.equal(held.held + held.failed, FLOOD_CONNECTIONS);
  // A reset seen on read is ECONNRESET, on a write racing it EPIPE; never a timeout.
  t.ok(Object.keys(held.errors).every((e) => e === 'ECONNRESET' || e === 'EPIPE'), `the rest were reset, not left hanging (${JSON.stringify(held.errors)})`);
  t.equal(connDone.ok, held.held, 'every admitted connection still carried its bytes exactly');

  // 2. Requests in flight: slow requests, many more at once than the limit, on one HTTP/2
  //    connection and then on HTTP/1.1 keep-alive connections (under the connection limit).
  const h2 = await mesh.runApp('noisy', 'load-client.ts', ['--url', `http://${server}:8081/delay/300`, '--h2', '--concurrency', '200', '--requests', '1500'], 120_000);
  const h2Done = h2.stdout.find((l) => l.done === true) as Done;
  const h1 = await mesh.runApp('noisy', 'load-client.ts', ['--url', `http://${server}:8080/delay/300`, '--concurrency', '100', '--requests', '800'], 120_000);
  const h1Done = h1.stdout.find((l) => l.done === true) as Done;
  for (const [name, d] of [['HTTP/2', h2Done], ['HTTP/1.1', h1Done]] as const) {
    t.ok(d.limited > 0, `${name}: ${d.limited} of ${d.sent} requests were refused`);
    t.ok(d.ok > 0, `${name}: the noisy pod still got ${d.ok} answered (its share)`);
    t.equal(d.weftErrors.WEFT_ERR_WORKLOAD_LIMIT, d.limited, `${name}: every refusal names the limit (weft-error)`);
    t.same(d.statuses, { 200: d.ok, 503: d.limited }, `${name}: answered 200 or 503, nothing else`);
    t.same(d.errors, {}, `${name}: no resets or timeouts`);
  }

  const qh = (await quietHttp.waitForLine((l) => l.done === true, 60_000)) as Done;
  const qt = (await quietTcp.waitForLine((l) => l.done === true, 60_000)) as Done;
  t.ok(qh.sent > 100, `the quiet pod sent ${qh.sent} HTTP requests meanwhile`);
  t.equal(qh.ok, qh.sent, 'all answered 200 with their body back byte-exact');
  t.equal(qh.bytesReceived, qh.bytesSent, 'HTTP bytes each way');
  t.ok(qt.sent > 20, `the quiet pod made ${qt.sent} TCP connections meanwhile`);
  t.equal(qt.ok, qt.sent, 'every one echoed byte-exact');
  t.equal(qt.bytesReceived, qt.bytesSent, 'TCP bytes each way');

  // The metric counted every refusal, under the noisy workload only.
  const m = await limitedMetric('a');
  t.equal(m.get('fair/noisy/connections'), held.failed, 'weft_workload_limited_total{limit="connections"} = connections reset');
  t.equal(m.get('fair/noisy/pending_requests'), h2Done.limited + h1Done.limited, 'weft_workload_limited_total{limit="pending_requests"} = requests refused');
  t.notOk([...m.keys()].some((k) => k.startsWith('fair/quiet/')), 'nothing counted against the quiet pod');
  const s = await proxyStats(mesh, 'a');
  t.same(s.limited, { connections: held.failed, pending_requests: h2Done.limited + h1Done.limited }, '/config_dump/proxy agrees');
  const lines = mesh.agentLog('a').split('\n').filter((l) => l.includes('workload over its limit'));
  t.ok(lines.length >= 1 && lines.length <= 16, `the refusals logged ${lines.length} lines (throttled), not ${held.failed + h2Done.limited + h1Done.limited}`);
  t.comment(JSON.stringify({
    noisy: { connections: { tried: FLOOD_CONNECTIONS, held: held.held, reset: held.failed, ms: held.ms }, h2: { sent: h2Done.sent, ok: h2Done.ok, limited: h2Done.limited }, h1: { sent: h1Done.sent, ok: h1Done.ok, limited: h1Done.limited } },
    quiet: { http: { sent: qh.sent, ok: qh.ok, bytesEachWay: qh.bytesSent, latencyMs: qh.latencyMs }, tcp: { sent: qt.sent, ok: qt.ok, bytesEachWay: qt.bytesSent, latencyMs: qt.latencyMs } },
  }));
});
