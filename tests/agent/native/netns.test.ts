// The addon's network-namespace functions on real namespaces (created and deleted here, named
// after this test): listeners and sockets born in a pod's namespace, its inode and addresses, and
// SO_ORIGINAL_DST behind a real iptables REDIRECT. The oracles are the kernel's own tools (ip, ss,
// stat, iptables), never the addon.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { execFileSync, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  listenInNetns, netnsInode, netnsIpv4, netnsSocket, originalDst, socketFd, socketInNetns,
} from '../../../agent/native/index.ts';
import { ErrorCodes } from '../../../common/errors.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
const isRoot = process.getuid?.() === 0;
const NS = `weft-t-native-netns-${process.pid}`;
const NS_PATH = `/run/netns/${NS}`;
const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const inNs = (args: string[]): string => sh('ip', ['netns', 'exec', NS, ...args]);

function connectVia(sock: net.Socket, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    sock.on('data', (b: Buffer) => { got += b.toString(); });
    // Destroyed either way: a socket left half-open would hold the test process past its end
    // (seen once under load: tap's timeout listed one such socket as the live handle).
    sock.once('error', (err) => { sock.destroy(); reject(err); });
    sock.once('end', () => { sock.destroy(); resolve(got); });
    sock.connect(port, host);
  });
}

