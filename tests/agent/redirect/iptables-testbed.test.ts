// Root tier: the iptables redirector in a node namespace of a real testbed, with transparent
// listeners (agent/native) standing in for the agent's outbound and inbound capture ports.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IptablesRedirector, type CommandRunner } from '../../../agent/redirect/index.ts';
import { probeConnect, startProbeServer, withTestbed, type Testbed } from '../../testbed/index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });

const OUT = 15001;
const IN = 15006;

function inNetns(tb: Testbed, netns: string): CommandRunner {
  return (cmd, args, input) => tb.exec(netns, cmd, args, { input });
}

t.test('TPROXY capture of a meshed pod, adoption after restart, and a clean uninstall', async (t) => {
  const tb = await withTestbed(t, {
    name: 'rd-ipt',
    nodes: [
      { name: 'node-a', pods: [{ name: 'a1' }, { name: 'a2' }] },
      { name: 'node-b', pods: [{ name: 'b1' }, { name: 'b2' }] },
    ],
  });
  const node = tb.node('node-a');
  const [a1, a2, b1] = [tb.pod('a1'), tb.pod('a2'), tb.pod('b1')];
  const wA1 = { key: 'default/a1', ip: a1.ip };
  const wA2 = { key: 'default/a2', ip: a2.ip };
  const opts = { outboundPort: OUT, inboundPort: IN, exec: inNetns(tb, node.netns) };
  const saveLines = async () => (await tb.exec(node.netns, 'iptables-save')).stdout.split('\n').filter((l) => l.includes('WEFT'));

  const outbound = await startProbeServer(tb, node.netns, OUT, { tag: 'agent-out', transparent: true });
  const inbound = await startProbeServer(tb, node.netns, IN, { tag: 'agent-in', transparent: true });
  await startProbeServer(tb, b1.netns, 8080, { tag: 'b1' });
  await startProbeServer(tb, a1.netns, 9090, { tag: 'a1' });

  const r1 = new IptablesRedirector(opts);
  await r1.install(wA1);
  await r1.install(wA1); // idempotent

  const out = await probeConnect(tb, a1.netns, b1.ip, 8080);
  t.equal(out.reply, 'agent-out', 'meshed pod -> other node pod is captured by the outbound listener');
  const seen = await outbound.waitForAccept((a) => a.remoteAddress === a1.ip);
  t.same([seen.localAddress, seen.localPort], [b1.ip, 8080], 'original destination preserved as the local address');

  const direct = await probeConnect(tb, a2.netns, b1.ip, 8080);
  t.equal(direct.reply, 'b1', 'unmeshed pod reaches b1 directly');
  t.notOk(outbound.accepts.some((a) => a.remoteAddress === a2.ip), 'unmeshed pod is not captured');

  const fromB = await probeConnect(tb, b1.netns, a1.ip, 9090);
  t.equal(fromB.reply, 'agent-in', 'plaintext from another node to the meshed pod is captured inbound');
  const inSeen = await inbound.waitForAccept((a) => a.remoteAddress === b1.ip);
  t.same([inSeen.localAddress, inSeen.localPort], [a1.ip, 9090], 'inbound keeps the original destination');
  t.equal((await probeConnect(tb, a2.netns, a1.ip, 9090)).reply, 'agent-in', 'same-node plaintext is captured inbound too');
  t.equal((await probeConnect(tb, node.netns, a1.ip, 9090)).reply, 'a1', 'the node itself (the agent) still reaches the pod directly');

  // "Restart": a fresh instance adopts what the first left and reconciles to a new set.
  const r2 = new IptablesRedirector(opts);
  await r2.reconcile([wA1, wA2]);
  t.equal((await probeConnect(tb, a2.netns, b1.ip, 8080)).reply, 'agent-out', 'reconcile added a2');
  const desc = (await r2.describe()) as { workloads: { key: string }[]; jumps: number; ipRule: boolean; localRoute: boolean };
  t.same(desc.workloads.map((w) => w.key).sort(), ['default/a1', 'default/a2']);
  t.same([desc.jumps, desc.ipRule, desc.localRoute], [1, true, true]);
  const before = await saveLines();
  await new IptablesRedirector(opts).reconcile([wA1, wA2]);
  t.same(await saveLines(), before, 'reconciling the same set again changes nothing');

  const r3 = new IptablesRedirector(opts);
  await r3.reconcile([wA2]);
  t.equal((await probeConnect(tb, a1.netns, b1.ip, 8080)).reply, 'b1', 'stale a1 no longer captured');
  t.notOk((await saveLines()).some((l) => l.includes('weft:default/a1')), 'a1 rules gone');

  await r3.remove(wA2);
  t.notOk((await saveLines()).some((l) => l.includes('weft:')), 'no workload rules after remove');
  t.equal((await probeConnect(tb, a2.netns, b1.ip, 8080)).reply, 'b1');

  await r3.uninstall();
  await r3.uninstall(); // idempotent
  t.same(await saveLines(), [], 'zero WEFT lines in iptables-save');
  t.notMatch((await tb.exec(node.netns, 'ip', ['rule', 'show'])).stdout, /fwmark/, 'no ip rule left');
  t.equal((await tb.exec(node.netns, 'ip', ['route', 'show', 'table', '133'])).stdout.trim(), '', 'route table empty');
});

t.test('excluded outbound ports go straight to the destination', async (t) => {
  const tb = await withTestbed(t, { name: 'rd-excl', nodes: [{ name: 'a', pods: [{ name: 'p' }] }, { name: 'b', pods: [{ name: 'q' }] }] });
  const node = tb.node('a');
  const [p, q] = [tb.pod('p'), tb.pod('q')];
  const r = new IptablesRedirector({ outboundPort: OUT, excludeOutboundPorts: [5432], exec: inNetns(tb, node.netns) });
  t.teardown(() => r.uninstall());
  await startProbeServer(tb, node.netns, OUT, { tag: 'agent-out', transparent: true });
  await startProbeServer(tb, q.netns, 5432, { tag: 'db' });
  await startProbeServer(tb, q.netns, 8080, { tag: 'web' });
  await r.reconcile([{ key: 'p', ip: p.ip }]);
  t.equal((await probeConnect(tb, p.netns, q.ip, 5432)).reply, 'db', 'excluded port bypasses the agent (and its replies are not captured as inbound)');
  t.equal((await probeConnect(tb, p.netns, q.ip, 8080)).reply, 'agent-out', 'other ports are captured');
});
