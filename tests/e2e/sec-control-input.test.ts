// Bad input against the real control process (issue 11): CSRs it must not sign (another node's
// pod, CA:true, extra SANs, the wrong key type, tampered, oversized, not JSON), credentials it must
// not accept (a token for another audience, another ServiceAccount's token, none), config-stream
// frames that break the protocol (not JSON, binary, oversized, a hello for another node), and
// malformed or slow HTTP on its API port and dashboard. Each gets a stable code, a count in
// control's weft_rejected_input_total{reason} (GET /metrics on the API port), and control keeps
// serving. Control runs against the API server fixture (TokenReview attestation), in the root
// namespace on loopback ports; no testbed is needed.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { ApiServerFixture } from '../k8s-fixture/api-server.ts';
import { namespace, node, pod } from '../k8s-fixture/objects.ts';
import { CONTROL_BUNDLE } from '../testbed/mesh.ts';
import { generateCsr } from '../../agent/identity/index.ts';
import { makeCsr, tamper } from '../control/ca/csr-fixtures.ts';
import { CSR_PATH } from '../../control/api/csr.ts';
import { STREAM_PATH, STREAM_PROTOCOL_VERSION } from '../../control/api/stream.ts';
import { parseRejected, runScenarios } from './sec-helpers.ts';

const TIMEOUT_MS = 1500;
const ID = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

