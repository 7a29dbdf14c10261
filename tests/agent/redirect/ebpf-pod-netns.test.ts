// Root tier: pod-scope eBPF capture (agent/redirect/ebpf-pod-capture.ts) in the real network
// namespaces of a testbed. The agent's in-pod listeners are opened as the agent opens them: from
// this process, inside the pod's namespace, with agent/native's listenInNetns (IP_TRANSPARENT), and
// its own in-pod sockets come from socketInNetns with the agent mark; the oracle is what those listeners and the apps see, read by the probe processes
// themselves, and the kernel state read with ip/tc/sysctl/find, not through the capture's code.
import t, { type Test } from 'tap';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { listenInNetns, netnsSocket } from '../../../agent/native/index.ts';
import { EbpfPodCapture } from '../../../agent/redirect/ebpf-pod-capture.ts';
import { probeConnect, startProbeServer, withTestbed, type ProbeAccept, type Testbed } from '../../testbed/index.ts';
import { listPins, mountBpffs } from '../../ebpf/bpffs.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
execFileSync('bash', ['scripts/build-ebpf.sh'], { cwd: root, stdio: 'inherit' });

async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const OUT = 15001;
const IN = 15006;
const HBONE = 15008;
const AGENT_MARK = 0x539;
const VIP = '10.96.0.10';

/** The program id of every tc filter in a pod namespace, eth0 egress/ingress then lo ingress. */
async function progIds(tb: Testbed, netns: string): Promise<number[]> {
  const ids: number[] = [];
  for (const [dev, hook] of [['eth0', 'egress'], ['eth0', 'ingress'], ['lo', 'ingress']]) {
    const rows = JSON.parse((await tb.exec(netns, 'tc', ['-j', 'filter', 'show', 'dev', dev, hook])).stdout || '[]') as Array<{ options?: { prog?: { id?: number } } }>;
    for (const r of rows) if (r.options?.prog?.id !== undefined) ids.push(r.options.prog.id);
  }
  return ids;
}

/** Everything of ours inside a pod namespace: tc filters/qdiscs, the rule, table 133, accept_local. */
async function podState(tb: Testbed, netns: string): Promise<string[]> {
  const out: string[] = [];
  for (const dev of ['eth0', 'lo']) {
    for (const hook of ['ingress', 'egress']) {
      const rows = JSON.parse((await tb.exec(netns, 'tc', ['-j', 'filter', 'show', 'dev', dev, hook])).stdout || '[]') as Array<{ options?: { prog?: { name?: string } } }>;
      for (const r of rows) if (r.options !== undefined) out.push(`tc ${dev} ${hook} ${r.options.prog?.name ?? 'non-bpf'}`);
    }
    if ((await tb.exec(netns, 'tc', ['qdisc', 'show', 'dev', dev])).stdout.includes('clsact')) out.push(`clsact ${dev}`);
  }
  for (const l of (await tb.exec(netns, 'ip', ['rule', 'show'])).stdout.split('\n')) if (l.includes('0x53a')) out.push(`rule ${l.trim()}`);
  for (const l of (await tb.exec(netns, 'ip', ['route', 'show', 'table', '133'])).stdout.split('\n')) if (l.trim() !== '') out.push(`route ${l.trim()}`);
  if ((await tb.exec(netns, 'sysctl', ['-n', 'net.ipv4.conf.lo.accept_local'])).stdout.trim() === '1') out.push('accept_local lo');
  return out.sort();
}

const CAPTURED = [
  'accept_local lo', 'clsact eth0', 'clsact lo',
  'route local default dev lo scope host', 'rule 1337:\tfrom all fwmark 0x53a lookup 133',
  'tc eth0 egress weft_pod_out', 'tc eth0 ingress weft_pod_in', 'tc lo ingress weft_pod_lo',
].sort();

/** A connection from a socket the agent would make inside the pod (agent/native, SO_MARK = the agent mark). */
function markedConnect(path: string, host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = netnsSocket(path, AGENT_MARK);
    let got = '';
    sock.setTimeout(3000, () => sock.destroy());
    sock.on('data', (d) => { got += String(d); });
    sock.on('error', (e) => { got += `error ${e.message}`; });
    sock.on('close', () => resolve(got.trim()));
    sock.connect(port, host);
  });
}

