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
