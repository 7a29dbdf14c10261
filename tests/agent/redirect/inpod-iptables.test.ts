// In-pod iptables capture on real namespaces (named after this test): a "pod" namespace and a
// "peer" namespace joined by a veth. The capture is applied inside the pod with the real
// iptables-restore; the oracles are iptables-save and where real connections land.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InpodIptablesCapture } from '../../../agent/redirect/inpod-iptables.ts';
import { runCommand, type CommandRunner } from '../../../agent/redirect/command-runner.ts';
import { listenInNetns, netnsInode, netnsSocket, originalDst, socketFd } from '../../../agent/native/index.ts';
import { ErrorCodes } from '../../../common/errors.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
const isRoot = process.getuid?.() === 0;
const POD = `weft-t-inpod-ipt-pod-${process.pid}`;
const PEER = `weft-t-inpod-ipt-peer-${process.pid}`;
const POD_PATH = `/run/netns/${POD}`;
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const opts = { outboundPort: 15001, inboundPort: 15006, hbonePort: 15008, mark: 0x539, excludeOutboundPorts: [22] };

function request(sock: net.Socket, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    sock.on('data', (b: Buffer) => { got += b.toString(); });
    sock.once('error', reject);
    sock.once('end', () => resolve(got));
    sock.connect(port, host);
  });
}

/** A server on an fd that answers with the original destination it read ("direct" when not redirected). */
async function echoOriginal(fd: number, tag: string): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let where = 'direct';
    // Where conntrack runs it knows every connection (one not NATed has its own address as
    // original); where it does not (no nat rules in the namespace) there is no entry: ENOENT.
    try {
      const o = originalDst(socketFd(s));
      if (o.ip !== s.localAddress || o.port !== s.localPort) where = `${o.ip}:${o.port}`;
    } catch { /* not tracked, so not redirected */ }
    s.end(`${tag} ${where}\n`);
  }).listen({ fd });
  await once(server, 'listening');
  return server;
}

t.test('in-pod iptables capture', { skip: !isRoot && 'needs root' }, async (t) => {
  for (const ns of [POD, PEER]) { try { sh('ip', ['netns', 'del', ns]); } catch { /* none */ } }
  sh('ip', ['netns', 'add', POD]);
  sh('ip', ['netns', 'add', PEER]);
  t.teardown(() => { for (const ns of [POD, PEER]) { try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ } } });
  sh('ip', ['-n', POD, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'p0', 'netns', PEER]);
  sh('ip', ['-n', POD, 'addr', 'add', '10.251.0.2/24', 'dev', 'eth0']);
  sh('ip', ['-n', PEER, 'addr', 'add', '10.251.0.1/24', 'dev', 'p0']);
  for (const [ns, dev] of [[POD, 'eth0'], [PEER, 'p0'], [POD, 'lo'], [PEER, 'lo']]) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  const pod = { inode: netnsInode(POD_PATH), path: POD_PATH, key: 'default/a', ip: '10.251.0.2' };
  const calls: string[] = [];
  const exec: CommandRunner = (cmd, args, input) => { calls.push(args.slice(2).join(' ')); return runCommand(cmd, args, input); };
  const capture = new InpodIptablesCapture({ ...opts, exec });
  const save = (): string => sh('ip', ['netns', 'exec', POD, 'iptables-save', '-t', 'nat']).split('\n').filter((l) => !l.startsWith('#')).join('\n');

  // The agent's listeners in the pod, and an app in the pod plus a server on the peer.
  const servers = [
    await echoOriginal(listenInNetns(POD_PATH, '127.0.0.1', 15001, 16, true, false), 'outbound'),
    await echoOriginal(listenInNetns(POD_PATH, '0.0.0.0', 15006, 16, true, false), 'inbound'),
    await echoOriginal(listenInNetns(POD_PATH, '0.0.0.0', 8080, 16, false, false), 'app'),
    await echoOriginal(listenInNetns(`/run/netns/${PEER}`, '0.0.0.0', 9090, 16, false, false), 'peer'),
    await echoOriginal(listenInNetns(`/run/netns/${PEER}`, '0.0.0.0', 22, 16, false, false), 'peer-ssh'),
  ];
  t.teardown(() => { for (const s of servers) s.close(); });

  t.equal(await request(netnsSocket(POD_PATH, 0), 9090, '10.251.0.1'), 'peer direct\n', 'before apply: nothing captured');

  await capture.apply(pod);
  t.match(save(), /:WEFT-INPOD-OUT[\s\S]*-A OUTPUT -p tcp -m comment --comment weft-inpod -j WEFT-INPOD-OUT/);
  t.equal(await request(netnsSocket(POD_PATH, 0), 9090, '10.251.0.1'), 'outbound 10.251.0.1:9090\n', 'the pod dialling out lands on the outbound listener, original destination kept');
  t.equal(await request(netnsSocket(`/run/netns/${PEER}`, 0), 8080, '10.251.0.2'), 'inbound 10.251.0.2:8080\n', 'a peer dialling the pod lands on the inbound listener');
  t.equal(await request(netnsSocket(POD_PATH, 0x539), 9090, '10.251.0.1'), 'peer direct\n', "the agent's marked sockets pass");
  t.equal(await request(netnsSocket(POD_PATH, 0x539), 8080, '10.251.0.2'), 'app direct\n', 'delivery to the app through a marked socket in the pod');
  t.equal(await request(netnsSocket(POD_PATH, 0), 8080, '127.0.0.1'), 'app direct\n', 'loopback is not captured');
  t.equal(await request(netnsSocket(POD_PATH, 0), 22, '10.251.0.1'), 'peer-ssh direct\n', 'excluded ports are not captured');

  const before = save();
  const n = calls.length;
  await capture.apply(pod);
  t.same(calls.slice(n), ['iptables-save -t nat'], 'a second apply reads back and writes nothing');
  t.equal(save(), before);
  t.same(await capture.describe(pod), { chains: ['WEFT-INPOD-OUT', 'WEFT-INPOD-IN'], jumps: 2, rules: 7 });

  await capture.remove(pod);
  t.notMatch(save(), /WEFT|weft/, 'remove leaves nothing in the pod namespace');
  t.equal(await request(netnsSocket(POD_PATH, 0), 9090, '10.251.0.1'), 'peer direct\n', 'and nothing is captured any more');
  await capture.remove(pod);

  const gone = { ...pod, path: `/run/netns/${POD}-gone` };
  await t.resolves(capture.remove(gone), 'removing from a vanished namespace is done, not an error');
  await t.rejects(capture.apply(gone), { code: ErrorCodes.NETNS_UNAVAILABLE });
});