const fixture = await ApiServerFixture.start();
t.teardown(() => fixture.stop());
const dir = await mkdtemp(join(tmpdir(), 'weft-sec-control-input-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
await writeFile(join(dir, 'kubeconfig'), fixture.kubeconfig());
fixture.apply([
  namespace('demo', true), namespace('weft-system', false),
  node('n1', '192.168.77.1'), node('n2', '192.168.77.2'),
  pod({ name: 'a', namespace: 'demo', node: 'n1', ip: '10.77.1.2', serviceAccount: 'a', uid: 'uid-a' }),
  pod({ name: 'b', namespace: 'demo', node: 'n2', ip: '10.77.2.2', serviceAccount: 'b', uid: 'uid-b' }),
  pod({ name: 'weft-agent-n1', namespace: 'weft-system', node: 'n1', ip: '192.168.77.1', serviceAccount: 'weft-agent', uid: 'uid-agent-n1', hostNetwork: true }),
]);
const agentToken = (audiences: string[]): string => fixture.mintServiceAccountToken({ namespace: 'weft-system', serviceAccount: 'weft-agent', podName: 'weft-agent-n1', podUid: 'uid-agent-n1', audiences });
const n1Token = agentToken(['weft-control']);
const otherAudience = agentToken(['some-other-service']);
const podToken = fixture.mintServiceAccountToken({ namespace: 'demo', serviceAccount: 'a', podName: 'a', podUid: 'uid-a', audiences: ['weft-control'] });
const dashboardToken = randomBytes(16).toString('hex');

const control: ChildProcess = spawn(process.execPath, [CONTROL_BUNDLE], {
  env: {
    PATH: process.env.PATH, WEFT_CA_DIR: join(dir, 'ca'), WEFT_LISTEN_ADDRESS: '127.0.0.1:0', WEFT_DASHBOARD_ADDRESS: '127.0.0.1:0', WEFT_DASHBOARD_TOKEN: dashboardToken,
    WEFT_DISCOVERY: 'kubernetes', WEFT_KUBECONFIG: join(dir, 'kubeconfig'), WEFT_AUTHENTICATOR: 'token-review', WEFT_TOKEN_AUDIENCE: 'weft-control',
    WEFT_HEADERS_TIMEOUT_MS: String(TIMEOUT_MS),
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let log = '';
control.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
control.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
const killControl = (): boolean => control.kill('SIGKILL');
process.once('exit', killControl);
t.teardown(async () => {
  process.off('exit', killControl);
  control.kill('SIGTERM');
  await new Promise((r) => (control.exitCode !== null ? r(null) : control.once('close', r)));
});
for (let i = 0; !/"msg":"ready"/.test(log); i++) {
  if (i > 300 || control.exitCode !== null) throw new Error(`control did not start:\n${log}`);
  await new Promise((r) => setTimeout(r, 100));
}
const port = Number(/"msg":"listening","address":"127\.0\.0\.1:(\d+)"/.exec(log)?.[1]);
const dashboard = new URL(/"msg":"dashboard listening","url":"([^"]+)"/.exec(log)?.[1] ?? '');
const ca = await readFile(join(dir, 'ca', 'ca.crt'), 'utf8');
const pid = control.pid;

interface Answer { status: number; body: { code?: string; message?: string } | string }
function request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, ca, servername: 'localhost', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let b: Answer['body'] = text;
        try {
          b = JSON.parse(text) as Answer['body'];
        } catch {
          // text (metrics)
        }
        resolve({ status: res.statusCode ?? 0, body: b });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
const csr = (pem: string, token: string | null = n1Token): Promise<Answer> => request('POST', CSR_PATH, JSON.stringify({ csr: pem }), token === null ? {} : { authorization: `Bearer ${token}` });
const rejected = async (): Promise<Map<string, number>> => parseRejected(String((await request('GET', '/metrics')).body));
const code = (a: Answer): string | undefined => (typeof a.body === 'object' ? a.body.code : undefined);

// The model needs the pods before n1 may have a's identity.
const good = await generateCsr(ID('demo', 'a'));
for (let i = 0; (await csr(good.csrPem)).status !== 200; i++) {
  if (i > 100) throw new Error(`control never signed a's identity for n1:\n${log.slice(-3000)}`);
  await new Promise((r) => setTimeout(r, 200));
}

t.test('CSRs asking for what the node may not have are refused with stable codes', async (t) => {
  const before = await rejected();
  const url = (id: string): { type: 'url'; value: string } => ({ type: 'url', value: id });
  const cases: Array<[string, () => Promise<Answer>, number, string]> = [
    ['another node\'s pod identity', async () => csr((await generateCsr(ID('demo', 'b'))).csrPem), 403, 'WEFT_ERR_CSR_FORBIDDEN'],
    ['an identity no pod has', async () => csr((await generateCsr(ID('demo', 'ghost'))).csrPem), 403, 'WEFT_ERR_CSR_FORBIDDEN'],
    ['the agent\'s own ServiceAccount identity', async () => csr((await generateCsr(ID('weft-system', 'weft-agent'))).csrPem), 403, 'WEFT_ERR_CSR_FORBIDDEN'],
    ['another trust domain', async () => csr((await generateCsr('spiffe://evil.example/ns/demo/sa/a')).csrPem), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a CA:true basic constraint', async () => csr(await makeCsr({ names: [url(ID('demo', 'a'))], ca: true })), 400, 'WEFT_ERR_CSR_INVALID'],
    ['an extra DNS SAN', async () => csr(await makeCsr({ names: [url(ID('demo', 'a')), { type: 'dns', value: 'kubernetes.default.svc' }] })), 400, 'WEFT_ERR_CSR_INVALID'],
    ['two URI SANs (its own and another node\'s)', async () => csr(await makeCsr({ names: [url(ID('demo', 'a')), url(ID('demo', 'b'))] })), 400, 'WEFT_ERR_CSR_INVALID'],
    ['the SAN extension twice', async () => csr(await makeCsr({ names: [url(ID('demo', 'a'))], duplicateSan: true })), 400, 'WEFT_ERR_CSR_INVALID'],
    ['an RSA key', async () => csr(await makeCsr({ names: [url(ID('demo', 'a'))], key: 'rsa' })), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a P-384 key', async () => csr(await makeCsr({ names: [url(ID('demo', 'a'))], key: 'p384' })), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a tampered request (signature no longer verifies)', async () => csr(tamper(await makeCsr({ names: [url(ID('demo', 'a'))] }), 'ns/demo/sa/a', 'ns/demo/sa/b')), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a PEM that is no PKCS#10', async () => csr('-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n'), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a body that is not JSON', () => request('POST', CSR_PATH, '{"csr":', { authorization: `Bearer ${n1Token}` }), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a body without csr', () => request('POST', CSR_PATH, '{"ttlSeconds":60}', { authorization: `Bearer ${n1Token}` }), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a ttlSeconds that is no number', () => request('POST', CSR_PATH, JSON.stringify({ csr: good.csrPem, ttlSeconds: '1e9' }), { authorization: `Bearer ${n1Token}` }), 400, 'WEFT_ERR_CSR_INVALID'],
    ['a 200 KiB body', () => request('POST', CSR_PATH, JSON.stringify({ csr: 'x'.repeat(200 * 1024) }), { authorization: `Bearer ${n1Token}` }), 413, 'WEFT_ERR_CSR_INVALID'],
    ['no credential', () => csr(good.csrPem, null), 401, 'WEFT_ERR_CSR_UNAUTHENTICATED'],
    ['an agent token for another audience', () => csr(good.csrPem, otherAudience), 401, 'WEFT_ERR_CSR_UNAUTHENTICATED'],
    ['a pod\'s own token (right audience, not the agent\'s ServiceAccount)', () => csr(good.csrPem, podToken), 401, 'WEFT_ERR_CSR_UNAUTHENTICATED'],
    ['a made-up token', () => csr(good.csrPem, 'fixture.madeup'), 401, 'WEFT_ERR_CSR_UNAUTHENTICATED'],
    ['GET on the CSR path', () => request('GET', CSR_PATH, undefined, { authorization: `Bearer ${n1Token}` }), 405, 'WEFT_ERR_HTTP_ROUTE'],
  ];
  for (const [name, send, status, want] of cases) {
    const a = await send();
    t.equal(a.status, status, `${name}: ${status}`);
    t.equal(code(a), want, `${name}: ${want}`);
  }
  const after = await rejected();
  const d = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  t.equal(d('csr_forbidden'), 3, 'weft_rejected_input_total{reason="csr_forbidden"} counted 3');
  t.equal(d('csr_invalid'), 12, 'weft_rejected_input_total{reason="csr_invalid"} counted 12');
  t.equal(d('csr_too_large'), 1, 'weft_rejected_input_total{reason="csr_too_large"} counted 1');
  t.equal(d('csr_unauthenticated'), 4, 'weft_rejected_input_total{reason="csr_unauthenticated"} counted 4');
  t.equal(d('csr_http_route'), 1, 'weft_rejected_input_total{reason="csr_http_route"} counted 1');
  t.equal((await csr(good.csrPem)).status, 200, 'and the node still gets its own pod\'s certificate');
});

interface StreamOutcome { messages: Array<{ type?: string; code?: string }>; closeCode: number }
function stream(send: (ws: WebSocket) => void): Promise<StreamOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${STREAM_PATH}`, [], { ca, servername: 'localhost', maxPayload: 64 << 20 } as ConstructorParameters<typeof WebSocket>[2]);
    const messages: StreamOutcome['messages'] = [];
    const timer = setTimeout(() => ws.terminate(), 15_000);
    ws.on('open', () => send(ws));
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type?: string; code?: string };
      messages.push(m);
      // A good hello gets its snapshot: enough said.
      if (m.type === 'snapshot-sent') ws.close(1000);
    });
    ws.on('error', (err) => {
      if (messages.length === 0 && ws.readyState === ws.CONNECTING) reject(err);
    });
    ws.on('close', (closeCode) => {
      clearTimeout(timer);
      resolve({ messages, closeCode });
    });
  });
}
const hello = (token: string, nodeName = 'n1', protocol = STREAM_PROTOCOL_VERSION): string => JSON.stringify({ type: 'hello', protocol, node: nodeName, agentVersion: 'sec-test', credential: token });

t.test('config-stream frames that break the protocol cost the sender its stream, with a code', async (t) => {
  const before = await rejected();
  const cases: Array<[string, (ws: WebSocket) => void, number, string | null]> = [
    ['a frame that is not JSON', (ws) => ws.send('{"type":'), 1002, 'WEFT_ERR_STREAM_PROTOCOL'],
    ['a binary frame', (ws) => ws.send(Buffer.from(hello(n1Token)), { binary: true }), 1002, 'WEFT_ERR_STREAM_PROTOCOL'],
    ['an ack before hello', (ws) => ws.send('{"type":"ack","version":1}'), 1002, 'WEFT_ERR_STREAM_PROTOCOL'],
    ['an unknown message type', (ws) => ws.send('{"type":"become-control"}'), 1002, 'WEFT_ERR_STREAM_PROTOCOL'],
    ['a hello for another protocol version', (ws) => ws.send(hello(n1Token, 'n1', 999)), 1002, 'WEFT_ERR_STREAM_PROTOCOL'],
    ['a hello with a token for another audience', (ws) => ws.send(hello(otherAudience)), 1008, 'WEFT_ERR_STREAM_UNAUTHENTICATED'],
    ['a hello with a pod\'s token', (ws) => ws.send(hello(podToken)), 1008, 'WEFT_ERR_STREAM_UNAUTHENTICATED'],
    ['a hello claiming another node', (ws) => ws.send(hello(n1Token, 'n2')), 1008, 'WEFT_ERR_STREAM_UNAUTHENTICATED'],
    ['a 17 MiB frame', (ws) => ws.send('x'.repeat(17 << 20)), 1009, null],
  ];
  for (const [name, send, closeCode, want] of cases) {
    const o = await stream(send);
    t.equal(o.closeCode, closeCode, `${name}: closed ${closeCode}`);
    if (want !== null) t.same(o.messages.map((m) => m.code), [want], `${name}: told ${want}`);
    t.notOk(o.messages.some((m) => m.type === 'snapshot'), `${name}: and no snapshot was sent`);
  }
  const ok = await stream((ws) => ws.send(hello(n1Token)));
  t.ok(ok.messages.some((m) => m.type === 'snapshot'), 'a good hello still gets its snapshot');
  const after = await rejected();
  const d = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  t.equal(d('stream_protocol'), 5, 'weft_rejected_input_total{reason="stream_protocol"} counted 5');
  t.equal(d('stream_unauthenticated'), 3, 'weft_rejected_input_total{reason="stream_unauthenticated"} counted 3');
  t.equal(d('stream_frame_too_large'), 1, 'weft_rejected_input_total{reason="stream_frame_too_large"} counted 1');
});

t.test('malformed and slow HTTP on the API port and the dashboard: 400/408, closed, counted', async (t) => {
  const before = await rejected();
  const api = { host: '127.0.0.1', port };
  const dash = { host: dashboard.hostname, port: Number(dashboard.port) };
  const tlsId = { servername: 'localhost', ca };
  const results = await runScenarios((cmd, args) => spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }), [
    { kind: 'slow', name: 'api: malformed header', ...api, prefix: 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', drip: '', intervalMs: 1000, maxMs: 4000, tls: tlsId },
    { kind: 'slow', name: 'api: headers trickled', ...api, prefix: 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', drip: 'a', intervalMs: 200, maxMs: 10_000, tls: tlsId },
    { kind: 'slow', name: 'api: TLS handshake trickled', ...api, prefix: '\u0016\u0003\u0001\u0002\u0000\u0001', drip: '\u0000', intervalMs: 200, maxMs: 10_000 },
    { kind: 'tls', name: 'api: TLS 1.2', ...api, servername: 'localhost', maxVersion: 'TLSv1.2', alpn: ['http/1.1'] },
    { kind: 'raw', name: 'dashboard: malformed header', ...dash, send: 'GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\u0000b\r\n\r\n' },
    { kind: 'raw', name: 'dashboard: smuggling (CL and TE)', ...dash, send: 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
    { kind: 'slow', name: 'dashboard: headers trickled', ...dash, prefix: 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ', drip: 'a', intervalMs: 200, maxMs: 10_000 },
    { kind: 'raw', name: 'dashboard: no token', ...dash, send: `GET /api/overview HTTP/1.1\r\nHost: ${dashboard.host}\r\nConnection: close\r\n\r\n` },
    { kind: 'raw', name: 'dashboard: a wrong token', ...dash, send: `GET /api/overview HTTP/1.1\r\nHost: ${dashboard.host}\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n` },
  ]);
  const expect: Array<[string, RegExp]> = [
    ['api: malformed header', /^HTTP\/1\.1 400 [\s\S]*WEFT_ERR_HTTP_MALFORMED/],
    ['api: headers trickled', /^HTTP\/1\.1 408 [\s\S]*WEFT_ERR_HTTP_HEADER_TIMEOUT/],
    ['dashboard: malformed header', /^HTTP\/1\.1 400 [\s\S]*WEFT_ERR_HTTP_MALFORMED/],
    ['dashboard: smuggling (CL and TE)', /^HTTP\/1\.1 400 [\s\S]*WEFT_ERR_HTTP_MALFORMED/],
    ['dashboard: headers trickled', /^HTTP\/1\.1 408 [\s\S]*WEFT_ERR_HTTP_HEADER_TIMEOUT/],
    ['dashboard: no token', /^HTTP\/1\.1 401 [\s\S]*WEFT_ERR_DASHBOARD_UNAUTHORIZED/],
    ['dashboard: a wrong token', /^HTTP\/1\.1 401 [\s\S]*WEFT_ERR_DASHBOARD_UNAUTHORIZED/],
  ];
  for (const [name, re] of expect) {
    t.match(results.get(name)?.response ?? '', re, `${name}: ${re.source.slice(1, 20)}…`);
    t.ok(results.get(name)?.closed, `${name}: closed`);
  }
  for (const name of ['api: headers trickled', 'api: TLS handshake trickled', 'dashboard: headers trickled']) {
    const ms = results.get(name)?.closedAfterMs ?? Infinity;
    t.ok(ms >= TIMEOUT_MS - 100 && ms < 9000, `${name}: cut off after the timeout (${ms} ms)`);
  }
  t.notOk(results.get('api: TLS 1.2')?.handshake, 'api: TLS 1.2 is refused at the handshake');
  const after = await rejected();
  const d = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  for (const [k, n] of [['api_malformed', 1], ['api_header_timeout', 1], ['api_handshake_timeout', 1], ['api_tls_handshake', 1], ['dashboard_malformed', 1], ['dashboard_framing', 1], ['dashboard_header_timeout', 1], ['dashboard_unauthorized', 2]] as const) {
    t.equal(d(k), n, `weft_rejected_input_total{reason="${k}"} counted ${n}`);
  }
});

t.test('control is the same process and still serves', async (t) => {
  t.equal(control.exitCode, null, 'control did not exit');
  t.equal(control.pid, pid, 'same process');
  const h = await request('GET', '/healthz');
  t.equal(h.status, 200, '/healthz answers');
  t.equal((await csr(good.csrPem)).status, 200, 'and it still signs');
  t.notMatch(log, /"level":"error"/, 'control logged no error for any of it');
  t.notOk(log.includes(dashboardToken), 'the dashboard token never appears in control\'s log');
  t.notOk(log.includes(n1Token) || log.includes(otherAudience) || log.includes(podToken), 'nor any credential it was sent');
});
