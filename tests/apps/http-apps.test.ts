// http-server and traffic as child processes on 127.0.0.1.
import t from 'tap';
import http from 'node:http';
import { appPath, runApp, startApp, type RunningApp } from './spawn-app.ts';
import { patternBytes } from './tcp-modes.ts';

let server: RunningApp;
let base: string;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

t.before(async () => {
  server = await startApp(appPath('http-server.ts'), ['--port', '0', '--host', '127.0.0.1', '--name', 'pod-a', '--log']);
  base = `http://127.0.0.1:${server.ready.port as number}`;
});
t.teardown(async () => {
  agent.destroy();
  await server?.stop();
});

function request(method: string, path: string, body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; port: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), port: req.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('GET / names the server and the peer it sees', async (t) => {
  const r = await request('GET', '/');
  t.equal(r.status, 200);
  t.equal(r.headers['x-weft-app-name'], 'pod-a');
  t.match(JSON.parse(r.body.toString()), { name: 'pod-a', remote: /^127\.0\.0\.1:\d+$/, method: 'GET', path: '/' });
});

t.test('/bytes/<n> returns n pattern bytes', async (t) => {
  const r = await request('GET', '/bytes/100000');
  t.equal(r.status, 200);
  t.equal(r.headers['content-length'], '100000');
  t.same(r.body, patternBytes(0, 0, 100000));
});

t.test('POST /echo echoes the body; GET /echo is refused', async (t) => {
  const body = patternBytes(5, 0, 70000);
  const r = await request('POST', '/echo', body);
  t.equal(r.status, 200);
  t.same(r.body, body);
  t.equal((await request('GET', '/echo')).status, 405);
});

t.test('/status/<code> and /delay/<ms>', async (t) => {
  t.equal((await request('GET', '/status/503')).status, 503);
  t.equal((await request('GET', '/status/204')).status, 204);
  t.equal((await request('GET', '/status/42')).status, 400);
  const started = performance.now();
  const r = await request('GET', '/delay/150');
  t.equal(r.status, 200);
  t.ok(performance.now() - started >= 140, 'waited');
  t.equal((await request('GET', '/nowhere')).status, 404);
});

t.test('connections are kept alive across requests', async (t) => {
  const a = await request('GET', '/');
  const b = await request('POST', '/echo', Buffer.from('x'));
  const c = await request('GET', '/status/500');
  t.equal(a.port, b.port);
  t.equal(b.port, c.port);
});

t.test('--log prints one line per request', async (t) => {
  await request('GET', '/status/418');
  const line = await server.waitForLine((l) => l.path === '/status/418');
  t.match(line, { method: 'GET', status: 418, remote: /^127\.0\.0\.1:\d+$/ });
});

t.test('traffic sends --count requests across targets and reports each', async (t) => {
  const r = await runApp(appPath('traffic.ts'), [
    '--target', `${base}/`, '--target', `${base}/status/503`, '--target', 'http://127.0.0.1:1/',
    '--interval', '50', '--count', '6', '--timeout', '2000',
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout[0], { ready: true, app: 'traffic' });
  const results = r.stdout.slice(1);
  t.equal(results.length, 6);
  t.equal(results.filter((l) => l.status === 200).length, 2);
  t.equal(results.filter((l) => l.status === 503).length, 2);
  t.equal(results.filter((l) => l.error === 'ECONNREFUSED').length, 2);
  t.ok(results.every((l) => typeof l.target === 'string'));
  t.ok(results.filter((l) => 'status' in l).every((l) => typeof l.ms === 'number'));
});

t.test('traffic runs until SIGTERM without --count', async (t) => {
  const app = await startApp(appPath('traffic.ts'), ['--target', `${base}/`, '--interval', '20']);
  t.teardown(() => app.stop());
  await app.waitForLines(3);
  t.equal(await app.stop(), 0);
});

t.test('bad flags exit 2', async (t) => {
  t.equal((await runApp(appPath('traffic.ts'), [])).code, 2);
  t.equal((await runApp(appPath('traffic.ts'), ['--target', 'not a url'])).code, 2);
  t.equal((await runApp(appPath('http-server.ts'), ['--port', 'abc'])).code, 2);
});
