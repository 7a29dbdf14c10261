// Root tier: builds a real testbed and checks connectivity, isolation and teardown.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Testbed } from './testbed.ts';
import { withTestbed } from './with-testbed.ts';
import { probeConnect, startProbeServer } from './probe-client.ts';
import { run, runOk } from './run.ts';

async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const out = await runOk('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(prefix));
}

/** Running (not merely a zombie waiting for a parent that may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const havePing = (await run('sh', ['-c', 'command -v ping'])).code === 0;

t.test('pods reach each other across nodes and on the same node', async (t) => {
  const tb = await withTestbed(t, {
    name: 'tb-conn',
    nodes: [
      { name: 'node-a', pods: [{ name: 'a1' }, { name: 'a2' }] },
      { name: 'node-b', pods: [{ name: 'b1' }, { name: 'b2' }] },
    ],
  });
  const [a1, a2, b1] = [tb.pod('a1'), tb.pod('a2'), tb.pod('b1')];

  for (const [from, to] of [[a1, b1], [a1, a2], [b1, a2]] as const) {
    if (!havePing) break;
    const r = await tb.exec(from.netns, 'ping', ['-c', '1', '-W', '2', to.ip]);
    t.equal(r.code, 0, `ping ${from.name} -> ${to.name} (${to.ip})`);
  }

  const server = await startProbeServer(tb, b1.netns, 8080, { tag: 'b1' });
  const cross = await probeConnect(tb, a1.netns, b1.ip, 8080);
  t.same([cross.ok, cross.reply], [true, 'b1'], 'TCP a1 -> b1 across nodes');
  const seen = await server.waitForAccept((a) => a.remoteAddress === a1.ip);
  t.equal(seen.localAddress, b1.ip, 'no NAT: b1 sees a1\'s pod IP as the source');

  const local = await startProbeServer(tb, a2.netns, 9090, { tag: 'a2' });
  const same = await probeConnect(tb, a1.netns, a2.ip, 9090);
  t.same([same.ok, same.reply], [true, 'a2'], 'TCP a1 -> a2 on the same node');
  await local.waitForAccept((a) => a.remoteAddress === a1.ip);

  const nodeB = tb.node('node-b');
  const fromNode = await probeConnect(tb, nodeB.netns, b1.ip, 8080);
  t.equal(fromNode.reply, 'b1', 'node reaches its own pod');
  t.equal((await server.waitForAccept((a) => a.remoteAddress === nodeB.ip)).remoteAddress, nodeB.ip, 'node-to-pod traffic is sourced from the node IP');
});

t.test('no namespace of the testbed can reach the root namespace', async (t) => {
  const tb = await withTestbed(t, { name: 'tb-iso', nodes: [{ name: 'n', pods: [{ name: 'p' }] }, { name: 'm', pods: [] }] });
  const mine = new Set(tb.namespaces());
  for (const ns of tb.namespaces()) {
    // Every veth's peer lives in one of our namespaces (never the root namespace).
    const ids = JSON.parse(await runOk('ip', ['-n', ns, '-j', 'netns', 'list-id'])) as { nsid: number; name?: string }[];
    const links = JSON.parse(await runOk('ip', ['-n', ns, '-j', 'link', 'show'])) as { ifname: string; link_netnsid?: number; link_type: string }[];
    for (const l of links.filter((x) => x.link_netnsid !== undefined)) {
      const peer = ids.find((i) => i.nsid === l.link_netnsid)?.name;
      t.ok(peer !== undefined && mine.has(peer), `${ns}/${l.ifname} peers into ${peer}`);
    }
    const routes = await runOk('ip', ['-n', ns, 'route', 'show']);
    const hasDefault = /^default /m.test(routes);
    t.equal(hasDefault, tb.model.nodes.some((n) => n.pods.some((p) => p.netns === ns)), `${ns}: only pods have a default route (to their node)`);
  }
  const rootIps = Object.values(networkInterfaces()).flat()
    .filter((a) => a !== undefined && a.family === 'IPv4' && !a.internal).map((a) => a!.address);
  t.ok(rootIps.length > 0, 'the root namespace has addresses to try');
  for (const ip of rootIps) {
    const route = await tb.exec(tb.node('n').netns, 'ip', ['route', 'get', ip]);
    t.match(route.stderr, /unreachable/, `node has no route to root address ${ip}`);
    for (const ns of [tb.node('n').netns, tb.pod('p').netns]) {
      const r = await probeConnect(tb, ns, ip, 22, 2);
      t.notOk(r.ok, `${ns} cannot open TCP to root address ${ip}`);
    }
  }
  // Nothing of ours shows up as an interface in the root namespace.
  const rootLinks = await runOk('ip', ['-o', 'link', 'show']);
  t.notMatch(rootLinks, /weft-tb-iso/, 'root namespace holds no testbed interface');
});

t.test('teardown kills processes, deletes namespaces, and is idempotent', async (t) => {
  const tb = await Testbed.create({ name: 'tb-down', nodes: [{ name: 'n', pods: [{ name: 'p' }] }] });
  const tracked = tb.spawn(tb.pod('p').netns, 'sleep', ['300']);
  // A daemon started with exec is not tracked: teardown finds it with `ip netns pids`.
  await tb.exec(tb.node('n').netns, 'bash', ['-c', 'setsid sleep 301 >/dev/null 2>&1 < /dev/null &']);
  const daemon = (await run('ip', ['netns', 'pids', tb.node('n').netns])).stdout.trim().split('\n').map(Number).filter(Boolean);
  t.equal(daemon.length, 1, 'the daemon runs in the node namespace');
  t.same((await namespacesWithPrefix('weft-tb-down-')).sort(), tb.namespaces().sort());
  await Promise.all([tb.teardown(), tb.teardown()]);
  await tb.teardown();
  t.same(await namespacesWithPrefix('weft-tb-down-'), [], 'namespaces gone');
  t.notOk(alive(tracked.pid!), 'tracked process gone');
  t.notOk(alive(daemon[0]), 'untracked daemon gone');
  t.throws(() => tb.spawn(tb.pod('p').netns, 'true'), /torn down/);
});

t.test('create sweeps leftovers of a crashed run and refuses foreign namespaces in exec', async (t) => {
  await runOk('ip', ['netns', 'add', 'weft-tb-sweep-n7-ghost']);
  await runOk('ip', ['netns', 'add', 'weft-tb-sweepx-n1']);
  t.teardown(() => run('ip', ['netns', 'del', 'weft-tb-sweepx-n1']));
  const tb = await withTestbed(t, { name: 'tb-sweep', nodes: [{ name: 'n', pods: [] }] });
  t.same((await namespacesWithPrefix('weft-tb-sweep-')).sort(), ['weft-tb-sweep-fab', 'weft-tb-sweep-n1'], 'only the new namespaces');
  t.notOk((await namespacesWithPrefix('weft-tb-sweep-')).includes('weft-tb-sweep-n7-ghost'), 'leftover swept');
  t.ok((await namespacesWithPrefix('weft-tb-sweepx-')).includes('weft-tb-sweepx-n1'), 'another testbed\'s namespace is kept');
  t.throws(() => tb.exec('weft-tb-sweepx-n1', 'true'), /not a namespace of testbed/);
});

const fixture = fileURLToPath(new URL('./fixtures/crash-after-create.ts', import.meta.url));

for (const mode of ['throw', 'signal'] as const) {
  t.test(`a process that ${mode === 'throw' ? 'throws' : 'gets SIGTERM'} after create leaves nothing behind`, async (t) => {
    const name = `tb-crash-${mode}`;
    const child = spawn(process.execPath, [fixture, name, mode === 'throw' ? 'throw' : 'wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (mode === 'signal' && out.includes('ready')) child.kill('SIGTERM');
    });
    const [code] = await once(child, 'exit');
    t.ok(out.includes('ready'), 'the child built its testbed');
    t.not(code, 0, 'the child failed');
    t.same(await namespacesWithPrefix(`weft-${name}-`), [], 'its namespaces are gone');
  });
}

t.test('withTestbed registers teardown with the test', async (t) => {
  const fns: (() => unknown)[] = [];
  const tb = await withTestbed({ teardown: (fn) => fns.push(fn) }, { name: 'tb-with', nodes: [{ name: 'n', pods: [] }] });
  t.equal(fns.length, 1);
  t.equal((await namespacesWithPrefix('weft-tb-with-')).length, 2);
  await fns[0]();
  t.same(await namespacesWithPrefix('weft-tb-with-'), []);
  await tb.teardown();
});

t.test('bridge shape: pods on cni0, bridged same-node frames pass iptables, the root namespace untouched', async (t) => {
  const rootBefore = readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim();
  const tb = await withTestbed(t, {
    name: 'tb-bridge',
    cni: 'bridge',
    nodes: [
      { name: 'node-a', pods: [{ name: 'a1' }, { name: 'a2' }] },
      { name: 'node-b', pods: [{ name: 'b1' }] },
    ],
  });
  const [a1, a2, b1] = [tb.pod('a1'), tb.pod('a2'), tb.pod('b1')];
  const nodeA = tb.node('node-a');

  const master = JSON.parse((await runOk('ip', ['-n', nodeA.netns, '-j', 'link', 'show', 'master', 'cni0'])) || '[]') as Array<{ ifname: string }>;
  t.same(master.map((l) => l.ifname).sort(), ['p1', 'p2'], 'both pod veths are ports of cni0');
  const addr = JSON.parse(await runOk('ip', ['-n', nodeA.netns, '-j', '-4', 'addr', 'show', 'dev', 'cni0'])) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
  t.same(addr[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`), ['10.244.1.1/24'], 'cni0 holds the pod gateway');
  const podAddr = JSON.parse(await runOk('ip', ['-n', a1.netns, '-j', '-4', 'addr', 'show', 'dev', 'eth0'])) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>;
  t.same(podAddr[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`), ['10.244.1.11/24']);

  for (const n of tb.nodes) {
    t.equal((await runOk('ip', ['netns', 'exec', n.netns, 'sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).trim(), '1', `bridge-nf-call-iptables=1 in ${n.netns}`);
  }
  t.equal(readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim(), rootBefore, 'the root namespace keeps its own setting');

  // Same-node traffic is bridged (no routing hop), yet with br_netfilter it still crosses the
  // node's iptables FORWARD chain: a counting rule there sees it.
  await runOk('ip', ['netns', 'exec', nodeA.netns, 'iptables', '-I', 'FORWARD', '-s', a1.ip, '-d', a2.ip, '-p', 'tcp', '--dport', '9090', '-m', 'comment', '--comment', 'tb-bridge-count']);
  const local = await startProbeServer(tb, a2.netns, 9090, { tag: 'a2' });
  const same = await probeConnect(tb, a1.netns, a2.ip, 9090);
  t.same([same.ok, same.reply], [true, 'a2'], 'TCP a1 -> a2 across the bridge');
  t.equal((await local.waitForAccept((a) => a.remoteAddress === a1.ip)).localAddress, a2.ip, 'no NAT on the same node');
  const save = await runOk('ip', ['netns', 'exec', nodeA.netns, 'iptables-save', '-c', '-t', 'filter']);
  const counted = /\[(\d+):\d+\] -A FORWARD .*tb-bridge-count/.exec(save);
  t.ok(counted !== null && Number(counted[1]) > 0, `the bridged packets were seen by iptables FORWARD (${counted?.[0] ?? 'rule missing'})`);
  const neigh = await runOk('ip', ['-n', a1.netns, 'neigh', 'show', a2.ip]);
  t.match(neigh, /lladdr/, 'a1 reached a2 at layer 2 (a neighbour entry for a2 itself, not the gateway)');

  const server = await startProbeServer(tb, b1.netns, 8080, { tag: 'b1' });
  const cross = await probeConnect(tb, a1.netns, b1.ip, 8080);
  t.same([cross.ok, cross.reply], [true, 'b1'], 'TCP a1 -> b1 across nodes');
  t.equal((await server.waitForAccept((a) => a.remoteAddress === a1.ip)).localAddress, b1.ip, 'b1 sees a1\'s pod IP');
  const fromNode = await probeConnect(tb, nodeA.netns, a1.ip, 9091);
  t.notOk(fromNode.ok, 'nothing listens on a1:9091 (sanity)');
});
