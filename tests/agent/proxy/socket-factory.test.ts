// The factory's outbound connect bound: a connect that hangs is cut with ETIMEDOUT, and a socket
// that connected keeps nothing of the bound (no 'timeout' listener, no socket timeout) and is not
// cut however long it idles. Real sockets: the hanging connect is a real TCP SYN to a listener
// whose accept queue is full (a python3 listener with backlog 0 that never accepts: the kernel
// completes one handshake and drops the SYNs after it).
import t from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';

const sockets = createSocketFactory();

async function fullListener(t: { teardown(fn: () => void): void }): Promise<number> {
  const py = spawn('python3', ['-c', "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(0);print(s.getsockname()[1],flush=True);time.sleep(120)"], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { py.kill(); });
  return new Promise((resolve) => py.stdout.once('data', (d) => resolve(Number(String(d)))));
}

t.test('a connect that hangs is cut with ETIMEDOUT after the bound', async (t) => {
  const port = await fullListener(t);
  const first = sockets.connect({ ip: '127.0.0.1', port }, 5000);
  t.teardown(() => first.destroy());
  await new Promise((r) => first.once('connect', r));
  const started = Date.now();
  const hung = sockets.connect({ ip: '127.0.0.1', port }, 300);
  const err = await new Promise<NodeJS.ErrnoException>((r) => hung.once('error', r));
  t.equal(err.code, 'ETIMEDOUT');
  t.match(err.message, /timed out after 300 ms/);
  t.ok(Date.now() - started >= 290, 'not before the bound');
  t.ok(hung.destroyed);
});

t.test('a connected socket keeps nothing of the bound and idles past it', async (t) => {
  const server = net.createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const s = sockets.connect({ ip: '127.0.0.1', port: (server.address() as net.AddressInfo).port }, 200);
  t.teardown(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  t.equal(s.listenerCount('timeout'), 0, 'no timeout listener');
  t.equal(s.timeout, undefined, 'no socket timeout');
  await new Promise((r) => setTimeout(r, 400));
  t.notOk(s.destroyed, 'still open after twice the bound');
  let timedOut = false;
  s.on('timeout', () => { timedOut = true; });
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(timedOut);
});