t.test('network namespace functions', { skip: !isRoot && 'needs root (ip netns, setns)' }, async (t) => {
  try { sh('ip', ['netns', 'del', NS]); } catch { /* not left over */ }
  sh('ip', ['netns', 'add', NS]);
  t.teardown(() => { try { sh('ip', ['netns', 'del', NS]); } catch { /* gone */ } });
  inNs(['ip', 'link', 'set', 'lo', 'up']);
  // A veth pair with both ends inside (no dummy module needed): the pod's "eth0" and its peer.
  inNs(['ip', 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1']);
  inNs(['ip', 'addr', 'add', '10.250.7.2/24', 'dev', 'e0']);
  inNs(['ip', 'link', 'set', 'e0', 'up']);
  inNs(['ip', 'link', 'set', 'e1', 'up']);
  const home = statSync('/proc/thread-self/ns/net').ino;

  await t.test('netnsInode is the namespace file inode, the same through a process inside it', async (t) => {
    t.equal(netnsInode(NS_PATH), statSync(NS_PATH).ino);
    const child = spawn('ip', ['netns', 'exec', NS, 'sleep', '30'], { stdio: 'ignore' });
    t.teardown(() => child.kill('SIGKILL'));
    // ip netns exec execs sleep in place: the pid is sleep's once it has entered the namespace.
    let viaProc = 0;
    for (let i = 0; i < 50 && viaProc !== statSync(NS_PATH).ino; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try { viaProc = netnsInode(`/proc/${child.pid}/ns/net`); } catch { /* not yet */ }
    }
    t.equal(viaProc, statSync(NS_PATH).ino, '/proc/PID/ns/net names the same namespace');
    t.not(netnsInode(NS_PATH), home, 'and it is not the test process namespace');
  });

  await t.test('netnsIpv4 lists the namespace addresses, not the caller', async (t) => {
    const ips = netnsIpv4(NS_PATH).sort();
    t.same(ips, ['10.250.7.2', '127.0.0.1']);
    t.equal(statSync('/proc/thread-self/ns/net').ino, home, 'the thread is back home');
  });

  await t.test('a listener born in the namespace listens there and only there', async (t) => {
    const fd = listenInNetns(NS_PATH, '0.0.0.0', 0, 16, true, false);
    const server = net.createServer((s) => s.on('error', () => {}).end(`hi ${s.remoteAddress}\n`)).listen({ fd });
    await once(server, 'listening');
    t.teardown(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    t.match(inNs(['ss', '-ltnH']), new RegExp(`:${port}\\b`), 'ss in the namespace shows the listener');
    t.notMatch(sh('ss', ['-ltnH', `sport = :${port}`]), new RegExp(`:${port}\\b`), 'ss in the caller namespace does not');
    // A second worker shares the port (SO_REUSEPORT), as every proxy worker does per pod.
    const fd2 = listenInNetns(NS_PATH, '0.0.0.0', port, 16, true, false);
    const second = net.createServer().listen({ fd: fd2 });
    await once(second, 'listening');
    // Closed before any client: SO_REUSEPORT would otherwise hash some connections to it.
    await new Promise<void>((resolve) => second.close(() => resolve()));
    // A client inside the namespace (a socket born there) reaches it at the pod's address.
    const reply = await connectVia(netnsSocket(NS_PATH, 0), port, '10.250.7.2');
    t.equal(reply, 'hi 10.250.7.2\n');
    t.equal(statSync('/proc/thread-self/ns/net').ino, home, 'the thread is back home');
  });

  await t.test('socketInNetns sets SO_MARK: a rule rejecting unmarked traffic lets it through', async (t) => {
    const fd = listenInNetns(NS_PATH, '127.0.0.1', 0, 16, false, false);
    const server = net.createServer((s) => s.on('error', () => {}).end('ok\n')).listen({ fd });
    await once(server, 'listening');
    const port = String((server.address() as net.AddressInfo).port);
    const rule = ['OUTPUT', '-p', 'tcp', '--dport', port, '-m', 'mark', '!', '--mark', '0x539', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    inNs(['iptables', '-A', ...rule]);
    t.teardown(() => { server.close(); try { inNs(['iptables', '-D', ...rule]); } catch { /* namespace gone */ } });
    t.equal(await connectVia(netnsSocket(NS_PATH, 0x539), Number(port), '127.0.0.1'), 'ok\n', 'marked: delivered');
    await t.rejects(connectVia(netnsSocket(NS_PATH, 0), Number(port), '127.0.0.1'), { code: 'ECONNREFUSED' }, 'unmarked: rejected by the rule');
  });

  await t.test('originalDst reads where a REDIRECTed connection was first sent', async (t) => {
    const fd = listenInNetns(NS_PATH, '0.0.0.0', 0, 16, false, false);
    const seen: Array<{ ip: string; port: number }> = [];
    const server = net.createServer((s) => { s.on('error', () => {}); seen.push(originalDst(socketFd(s))); s.end('r\n'); }).listen({ fd });
    await once(server, 'listening');
    const port = String((server.address() as net.AddressInfo).port);
    const rule = ['OUTPUT', '-p', 'tcp', '-d', '10.250.7.9', '--dport', '8080', '-j', 'REDIRECT', '--to-ports', port];
    inNs(['iptables', '-t', 'nat', '-A', ...rule]);
    t.teardown(() => { server.close(); try { inNs(['iptables', '-t', 'nat', '-D', ...rule]); } catch { /* gone */ } });
    t.equal(await connectVia(netnsSocket(NS_PATH, 0), 8080, '10.250.7.9'), 'r\n');
    t.same(seen, [{ ip: '10.250.7.9', port: 8080 }]);
  });

  await t.test('a namespace that does not exist is WEFT_ERR_NETNS_UNAVAILABLE, and the thread stays home', async (t) => {
    const gone = `/run/netns/${NS}-missing`;
    t.throws(() => listenInNetns(gone, '0.0.0.0', 0), { code: ErrorCodes.NETNS_UNAVAILABLE, message: /No such file/ });
    t.throws(() => socketInNetns(gone, 0), { code: ErrorCodes.NETNS_UNAVAILABLE });
    t.throws(() => netnsInode(gone), { code: ErrorCodes.NETNS_UNAVAILABLE });
    t.throws(() => netnsIpv4(gone), { code: ErrorCodes.NETNS_UNAVAILABLE });
    t.throws(() => listenInNetns('/etc/hostname', '0.0.0.0', 0), { code: ErrorCodes.NETNS_UNAVAILABLE }, 'a file that is not a namespace');
    t.throws(() => listenInNetns(NS_PATH, 'nope', 0), { code: 'EINVAL' });
    t.equal(statSync('/proc/thread-self/ns/net').ino, home);
  });
});
