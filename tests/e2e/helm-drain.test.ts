// What a DaemonSet rolling upgrade does to one node's agent, on the testbed: SIGTERM turns the
// agent unready at once, open connections keep flowing through the drain (WEFT_DRAIN_MS), those
// still open at its end are closed, redirection is removed last and nothing is left on the node;
// the replacement agent carries the new connections. The chart's terminationGracePeriodSeconds is
// WEFT_DRAIN_MS plus a margin so that this whole sequence fits before the kubelet's SIGKILL.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { proxyStats, tcpClient } from './helpers.ts';

const DRAIN_MS = 4000;

const tb = await withTestbed(t, {
  name: 'helm-drain',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
// Control's TCP listener on an ephemeral loopback port: other testbeds may run on this machine.
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, agentEnv: { WEFT_DRAIN_MS: String(DRAIN_MS) }, controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' } });
t.teardown(() => mesh.stop());
const n1 = tb.node('n1').netns;
const server = tb.pod('server').ip;
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);

/** Weft's iptables rules, ip rules (by mark) and routes in its table: what must not outlive it. */
async function nodeLeftovers(netns: string): Promise<string[]> {
  const left: string[] = [];
  for (const table of ['mangle', 'nat', 'filter']) {
    const r = await tb.exec(netns, 'iptables-save', ['-t', table]);
    left.push(...r.stdout.split('\n').filter((l) => /weft/i.test(l)));
  }
  const rules = await tb.exec(netns, 'ip', ['rule', 'show']);
  left.push(...rules.stdout.split('\n').filter((l) => l.includes('0x539') || l.includes('lookup 133')));
  const routes = await tb.exec(netns, 'ip', ['route', 'show', 'table', '133']);
  left.push(...routes.stdout.split('\n').filter((l) => l.trim() !== ''));
  return left;
}

t.test('SIGTERM drains: unready first, open connections finish, the rest close at the grace period', async (t) => {
  t.ok((await nodeLeftovers(n1)).length > 0, 'the running agent has its redirection installed');
  // One connection that ends inside the drain and one that outlives it.
  const short = await mesh.startApp('client', 'trickle-client.ts', ['--host', server, '--port', '8080', '--duration', String(DRAIN_MS - 1500), '--interval', '50']);
  const long = await mesh.startApp('client', 'trickle-client.ts', ['--host', server, '--port', '8080', '--duration', '30000', '--interval', '50', '--seed', '2']);
  await mesh.waitUntil(async () => (await proxyStats(mesh, 'n1')).paths.outbound_hbone.active >= 2, 10_000, 'both connections to go through n1');

  const exited = mesh.stopAgent('n1');
  await mesh.waitUntil(async () => {
    const r = await mesh.admin('n1', '/ready').catch(() => null);
    return r !== null && r.status !== 200 && JSON.stringify(r.body).includes('draining');
  }, 5000, 'n1 to report draining on /ready');
  t.pass('readiness goes false as soon as the drain starts');
  t.ok((await nodeLeftovers(n1)).length > 0, 'redirection stays while connections drain (their packets still need it)');

  const [shortResult] = await short.waitForLines(1, DRAIN_MS + 10_000);
  t.match(shortResult, { ok: true, mismatch: false, errors: [] }, 'a connection open at SIGTERM kept flowing and finished normally');
  t.ok((shortResult.sent as number) > 0 && shortResult.sent === shortResult.received, `every byte came back (${String(shortResult.received)})`);

  t.equal(await exited, 0, 'the agent exits cleanly once the drain is over');
  const [longResult] = await long.waitForLines(1, 40_000);
  t.not(longResult.ok, true, 'a connection still open at the end of the grace period is closed, not kept forever');
  t.ok((longResult.received as number) > 0, 'it carried data before being closed');
  t.same(await nodeLeftovers(n1), [], 'no iptables rule, ip rule or route is left on the node');
});

t.test('the replacement agent carries new connections', async (t) => {
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
  const r = await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '20000']);
  t.ok(r.ok, 'a new connection works');
  t.equal((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened, 1, 'and went through the new agent over HBONE');
  t.equal(await mesh.stopAgent('n1'), 0, 'stopping it again is clean');
  t.same(await nodeLeftovers(n1), [], 'and leaves nothing behind');
});
