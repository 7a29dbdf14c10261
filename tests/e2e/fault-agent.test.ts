// Faults: an agent restarted under load, and a node lost mid-stream.
// Promises:
// - a destination node's agent restarted (SIGTERM: drain, then a new agent): no idempotent request
//   through the L7 path fails (retries and the other endpoint cover it); opaque connections
//   through that agent are cut when its drain ends — expected — and new ones work after it.
// - the client's own agent restarted: in-flight connections are cut at the end of the drain (the
//   client sees that); new connections wait for the next agent (TPROXY drops their SYNs meanwhile,
//   so the kernel retries them) and succeed; nothing bypasses the mesh.
// - a node lost (link down, agent killed, no FIN or RST ever arrives): connections through it fail
//   in bounded time (PING liveness), not after minutes; new requests go to the live endpoint.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { proxyStats, tcpClient } from './helpers.ts';
import { assertNothingLost, finishLossless, figures, LONG, metric, metrics, sleep, startSteady } from './fault-load.ts';

const VIP = '10.96.0.20';
const DRAIN_MS = 1500;
const tb = await withTestbed(t, {
  name: 'fault-agent',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web-2', namespace: 'demo' }] },
    { name: 'n3', pods: [{ name: 'web-3', namespace: 'demo' }] },
  ],
});
const cluster = { meshedNamespaces: ['demo'], services: [{ name: 'web', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'web' }] };
const mesh = await Mesh.start(tb, { cluster, agentEnv: { WEFT_WORKERS: '1', WEFT_DRAIN_MS: String(DRAIN_MS) } });
t.teardown(() => mesh.stop());
for (const p of ['web-2', 'web-3']) {
  await mesh.startApp(p, 'l7-server.ts', ['--port', '8080', '--name', p]);
  await mesh.startApp(p, 'tcp-server.ts', ['--port', '9000']);
}
const load = async (): Promise<Awaited<ReturnType<typeof startSteady>>[]> => {
  const get = await startSteady(mesh, 'client', ['--urls', `http://${VIP}/`, '--method', 'GET', '--bytes', '4096', '--concurrency', '3', '--pause', '10', '--timeout', '30000']);
  const put = await startSteady(mesh, 'client', ['--urls', `http://${VIP}/`, '--method', 'PUT', '--bytes', '8192', '--concurrency', '2', '--pause', '10', '--timeout', '30000']);
  await mesh.waitUntil(() => get.answered() > 20 && put.answered() > 10, 20_000, 'load to flow');
  return [get, put];
};
const trickle = (pod: string, durationMs: number) =>
  mesh.startApp('client', 'trickle-client.ts', ['--host', tb.pod(pod).ip, '--port', '9000', '--duration', String(durationMs), '--interval', '50', '--chunk', '1024']);

t.test('a destination agent restarted under load: no idempotent request fails; its tunnels are cut, new ones work', async (t) => {
  const [get, put] = await load();
  const tunnel = await trickle('web-2', 30_000);
  await sleep(1000);
  const stoppedAt = Date.now();
  t.equal(await mesh.stopAgent('n2'), 0, 'n2 drains and exits cleanly');
  const drainTook = Date.now() - stoppedAt;
  const [cut] = await tunnel.waitForLines(1, 20_000);
  t.notOk(cut.ok, `the opaque connection through n2 was cut by its drain (${JSON.stringify(cut.errors)}), as promised`);
  await sleep(1000);
  await mesh.startAgent('n2');
  await mesh.waitReady('n2');
  const fresh = await tcpClient(mesh, 'client', tb.pod('web-2').ip, 9000, 'echo', ['--bytes', '100000']);
  t.ok(fresh.ok, 'a new opaque connection through the new agent works');
  await mesh.waitUntil(async () => {
    const before = get.app.lines.length;
    await sleep(500);
    return get.app.lines.length > before;
  }, 10_000, 'load to keep flowing');
  await sleep(2000);
  const [g, p] = await finishLossless(t, [get, put]);
  t.ok((g.byName['web-2'] ?? 0) > 0 && (g.byName['web-3'] ?? 0) > 0, `both endpoints served (${JSON.stringify(g.byName)})`);
  t.comment(`n2 restart (drain took ${drainTook} ms); ${figures(g)}; ${figures(p)}; tunnel cut after ${String(cut.sent)} bytes with ${JSON.stringify(cut.errors)}`);
});

t.test('long form: the destination agents restarted in turn, ten times, under load', { skip: LONG ? false : 'set WEFT_LONG_TESTS=1' }, async (t) => {
  const [get, put] = await load();
  for (let i = 0; i < 10; i++) {
    const node = i % 2 === 0 ? 'n2' : 'n3';
    await mesh.restartAgent(node);
    await sleep(3000);
  }
  const [g, p] = await finishLossless(t, [get, put]);
  t.comment(`10 destination restarts; ${figures(g)}; ${figures(p)}`);
});

