import t from 'tap';
import http from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdminServer } from '../../../agent/admin/server.ts';
import { memoryLogger } from '../../../common/log.ts';

function get(opts: http.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('admin server over TCP and a unix socket', async (t) => {
  let ready = false;
  const admin = createAdminServer(() => (ready ? { ready, reasons: [] } : { ready, reasons: ['no snapshot yet'] }), memoryLogger());
  admin.register({ key: 'state', handle: () => ({ version: 7 }) });
  admin.register({ key: 'certs', handle: async () => [{ identity: 'spiffe://x/ns/a/sa/b' }] });
  const dir = await mkdtemp(join(tmpdir(), 'weft-admin-test-'));
  t.teardown(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });
  const port = await admin.listenTcp('127.0.0.1', 0);
  const sock = join(dir, 'agent.sock');
  await admin.listenUnix(sock);
  t.equal((await stat(sock)).mode & 0o777, 0o660, 'socket is not world-accessible');

  t.match(await get({ port, path: '/healthz' }), { status: 200, body: 'ok\n' });
  const notReady = await get({ socketPath: sock, path: '/ready' });
  t.equal(notReady.status, 503);
  t.same(JSON.parse(notReady.body).reasons, ['no snapshot yet']);
  ready = true;
  t.equal((await get({ socketPath: sock, path: '/ready' })).status, 200);

  const dump = JSON.parse((await get({ port, path: '/config_dump' })).body);
  t.same(dump, { state: { version: 7 }, certs: [{ identity: 'spiffe://x/ns/a/sa/b' }] });
  t.same(JSON.parse((await get({ port, path: '/config_dump/state' })).body), { state: { version: 7 } });
  const missing = await get({ port, path: '/config_dump/nope' });
  t.equal(missing.status, 404);
  t.match(JSON.parse(missing.body), { code: 'WEFT_ERR_ADMIN_NOT_FOUND', message: /sections: state, certs/ });
  t.equal((await get({ port, path: '/config_dump', method: 'POST' })).status, 405, 'read-only');
});

t.test('over TCP, web pages and rebinding names are refused; the CLI, probes and the unix socket are not', async (t) => {
  const admin = createAdminServer(() => ({ ready: true, reasons: [] }), memoryLogger());
  admin.register({ key: 'certs', handle: () => [{ identity: 'spiffe://x/ns/a/sa/b' }] });
  admin.upgrade('/tap', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n'));
  const dir = await mkdtemp(join(tmpdir(), 'weft-admin-site-'));
  const sock = join(dir, 'agent.sock');
  t.teardown(async () => {
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  });
  const port = await admin.listenTcp('127.0.0.1', 0);
  await admin.listenUnix(sock);
  const ask = (o: http.RequestOptions): Promise<{ status: number; code: string | undefined }> => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, ...o }, (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['weft-error'] as string | undefined })); });
    req.on('upgrade', (res, s) => { s.destroy(); resolve({ status: res.statusCode ?? 0, code: undefined }); });
    req.on('error', reject);
    req.end();
  });
  const ws = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
  const refused: Array<[string, http.RequestOptions]> = [
    ['a page on another site reading the config dump', { path: '/config_dump', headers: { origin: 'https://evil.example' } }],
    ['a page on another site opening the tap', { path: '/tap', headers: { ...ws, origin: 'https://evil.example' } }],
    ['a page on another localhost port opening the tap', { path: '/tap', headers: { ...ws, origin: 'http://localhost:8084' } }],
    ['a DNS-rebinding name', { path: '/config_dump', headers: { host: `rebind.evil.example:${port}` } }],
    ['Sec-Fetch-Site cross-site', { path: '/config_dump', headers: { 'sec-fetch-site': 'cross-site' } }],
  ];
  for (const [why, o] of refused) t.match(await ask(o), { status: 403, code: 'WEFT_ERR_ADMIN_CROSS_SITE' }, `${why}: 403`);
  t.equal((await ask({ path: '/config_dump' })).status, 200, 'the CLI / curl (no Origin, Host 127.0.0.1) reads');
  t.equal((await ask({ path: '/ready', headers: { host: `localhost:${port}` } })).status, 200, 'a probe or port-forward under localhost reads');
  t.equal((await ask({ path: '/tap', headers: ws })).status, 101, 'the CLI opens the tap');
  t.equal((await ask({ path: '/config_dump', headers: { origin: `http://127.0.0.1:${port}` } })).status, 200, 'its own origin is not another site');
  const viaUnix = await get({ socketPath: sock, path: '/config_dump', headers: { origin: 'https://evil.example', host: 'whatever' } });
  t.equal(viaUnix.status, 200, 'the unix socket is not checked: no browser can dial it');
  t.same([admin.rejections().get('admin_cross_site'), admin.rejections().get('admin_host')], [4, 1], 'counted (weft_rejected_input_total)');
});
