// Lifecycle of the mesh on the testbed: workloads coming and going, the agent stopping and
// restarting, control going away and coming back. Nothing may be left on the node after a stop,
// and nothing open may break while control is away.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { proxyStats, tcpClient } from './helpers.ts';
import { redirectInspector, testbedName, testRedirectMode } from '../ebpf/mode.ts';

const tb = await withTestbed(t, {
  name: testbedName('e2e-life'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'other', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const cluster = { meshedNamespaces: ['demo'] };
const mesh = await Mesh.start(tb, { cluster, redirectMode: testRedirectMode() });
t.teardown(() => mesh.stop());
const server = tb.pod('server').ip;
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);

// What the redirector installed in the kernel, read for iptables or eBPF (tests/ebpf/mode.ts).
const redirect = redirectInspector(mesh);

t.test('rules follow workloads: a removed pod loses its rules, a returning one gets them back', async (t) => {
  t.ok(await redirect.captures('client'), 'client is redirected');
  await mesh.writeCluster({ ...cluster, absentPods: ['client'] });
  await mesh.waitUntil(async () => !(await redirect.captures('client')), 20_000, 'client rules to go');
  t.ok(await redirect.captures('other'), 'the other pod keeps its rules');
  await mesh.writeCluster(cluster);
  await mesh.waitUntil(() => redirect.captures('client'), 20_000, 'client rules to return');
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(r.ok, 'and traffic flows through the mesh again');
});

t.test('stopping the agent leaves nothing on the node; restarting restores the mesh', async (t) => {
  t.equal(await mesh.stopAgent('n1'), 0, 'the agent exits cleanly on SIGTERM');
  t.same(await redirect.leftovers('n1'), [], 'no iptables rule / tc filter or pin, ip rule or route left');
  const direct = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(direct.ok, 'without the agent the pod still reaches the server (captured as plaintext on n2)');
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
  t.ok(await redirect.captures('client'), 'rules are back');
  const before = (await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened;
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(r.ok);
  t.equal((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened - before, 1, 'through HBONE again');
});

t.test('a crashed agent (SIGKILL) is cleaned up by its successor', async (t) => {
  await mesh.stopAgent('n1', 'SIGKILL');
  t.ok((await redirect.leftovers('n1')).length > 0, 'a killed agent could not clean up');
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
  const perWorkload = await redirect.workloadLines('client');
  t.ok(perWorkload.length > 0 && perWorkload.length === new Set(perWorkload).size, 'rules adopted, not duplicated');
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(r.ok);
});

t.test('control restarted: open connections flow, new ones work from cache, agents resync', async (t) => {
  const trickle = await mesh.startApp('client', 'trickle-client.ts', ['--host', server, '--port', '8080', '--duration', '6000', '--interval', '50']);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(await mesh.stopControl(), 0, 'control stops cleanly');
  const during = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '100000']);
  t.ok(during.ok, 'a new connection works with cached certificates and state');
  // A change made while control is away reaches the agents when it is back.
  await mesh.writeCluster({ ...cluster, absentPods: ['other'] });
  await mesh.startControl();
  await mesh.waitUntil(async () => {
    const s = (await mesh.admin('n1', '/config_dump/state')).body as { state: { localWorkloads: { key: string }[] } };
    return !s.state.localWorkloads.some((w) => w.key === 'demo/other');
  }, 30_000, 'n1 to resync without demo/other');
  const status = (await mesh.admin('n1', '/config_dump/control')).body as { control: { connected: boolean; reconnects: number } };
  t.ok(status.control.connected, 'the stream is back');
  t.ok(status.control.reconnects >= 1, 'after reconnecting');
  const [result] = await trickle.waitForLines(1, 20_000);
  t.match(result, { ok: true, mismatch: false, errors: [] }, 'the long-lived connection never broke');
  t.ok((result.sent as number) > 0 && result.sent === result.received, `every byte came back (${String(result.received)})`);
  const after = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '10000']);
  t.ok(after.ok);
});