t.test('the client\'s own agent restarted under load: what the client sees', async (t) => {
  const loadStartedAt = Date.now();
  const [get, put] = await load();
  const tunnel = await trickle('web-3', 30_000);
  await sleep(1000);
  const stoppedAt = Date.now();
  t.equal(await mesh.stopAgent('n1'), 0, 'n1 drains and exits cleanly');
  const [cut] = await tunnel.waitForLines(1, 20_000);
  t.notOk(cut.ok, `the client's open opaque connection is cut at the end of the drain (${JSON.stringify(cut.errors)})`);
  await sleep(1000);
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
  const readyAt = Date.now();
  const fresh = await tcpClient(mesh, 'client', tb.pod('web-3').ip, 9000, 'echo', ['--bytes', '100000']);
  t.ok(fresh.ok, 'a new opaque connection works after the restart');
  t.ok((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened >= 1, 'through the new agent');
  await sleep(1000);
  const answeredBefore = get.answered();
  await sleep(2000);
  t.ok(get.answered() > answeredBefore, 'the load flows again through the new agent');
  const g = await get.finish();
  const p = await put.finish();
  // What the client may see, and only inside the restart window: its kept-alive connections reset
  // at the cut, and while no agent runs the Service VIP (which exists only in the mesh) is
  // unreachable — a fast error, never a hang. No HTTP error, no wrong byte.
  const window = [stoppedAt - loadStartedAt - 1000, readyAt - loadStartedAt + 1000];
  for (const [name, r] of [['GET', g], ['PUT', p]] as const) {
    const outside = r.failures.filter((f) => f.at < window[0] || f.at > window[1] || !/^(ECONNRESET|EPIPE|ENETUNREACH|ECONNREFUSED)$/.test(f.error));
    t.same(outside, [], `${name}: ${r.failed} failed, all connection errors inside the restart window (${JSON.stringify(r.errors)})`);
    t.ok(r.failures.every((f) => f.ms < 5000), `${name}: each failure was fast (${Math.max(0, ...r.failures.map((f) => f.ms))} ms at most)`);
    t.equal(r.mismatches, 0, `${name}: no answered body was wrong`);
    t.equal(r.answered + r.failed, r.sent, `${name}: every request accounted for`);
  }
  t.comment(`n1 restart; ${figures(g)}; ${figures(p)}; errors ${JSON.stringify({ get: g.errors, put: p.errors })}`);
});

t.test('a node lost mid-stream: its connections fail in bounded time, new requests avoid it', async (t) => {
  const [get, put] = await load();
  const tunnel = await trickle('web-3', 120_000);
  await sleep(1000);
  const n3 = tb.node('n3');
  // No FIN, no RST: the link goes first, then the agent dies unseen.
  await tb.exec(n3.netns, 'ip', ['link', 'set', 'eth0', 'down']);
  const lostAt = Date.now();
  await mesh.stopAgent('n3', 'SIGKILL');
  const [cut] = await tunnel.waitForLines(1, 60_000);
  const cutAfter = Date.now() - lostAt;
  t.notOk(cut.ok, `the opaque connection to the lost node failed (${JSON.stringify(cut.errors)})`);
  t.ok(cutAfter < 30_000, `in bounded time: ${cutAfter} ms (PING every 5 s, 10 s to answer)`);
  t.match(mesh.agentLog('n1'), /WEFT_ERR_PEER_UNRESPONSIVE/, 'n1 says why');
  // Requests in flight on the dead session were retried elsewhere; later ones avoid the node.
  await sleep(2000);
  const mark = get.answered();
  await sleep(2000);
  t.ok(get.answered() > mark, 'requests keep being answered');
  const [g, p] = await finishLossless(t, [get, put]);
  t.ok(g.maxMs < 30_000, `the slowest request took ${g.maxMs} ms (bounded, retried after the peer was found dead)`);
  const after = await startSteady(mesh, 'client', ['--urls', `http://${VIP}/`, '--method', 'GET', '--bytes', '1024', '--concurrency', '2', '--duration', '2000', '--timeout', '30000']);
  await after.app.exited;
  const a = await after.finish();
  // The lost endpoint cannot answer, so "avoided" shows as speed: no request waits on it again
  // (a connect towards a black-holed node would take up to WEFT_CONNECT_TIMEOUT_MS).
  t.ok(a.maxMs < 3000, `new requests avoid the lost node: slowest ${a.maxMs} ms of ${a.sent} (${JSON.stringify(a.byName)})`);
  assertNothingLost(t, a, 'GET after the loss');
  const m = await metrics(mesh, 'n1');
  t.comment(`node lost: tunnel cut after ${cutAfter} ms; ejections ${metric(m, 'weft_outlier_ejections_total')}, retries ${metric(m, 'weft_http_retries_total')}; ${figures(g)}; ${figures(p)}`);
  await tb.exec(n3.netns, 'ip', ['link', 'set', 'eth0', 'up']);
});