/**
 * An agent listener as the agent opens it: from this process (outside the pod), inside the pod's
 * namespace through agent/native's listenInNetns, IP_TRANSPARENT. It answers each client with its tag.
 */
function agentListener(t: Test, path: string, host: string, port: number, tag: string) {
  const accepts: ProbeAccept[] = [];
  const waiters: Array<() => void> = [];
  const server = net.createServer((sock) => {
    accepts.push({ localAddress: sock.localAddress ?? '', localPort: sock.localPort ?? 0, remoteAddress: sock.remoteAddress ?? '', remotePort: sock.remotePort ?? 0 });
    for (const w of waiters.splice(0)) w();
    sock.on('error', () => {});
    sock.end(`${tag}\n`);
  });
  server.listen({ fd: listenInNetns(path, host, port, 511, true, true) });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return {
    accepts,
    async waitForAccept(pred: (a: ProbeAccept) => boolean): Promise<ProbeAccept> {
      const end = Date.now() + 10_000;
      for (;;) {
        const hit = accepts.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > end) throw new Error(`no accept on ${tag} matched`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
  };
}

t.test('pod-scope capture: outbound, inbound, what is left alone, restart, detach, uninstall', async (t) => {
  const fs = await mountBpffs('ebpf-podns');
  t.teardown(() => fs.unmount());
  const tb = await withTestbed(t, {
    name: 'ebpf-podns',
    nodes: [
      { name: 'node-a', pods: [{ name: 'a1' }, { name: 'a2' }] },
      { name: 'node-b', pods: [{ name: 'b1' }] },
    ],
  });
  const [a1, a2, b1] = [tb.pod('a1'), tb.pod('a2'), tb.pod('b1')];
  const p1 = { key: 'default/a1', path: `/run/netns/${a1.netns}` };
  const p2 = { key: 'default/a2', path: `/run/netns/${a2.netns}` };
  const opts = { outboundPort: OUT, inboundPort: IN, hbonePort: HBONE, mark: AGENT_MARK, excludeOutboundPorts: [5432], nodeName: 'node-a', pinRoot: fs.path };

  // The agent's listeners inside a1's namespace, and the apps.
  const outbound = agentListener(t, p1.path, '127.0.0.1', OUT, 'agent-out');
  const inbound = agentListener(t, p1.path, '0.0.0.0', IN, 'agent-in');
  await startProbeServer(tb, a1.netns, HBONE, { tag: 'agent-hbone' });
  await startProbeServer(tb, a1.netns, 9090, { tag: 'a1' });
  await startProbeServer(tb, b1.netns, 8080, { tag: 'b1' });
  await startProbeServer(tb, b1.netns, 5432, { tag: 'b1-db' });

  // Connections open before the capture: the capture must leave them (and their replies) alone.
  const echo = (host: string) => `require('net').createServer((s)=>{s.on('error',()=>{});s.pipe(s)}).listen(7070,'${host}',()=>console.log('listening'))`;
  const client = (host: string) => `const c=require('net').connect(7070,'${host}',()=>console.log('connected'));c.on('data',(d)=>console.log('echo '+String(d).trim()));c.on('error',(e)=>console.log('error '+e.message));process.stdin.on('data',(d)=>c.write(d))`;
  const older: Array<{ child: ChildProcess; lines: string[] }> = [];
  const startLine = async (netns: string, script: string, first: string) => {
    const child = tb.spawn(netns, process.execPath, ['-e', script]);
    t.teardown(() => { child.kill('SIGKILL'); });
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    await waitFor(() => lines.includes(first), `${first} in ${netns}`);
    return { child, lines };
  };
  await startLine(b1.netns, echo(b1.ip), 'listening');
  await startLine(a1.netns, echo(a1.ip), 'listening');
  older.push(await startLine(a1.netns, client(b1.ip), 'connected'), await startLine(b1.netns, client(a1.ip), 'connected'));

  const c1 = new EbpfPodCapture(opts);
  t.teardown(() => c1.uninstall());
  t.same(await podState(tb, a1.netns), [], 'nothing of ours in the pod before');
  let started = performance.now();
  await c1.apply(p1);
  const first = performance.now() - started;
  started = performance.now();
  await c1.apply(p1); // idempotent
  // A figure for the notes, not an assertion: the machine is shared.
  t.comment(`apply: ${first.toFixed(0)} ms for a new pod, ${(performance.now() - started).toFixed(0)} ms when already in place`);
  t.same(await podState(tb, a1.netns), CAPTURED, 'one filter per hook, one rule, one route, accept_local — after two attaches');

  await t.test('connections older than the capture keep working both ways', async (t) => {
    for (const [i, o] of older.entries()) {
      o.child.stdin!.write(`ping${i}\n`);
      await waitFor(() => o.lines.includes(`echo ping${i}`), `echo ping${i}`);
      t.ok(o.lines.includes(`echo ping${i}`), i === 0 ? 'the pod\'s own connection out' : 'a connection into the pod');
    }
  });

  await t.test('outbound TCP goes to the in-pod outbound listener with its original destination', async (t) => {
    t.equal((await probeConnect(tb, a1.netns, b1.ip, 8080)).reply, 'agent-out', 'pod IP on another node');
    const seen = await outbound.waitForAccept((a) => a.localPort === 8080);
    t.same([seen.localAddress, seen.localPort, seen.remoteAddress], [b1.ip, 8080, a1.ip], 'local address = original destination, peer = the pod');
    t.equal((await probeConnect(tb, a1.netns, VIP, 80)).reply, 'agent-out', 'a Service VIP nobody routes');
    const vip = await outbound.waitForAccept((a) => a.localAddress === VIP);
    t.equal(vip.localPort, 80);
    t.equal((await probeConnect(tb, a1.netns, a2.ip, 9999)).reply, 'agent-out', 'a pod on the same node');
  });

  await t.test('what is not captured', async (t) => {
    const before = outbound.accepts.length;
    t.equal((await probeConnect(tb, a1.netns, b1.ip, 5432)).reply, 'b1-db', 'an excluded port is reached directly, and its replies come back');
    t.equal(await markedConnect(p1.path, b1.ip, 8080), 'b1', 'a socket with the agent\'s mark is not captured');
    t.equal((await probeConnect(tb, a1.netns, '127.0.0.1', 9090)).reply, 'a1', 'loopback');
    t.equal((await probeConnect(tb, a1.netns, a1.ip, 9090)).reply, 'a1', 'the pod\'s own address');
    t.equal((await probeConnect(tb, a2.netns, b1.ip, 8080)).reply, 'b1', 'another pod of the node, not attached');
    t.equal(outbound.accepts.length, before, 'the outbound listener saw none of them');
  });

  await t.test('inbound TCP goes to the in-pod inbound listener; HBONE is accepted directly', async (t) => {
    t.equal((await probeConnect(tb, a2.netns, a1.ip, 9090)).reply, 'agent-in', 'from a pod of the same node');
    t.equal((await probeConnect(tb, b1.netns, a1.ip, 9090)).reply, 'agent-in', 'from another node');
    const seen = await inbound.waitForAccept((a) => a.remoteAddress === b1.ip);
    t.same([seen.localAddress, seen.localPort], [a1.ip, 9090], 'local address = the port the client asked for');
    t.equal((await probeConnect(tb, b1.netns, a1.ip, HBONE)).reply, 'agent-hbone', 'the HBONE port reaches the in-pod HBONE listener');
    t.equal((await probeConnect(tb, b1.netns, a1.ip, OUT)).reply, 'agent-in', 'the outbound listener\'s port from outside is inbound traffic like any other');
  });

  await t.test('a restarted agent adopts the pinned programs', async (t) => {
    const before = await c1.describeAll();
    const idsBefore = await progIds(tb, a1.netns);
    const c2 = new EbpfPodCapture(opts);
    await c2.reconcile([p1]);
    const after = await c2.describeAll();
    t.same(after.pods.map((p) => [p.pinDir, p.attachments]), before.pods.map((p) => [p.pinDir, p.attachments]), 'same pins, same attachments');
    t.same(await progIds(tb, a1.netns), idsBefore, 'the very same programs run (adopted, not reloaded)');
    t.same(await podState(tb, a1.netns), CAPTURED, 'nothing doubled');
    t.equal((await probeConnect(tb, a1.netns, b1.ip, 8080)).reply, 'agent-out', 'still captured');
    t.equal((await c2.describe(p1))?.key, p1.key, 'describe by pod');
    t.equal(await c2.describe(p2), undefined, 'a pod never attached has no description');
  });

  await t.test('an upgraded agent (other program build) replaces the filters in place and drops the old pins', async (t) => {
    // Another build of the same programs: the objects with a trailing byte (the ELF loads the
    // same, the version hash differs), as an upgrade brings.
    const dir = await mkdtemp(join(tmpdir(), 'ebpf-podns-up-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    for (const f of ['tc-podns-egress.o', 'tc-podns-ingress.o', 'tc-podns-lo.o']) {
      await writeFile(join(dir, f), Buffer.concat([await readFile(join(root, 'ebpf/build', f)), Buffer.from([0])]));
    }
    const idsBefore = await progIds(tb, a1.netns);
    const oldDirs = (await listPins(fs.path)).filter((p) => /\/default_a1-[^/]+\/[0-9a-f]{12}$/.test(p));
    t.equal(oldDirs.length, 1, 'one version pinned before');
    const up = new EbpfPodCapture({ ...opts, objectDir: dir });
    await up.apply(p1);
    const idsAfter = await progIds(tb, a1.netns);
    t.equal(idsAfter.length, idsBefore.length, 'still one filter per hook');
    t.notOk(idsAfter.some((id) => idsBefore.includes(id)), 'every hook runs a new program');
    const newDirs = (await listPins(fs.path)).filter((p) => /\/default_a1-[^/]+\/[0-9a-f]{12}$/.test(p));
    t.equal(newDirs.length, 1, 'one version pinned after');
    t.not(newDirs[0], oldDirs[0], 'and it is the new one');
    t.same(await podState(tb, a1.netns), CAPTURED);
    t.equal((await probeConnect(tb, a1.netns, b1.ip, 8080)).reply, 'agent-out', 'captured by the new programs');
    // Back to this checkout's build for the rest (a downgrade is the same path).
    await c1.apply(p1);
    t.same((await progIds(tb, a1.netns)).length, idsBefore.length);
  });

  await t.test('reconcile detaches a pod no longer listed; detach removes everything of that pod', async (t) => {
    const c3 = new EbpfPodCapture(opts);
    await c3.apply(p2);
    t.same(await podState(tb, a2.netns), CAPTURED, 'a2 attached');
    const pinsOf = async (pod: string) => (await listPins(fs.path)).filter((p) => p.includes(`/default_${pod}-`));
    t.ok((await pinsOf('a2')).length > 0, 'a2 has pins named after it');
    await c3.reconcile([p1]);
    t.same(await podState(tb, a2.netns), [], 'a2 detached by reconcile');
    t.same(await pinsOf('a2'), [], 'and its pins are gone');
    t.equal((await probeConnect(tb, a2.netns, b1.ip, 8080)).reply, 'b1');
    await c3.remove(p1);
    await c3.remove(p1); // idempotent
    t.same(await podState(tb, a1.netns), [], 'a1 detached');
    t.same(await pinsOf('a1'), [], 'a1\'s pins are gone');
    t.equal((await probeConnect(tb, a1.netns, b1.ip, 8080)).reply, 'b1', 'a1 reaches b1 directly again');
  });

  await t.test('uninstall leaves nothing', async (t) => {
    await c1.apply(p1);
    await c1.apply(p2);
    await c1.uninstall();
    await c1.uninstall();
    t.same(await podState(tb, a1.netns), []);
    t.same(await podState(tb, a2.netns), []);
    t.same(await listPins(fs.path), [], 'no pins');
  });
});
