// The idle-connection holder against an in-process HTTP/1.1 server on 127.0.0.1: every connection
// makes its request and stays open; failures and early closes are counted, not thrown.
import t from 'tap';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { holdConnections } from '../../bench/lib/hold.ts';
import { startApp } from '../apps/spawn-app.ts';
import { fileURLToPath } from 'node:url';

async function server(handler: http.RequestListener): Promise<{ url: URL; open: () => number; close: () => Promise<void> }> {
  const s = http.createServer({ keepAlive: true }, handler);
  s.keepAliveTimeout = 60_000;
  let open = 0;
  s.on('connection', (sock) => { open++; sock.on('close', () => open--); });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return {
    url: new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`),
    open: () => open,
    close: () => { s.closeAllConnections(); return new Promise<void>((r) => s.close(() => r())); },
  };
}

t.test('N connections are set up with one request each and held', async (t) => {
  let requests = 0;
  const s = await server((_req, res) => { requests++; res.end('ok'); });
  t.teardown(s.close);
  const h = holdConnections({ url: s.url, connections: 150, parallel: 20, timeoutMs: 5000 });
  const est = await h.established;
  t.equal(est.open, 150);
  t.same(est.failed, {});
  t.equal(requests, 150, 'one request per connection');
  t.equal(s.open(), 150, 'the server sees them all open');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(h.state().open, 150, 'still held');
  h.close();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(s.open(), 0, 'close() lets every connection go');
  t.equal(h.state().closedEarly, 0, 'closing ourselves is not an early close');
});

t.test('failed set-ups are counted by code; connections the server drops count as closed early', async (t) => {
  let n = 0;
  const s = await server((_req, res) => {
    n++;
    if (n % 4 === 0) res.writeHead(503).end();
    else res.end('ok');
  });
  t.teardown(s.close);
  const h = holdConnections({ url: s.url, connections: 20, parallel: 4, timeoutMs: 5000 });
  const est = await h.established;
  t.equal(est.open, 15);
  t.same(est.failed, { HTTP_503: 5 });
  await s.close();
  await new Promise((r) => setTimeout(r, 200));
  t.equal(h.state().open, 0);
  t.equal(h.state().closedEarly, 15);
  h.close();

  const refused = holdConnections({ url: new URL('http://127.0.0.1:1/'), connections: 3, parallel: 3, timeoutMs: 2000 });
  t.same((await refused.established).failed, { ECONNREFUSED: 3 });
});

t.test('hold-cli: ready, established, and a final count on SIGTERM', async (t) => {
  const s = await server((_req, res) => res.end('ok'));
  t.teardown(s.close);
  const cli = fileURLToPath(new URL('../../bench/lib/hold-cli.ts', import.meta.url));
  const app = await startApp(cli, ['--url', s.url.toString(), '--connections', '30', '--parallel', '10']);
  const est = await app.waitForLine((l) => l.established === true, 10_000);
  t.equal(est.open, 30);
  await app.stop(3000);
  t.match(app.lines.find((l) => l.final === true), { open: 30, closedEarly: 0 });
});
