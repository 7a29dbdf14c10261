// Root tier: the eBPF redirector in a node namespace of a real testbed, with transparent
// listeners (agent/native) standing in for the agent's outbound and inbound capture ports. The
// same behaviours as iptables-testbed.test.ts, plus what only eBPF has: pins and tc filters.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EbpfRedirector, type CommandRunner } from '../../../agent/redirect/index.ts';
import { probeConnect, startProbeServer, withTestbed, type Testbed } from '../../testbed/index.ts';
import { listPins, mountBpffs } from '../../ebpf/bpffs.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
execFileSync('bash', ['scripts/build-ebpf.sh'], { cwd: root, stdio: 'inherit' });

const OUT = 15001;
const IN = 15006;

function inNetns(tb: Testbed, netns: string): CommandRunner {
  return (cmd, args, input) => tb.exec(netns, cmd, args, { input });
}

async function ourFilters(tb: Testbed, netns: string): Promise<string[]> {
  const links = JSON.parse((await tb.exec(netns, 'ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
  const found: string[] = [];
  for (const l of links) {
    for (const hook of ['ingress', 'egress']) {
      const out = (await tb.exec(netns, 'tc', ['filter', 'show', 'dev', l.ifname, hook])).stdout;
      if (out.trim() !== '') found.push(`${l.ifname} ${hook}: ${out.trim()}`);
    }
    const q = (await tb.exec(netns, 'tc', ['qdisc', 'show', 'dev', l.ifname])).stdout;
    if (q.includes('clsact')) found.push(`${l.ifname}: clsact qdisc`);
  }
  return found;
}

interface Desc {
  attachments: Array<{ iface: string; program: string; progId: number }>;
  workloads: Array<{ key: string | null; ip: string }>;
  stats: Record<string, number>;
  ipRule: boolean;
  localRoute: boolean;
  pinDir: string | null;
}

t.test('sk_assign capture of a meshed pod, adoption after restart, and a clean uninstall', async (t) => {
  const fs = await mountBpffs('ebpf-rd-main');
  t.teardown(() => fs.unmount());
  const tb = await withTestbed(t, {
    name: 'ebpf-rd-main',
    nodes: [
      { name: 'node-a', pods: [{ name: 'a1' }, { name: 'a2' }] },
      { name: 'node-b', pods: [{ name: 'b1' }, { name: 'b2' }] },
    ],
  });
  const node = tb.node('node-a');
  const [a1, a2, b1] = [tb.pod('a1'), tb.pod('a2'), tb.pod('b1')];
  const wA1 = { key: 'default/a1', ip: a1.ip };
  const wA2 = { key: 'default/a2', ip: a2.ip };
  const opts = { outboundPort: OUT, inboundPort: IN, exec: inNetns(tb, node.netns), nodeName: 'node-a', pinRoot: fs.path };

  const outbound = await startProbeServer(tb, node.netns, OUT, { tag: 'agent-out', transparent: true });
  const inbound = await startProbeServer(tb, node.netns, IN, { tag: 'agent-in', transparent: true });
  await startProbeServer(tb, b1.netns, 8080, { tag: 'b1' });
  await startProbeServer(tb, a1.netns, 9090, { tag: 'a1' });
  await startProbeServer(tb, node.netns, 7070, { tag: 'node' });

  const r1 = new EbpfRedirector(opts);
  t.teardown(() => r1.uninstall());
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
  t.equal(fromB.reply, 'agent-in', 'plaintext from another node to the meshed pod is captured inbound (uplink program)');
  const inSeen = await inbound.waitForAccept((a) => a.remoteAddress === b1.ip);
  t.same([inSeen.localAddress, inSeen.localPort], [a1.ip, 9090], 'inbound keeps the original destination');
  t.equal((await probeConnect(tb, a2.netns, a1.ip, 9090)).reply, 'agent-in', 'same-node plaintext is captured inbound too (unmeshed veth program)');
  t.equal((await probeConnect(tb, node.netns, a1.ip, 9090)).reply, 'a1', 'the node itself (the agent) still reaches the pod directly');
  t.equal((await probeConnect(tb, a1.netns, node.ip, 7070)).reply, 'node', 'a node-local destination is reached directly, not captured');

  const d1 = (await r1.describe()) as Desc;
  t.same(d1.workloads, [{ key: 'default/a1', ip: a1.ip }]);
  t.same(
    d1.attachments.map((a) => `${a.iface}:${a.program}`).sort(),
    ['eth0:weft_inbound', `${a1.hostIface}:weft_pod`, `${a2.hostIface}:weft_inbound`].sort(),
    'the pod program on the meshed veth, the inbound one elsewhere',
  );
  t.ok(d1.stats.outbound >= 1 && d1.stats.inbound >= 2 && d1.stats.established > 0, `decisions counted ${JSON.stringify(d1.stats)}`);
  t.same([d1.ipRule, d1.localRoute], [true, true]);
  const progIds = d1.attachments.map((a) => a.progId).sort();

  // "Restart": a fresh instance adopts the pinned programs and maps and reconciles to a new set.
  const r2 = new EbpfRedirector(opts);
  await r2.reconcile([wA1, wA2]);
  t.equal((await probeConnect(tb, a2.netns, b1.ip, 8080)).reply, 'agent-out', 'reconcile added a2');
  const d2 = (await r2.describe()) as Desc;
  t.same(d2.workloads.map((w) => w.key).sort(), ['default/a1', 'default/a2']);
  t.same(d2.attachments.find((a) => a.iface === a2.hostIface)?.program, 'weft_pod', 'a2 veth switched to the pod program');
  t.ok(d2.attachments.every((a) => progIds.includes(a.progId)), 'the pinned programs were reused, not reloaded');
  const before = JSON.stringify(await ourFilters(tb, node.netns));
  await new EbpfRedirector(opts).reconcile([wA1, wA2]);
  t.equal(JSON.stringify(await ourFilters(tb, node.netns)), before, 'reconciling the same set again changes nothing');

  const r3 = new EbpfRedirector(opts);
  await r3.reconcile([wA2]);
  t.equal((await probeConnect(tb, a1.netns, b1.ip, 8080)).reply, 'b1', 'stale a1 no longer captured');
  t.same(((await r3.describe()) as Desc).workloads.map((w) => w.ip), [a2.ip], 'a1 left the map');

  await r3.remove(wA2);
  t.same(((await r3.describe()) as Desc).workloads, [], 'no workloads after remove');
  t.equal((await probeConnect(tb, a2.netns, b1.ip, 8080)).reply, 'b1');

  await r3.uninstall();
  await r3.uninstall(); // idempotent
  t.same(await ourFilters(tb, node.netns), [], 'no tc filter and no clsact qdisc left');
  t.same(await listPins(fs.path), [], 'no pins left');
  t.notMatch((await tb.exec(node.netns, 'ip', ['rule', 'show'])).stdout, /fwmark/, 'no ip rule left');
  t.equal((await tb.exec(node.netns, 'ip', ['route', 'show', 'table', '133'])).stdout.trim(), '', 'route table empty');
});

t.test('excluded outbound ports go straight to the destination', async (t) => {
  const fs = await mountBpffs('ebpf-rd-excl');
  t.teardown(() => fs.unmount());
  const tb = await withTestbed(t, { name: 'ebpf-rd-excl', nodes: [{ name: 'a', pods: [{ name: 'p' }] }, { name: 'b', pods: [{ name: 'q' }] }] });
  const node = tb.node('a');
  const [p, q] = [tb.pod('p'), tb.pod('q')];
  const r = new EbpfRedirector({ outboundPort: OUT, excludeOutboundPorts: [5432], exec: inNetns(tb, node.netns), nodeName: 'a', pinRoot: fs.path });
  t.teardown(() => r.uninstall());
  await startProbeServer(tb, node.netns, OUT, { tag: 'agent-out', transparent: true });
  await startProbeServer(tb, q.netns, 5432, { tag: 'db' });
  await startProbeServer(tb, q.netns, 8080, { tag: 'web' });
  await r.reconcile([{ key: 'p', ip: p.ip }]);
  t.equal((await probeConnect(tb, p.netns, q.ip, 5432)).reply, 'db', 'excluded port bypasses the agent (and its replies are not captured as inbound)');
  t.equal((await probeConnect(tb, p.netns, q.ip, 8080)).reply, 'agent-out', 'other ports are captured');
});

t.test('a pin root that is not a BPF filesystem is a clear error', async (t) => {
  const r = new EbpfRedirector({ pinRoot: '/tmp', nodeName: 'x' });
  await t.rejects(r.install({ key: 'x', ip: '10.0.0.1' }), { code: 'WEFT_ERR_EBPF_UNSUPPORTED', message: /not a BPF filesystem/ });
});
