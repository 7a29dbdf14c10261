// The native addon: builds with plain cc, opens transparent listening sockets Node can adopt.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isTransparent, listenTransparent, nativeAvailable, transparentServer } from '../../../agent/native/index.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });
const isRoot = process.getuid?.() === 0;

t.ok(nativeAvailable(), 'the addon loads after scripts/build-native.sh');

t.test('a transparent listener accepts connections through net.Server', { skip: !isRoot && 'needs CAP_NET_ADMIN' }, async (t) => {
  const server = net.createServer((s) => s.end('pong\n'));
  transparentServer(server, '127.0.0.1', 0);
  await once(server, 'listening');
  t.teardown(() => server.close());
  const addr = server.address() as net.AddressInfo;
  t.equal(addr.address, '127.0.0.1');
  t.ok(addr.port > 0);
  const client = net.connect(addr.port, '127.0.0.1');
  let reply = '';
  client.on('data', (b: Buffer) => { reply += b.toString(); });
  await once(client, 'end');
  t.equal(reply, 'pong\n');
});

t.test('the fd is listening with IP_TRANSPARENT, and SO_REUSEPORT lets two share a port', { skip: !isRoot && 'needs CAP_NET_ADMIN' }, async (t) => {
  const fd1 = listenTransparent('127.0.0.1', 0, 16, true);
  t.ok(isTransparent(fd1), 'IP_TRANSPARENT is set');
  const s1 = net.createServer().listen({ fd: fd1 });
  await once(s1, 'listening');
  const port = (s1.address() as net.AddressInfo).port;
  const fd2 = listenTransparent('127.0.0.1', port, 16, true);
  const s2 = net.createServer().listen({ fd: fd2 });
  await once(s2, 'listening');
  t.teardown(() => { s1.close(); s2.close(); });
  t.throws(() => listenTransparent('127.0.0.1', port, 16, false), { code: 'EADDRINUSE' }, 'without SO_REUSEPORT the port is taken');
  const v6 = listenTransparent('::1', 0, 16, false);
  t.ok(isTransparent(v6), 'IPV6_TRANSPARENT on a v6 socket');
  net.createServer().listen({ fd: v6 }).close();
});

t.test('bad arguments are refused with EINVAL', async (t) => {
  t.throws(() => listenTransparent('not-an-ip', 0), { code: 'EINVAL', message: /literal IPv4 or IPv6/ });
  t.throws(() => listenTransparent('127.0.0.1', 70000), { code: 'EINVAL' });
});
