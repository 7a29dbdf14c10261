// tcp-server and tcp-client as the testbed runs them: child processes on 127.0.0.1, port 0.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { appPath, runApp, startApp, type RunningApp } from './spawn-app.ts';
import { runTcpClient, defaultRunOptions } from './tcp-runner.ts';
import { patternSha256 } from './tcp-modes.ts';

const client = appPath('tcp-client.ts');
let server: RunningApp;
let port: number;

t.before(async () => {
  server = await startApp(appPath('tcp-server.ts'), ['--port', '0', '--host', '127.0.0.1', '--log']);
  port = server.ready.port as number;
});
t.teardown(async () => { await server?.stop(); });

function clientRun(...args: string[]) {
  return runApp(client, ['--host', '127.0.0.1', '--port', String(port), ...args]);
}

t.test('ready line names the chosen port', async (t) => {
  t.match(server.ready, { ready: true, app: 'tcp-server', host: '127.0.0.1' });
  t.ok(port > 0);
});

t.test('echo returns exactly what was sent, over several connections', async (t) => {
  const r = await clientRun('--mode', 'echo', '--bytes', '300001', '--seed', '9', '--connections', '3');
  t.equal(r.code, 0, r.stderr);
  const res = r.stdout[1];
  t.match(res, { ok: true, mode: 'echo', connections: 3, bytesSent: 900003, bytesReceived: 900003, errors: [] });
  t.equal(res.sha256Sent, patternSha256(9, 300001));
  t.equal(res.sha256Received, res.sha256Sent);
  t.type(res.durationMs, 'number');
});

t.test('sink: the server reports the count and hash of what it consumed', async (t) => {
  const r = await clientRun('--mode', 'sink', '--bytes', '200000', '--seed', '3');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout[1], { ok: true, bytesSent: 200000, sha256Sent: patternSha256(3, 200000), sha256Received: patternSha256(3, 200000) });
});

t.test('source: the client receives the seeded pattern', async (t) => {
  const r = await clientRun('--mode', 'source', '--bytes', '123457', '--seed', '42', '--connections', '2');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout[1], { ok: true, bytesReceived: 246914, sha256Received: patternSha256(42, 123457) });
});

t.test('zero-byte transfers are fine', async (t) => {
  for (const mode of ['echo', 'sink', 'source']) {
    const r = await clientRun('--mode', mode, '--bytes', '0');
    t.match(r.stdout[1], { ok: true, bytesReceived: mode === 'sink' ? 67 : 0 }, mode);
  }
});

t.test('reset is seen as ECONNRESET', async (t) => {
  const r = await clientRun('--mode', 'reset', '--connections', '2');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout[1], { ok: true, errors: ['ECONNRESET', 'ECONNRESET'] });
});

t.test('who reports the client address the server sees', async (t) => {
  const r = await clientRun('--mode', 'who');
  t.equal(r.code, 0, r.stderr);
  const res = r.stdout[1] as { who: string[]; local: string[] };
  t.match(res.who[0], /^127\.0\.0\.1:\d+$/);
  t.same(res.who, res.local, 'no NAT on loopback: seen == local');
});

t.test('hold keeps the connection open and silent until the client ends', async (t) => {
  const started = performance.now();
  const r = await clientRun('--mode', 'hold', '--hold', '300');
  t.match(r.stdout[1], { ok: true, bytesReceived: 0, errors: [] });
  t.ok(performance.now() - started >= 300, 'lasted at least the hold');
});

t.test('a mismatch is reported as not ok with exit 1', async (t) => {
  // A plain echo server that drops the last byte stands in for a broken proxy.
  const bad = net.createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => s.end(Buffer.concat(chunks).subarray(5, -1)));
  });
  bad.listen(0, '127.0.0.1');
  await once(bad, 'listening');
  t.teardown(() => { bad.close(); });
  const r = await runApp(client, ['--port', String((bad.address() as net.AddressInfo).port), '--mode', 'echo', '--bytes', '1000']);
  t.equal(r.code, 1);
  t.match(r.stdout[1], { ok: false, errors: ['MISMATCH'], bytesReceived: 999 });
});

t.test('the runner library works in-process', async (t) => {
  const res = await runTcpClient({ ...defaultRunOptions, host: '127.0.0.1', port, mode: 'source', bytes: 5000, seed: 5 });
  t.match(res, { ok: true, bytesReceived: 5000 });
});

t.test('a bad mode line gets an ERR reply', async (t) => {
  const s = net.connect(port, '127.0.0.1');
  s.end('BOGUS\n');
  let text = '';
  for await (const d of s) text += String(d);
  t.match(text, /^ERR unknown mode/);
});

t.test('bad flags exit 2 with a message', async (t) => {
  for (const args of [['--mode', 'echo'], ['--port', '1', '--mode', 'nope'], ['--port', '1', '--mode', 'echo', '--bytes', '-3'], ['--what']]) {
    const r = await runApp(client, args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, /^tcp-client: [^]+\nusage: /);
  }
  const s = await runApp(appPath('tcp-server.ts'), ['--port', '70000']);
  t.equal(s.code, 2);
  t.match(s.stderr, /--port must be an integer/);
});

t.test('the server logged connections and exits 0 on SIGTERM', async (t) => {
  t.ok(server.lines.some((l) => l.mode === 'SINK' && l.bytesIn === 200000), 'sink connection logged');
  t.equal(await server.stop(), 0);
});
