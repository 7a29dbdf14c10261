// In-process on 127.0.0.1:0: the metrics port serves the admin server's /metrics and nothing else —
// other paths 404 with a code, other methods 405 (counted), no WebSocket upgrade (counted), slow
// headers cut at the timeout (counted) — and the agent config keeps admin on loopback and parses
// WEFT_METRICS_ADDRESS. The testbed test (tests/e2e/sec-admin-surface.test.ts) dials both from a pod.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { createAdminServer } from '../../../agent/admin/server.ts';
import { createMetricsServer } from '../../../agent/admin/metrics-server.ts';
import { loadAgentConfig, metricsListen } from '../../../agent/config.ts';
import { memoryLogger } from '../../../common/log.ts';

function request(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, code: res.headers['weft-error'] as string | undefined }));
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode ?? 0, body: '', code: undefined }); });
    req.on('error', reject);
    req.end();
  });
}

t.test('GET /metrics and nothing else', async (t) => {
  const admin = createAdminServer(() => ({ ready: true, reasons: [] }), memoryLogger());
  admin.register({ key: 'certs', handle: () => [{ identity: 'spiffe://x/ns/a/sa/b' }] });
  admin.route('/metrics', (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('weft_up 1\n'); });
  admin.route('/stats', (_req, res) => { res.end('{}'); });
  admin.upgrade('/tap', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n'));
  const metrics = createMetricsServer({ metrics: admin.routeFor('/metrics') ?? ((): void => undefined), reject: (r) => admin.countRejected(r), headersTimeoutMs: 300 });
  const port = await metrics.listen('127.0.0.1', 0);
  t.teardown(async () => { await metrics.close(); await admin.close(); });

  t.match(await request(port, 'GET', '/metrics'), { status: 200, body: 'weft_up 1\n' }, 'the admin server\'s /metrics');
  t.match(await request(port, 'GET', '/metrics?name[]=x'), { status: 200 }, 'a scraper\'s query is ignored');
  t.equal((await request(port, 'HEAD', '/metrics')).status, 200);
  for (const path of ['/', '/healthz', '/ready', '/config_dump', '/config_dump/certs', '/stats', '/tap', '/metrics/', '//metrics', '/metrics/../config_dump']) {
    const r = await request(port, 'GET', path);
    t.match(r, { status: 404, code: 'WEFT_ERR_ADMIN_NOT_FOUND' }, `GET ${path}: 404`);
    t.notMatch(r.body, /spiffe/, `GET ${path}: nothing of the admin API`);
  }
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) t.match(await request(port, m, '/metrics'), { status: 405, code: 'WEFT_ERR_ADMIN_METHOD' }, `${m}: 405`);
  const ws = await request(port, 'GET', '/tap', { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
  t.equal(ws.status, 404, 'no upgrade: the tap is not here');
  const slow = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got));
  });
  t.match(slow, /^HTTP\/1\.1 408 [\s\S]*WEFT_ERR_HTTP_HEADER_TIMEOUT/, 'slow headers: 408');
  t.same(Object.fromEntries(admin.rejections()), { metrics_method: 4, metrics_upgrade: 1, metrics_header_timeout: 1 }, 'counted with the admin server\'s refusals (weft_rejected_input_total)');
});

t.test('config: admin on loopback only; WEFT_METRICS_ADDRESS parsed; ports differ; all errors at once', async (t) => {
  const env = (e: Record<string, string>) => (k: string): string | undefined => ({ WEFT_NODE_NAME: 'n1', ...e } as Record<string, string>)[k];
  for (const h of ['127.0.0.1', '127.0.0.53', '::1', '[::1]', 'localhost']) t.equal(loadAgentConfig(env({ WEFT_ADMIN_HOST: h })).adminHost, h, `admin on ${h}`);
  for (const h of ['0.0.0.0', '::', '10.0.0.7', '172.31.0.11', 'node.example', '']) {
    t.throws(() => loadAgentConfig(env({ WEFT_ADMIN_HOST: h })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_ERR_ADMIN_NOT_LOOPBACK: WEFT_ADMIN_HOST .* is not loopback[\s\S]*WEFT_METRICS_ADDRESS/ }, `admin on ${JSON.stringify(h)} is refused`);
  }
  t.equal(metricsListen(loadAgentConfig(env({}))), null, 'no metrics port by default');
  t.same(metricsListen(loadAgentConfig(env({ WEFT_METRICS_ADDRESS: '10.0.0.7:15090' }))), { host: '10.0.0.7', port: 15090 });
  t.same(metricsListen(loadAgentConfig(env({ WEFT_METRICS_ADDRESS: 'fd00::7:15090' }))), { host: 'fd00::7', port: 15090 }, 'an unbracketed IPv6 node IP, as $(HOST_IP):port renders it');
  t.same(metricsListen(loadAgentConfig(env({ WEFT_METRICS_ADDRESS: '[fd00::7]:15090' }))), { host: 'fd00::7', port: 15090 });
  for (const bad of ['15090', 'host:', 'host:0', 'host:70000', ':15090', 'a b:1']) {
    t.throws(() => loadAgentConfig(env({ WEFT_METRICS_ADDRESS: bad })), { message: /WEFT_METRICS_ADDRESS: expected host:port/ }, `metrics ${JSON.stringify(bad)} refused`);
  }
  t.throws(() => loadAgentConfig(env({ WEFT_METRICS_ADDRESS: '10.0.0.7:15020' })), { message: /ports must differ/ }, 'the metrics port may not be the admin port');
  t.throws(() => loadAgentConfig(env({ WEFT_NODE_NAME: '', WEFT_ADMIN_HOST: '0.0.0.0', WEFT_METRICS_ADDRESS: 'x' })), { message: /WEFT_NODE_NAME[\s\S]*WEFT_ERR_ADMIN_NOT_LOOPBACK[\s\S]*WEFT_METRICS_ADDRESS/ }, 'every problem in one error');
});
