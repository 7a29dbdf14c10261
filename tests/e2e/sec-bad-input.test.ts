// Bad input against a running mesh (issue 11): malformed, oversized and smuggling-shaped HTTP/1
// through the L7 path, slow clients on every agent listener, and everything a rogue peer can try on
// HBONE (15008): garbage, TLS 1.2, no client certificate, CONNECTs to what is not a meshed workload
// on that node, bad weft-targets, invalid HTTP/2 frames. Each gets a clear answer or a reset, a
// count in weft_rejected_input_total{reason}, and no crash; the backend is a raw-socket server that
// reports every request it receives, so "the proxy saw one request, the pod got two" cannot hide.
import t from 'tap';
import net from 'node:net';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { Scenario, ScenarioResult } from '../apps/bad-input-client.ts';
import { generateCsr, HttpsCertificateSigner } from '../../agent/identity/index.ts';
import { sniForIdentity } from '../../agent/proxy/hbone/sni.ts';
import { rejectedInput, runScenarios } from './sec-helpers.ts';

const HEADERS_TIMEOUT_MS = 1500;
const tb = await withTestbed(t, {
  name: 'sec-bad-input',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'outsider', namespace: 'legacy' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }, { name: 'web', namespace: 'demo' }, { name: 'stranger', namespace: 'legacy' }] },
  ],
});
const mesh = await Mesh.start(tb, {
  cluster: { meshedNamespaces: ['demo'] },
  agentEnv: { WEFT_HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), WEFT_HANDSHAKE_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), WEFT_METRICS_ADDRESS: '0.0.0.0:15090' },
});
t.teardown(() => mesh.stop());
const backend = await mesh.startApp('server', 'raw-backend.ts', ['--port', '8080']);
const server = tb.pod('server').ip;
const n1 = tb.node('n1');
const n2 = tb.node('n2');
const agentPids = { n1: mesh.agentPid('n1'), n2: mesh.agentPid('n2') };

/** Runs scenarios from a pod (or a node's namespace) and returns their results by name. */
function run(from: { netns: string }, scenarios: Scenario[]): Promise<Map<string, ScenarioResult>> {
  return runScenarios((cmd, args) => tb.spawn(from.netns, cmd, args), scenarios);
}

const backendRequests = (): Array<{ target: string; method: string; headers: [string, string][]; bodyBytes: number }> =>
  backend.lines.filter((l) => l.event === 'request') as unknown as Array<{ target: string; method: string; headers: [string, string][]; bodyBytes: number }>;

const to = (name: string, send: string): Scenario => ({ kind: 'raw', name, host: server, port: 8080, send, waitMs: 4000 });
const H = 'Host: server\r\n';
// Answers to requests that end the connection come back at once (no keep-alive wait).
const C = 'Connection: close\r\n';

// What serves the apps' HTTP/1 (WEFT_L7_H1_ENGINE, forwarded to the agents by the testbed; weft
// by default). The two engines answer the same bytes alike except where agent/http1/README.md
// ("Where it is stricter than node:http") says the codec is stricter: Transfer-Encoding in
// HTTP/1.0 and a duplicate Host are refused (RFC 9112 §6.1, §3.2: MUST), which node:http serves;
// and the framing family carries WEFT_ERR_HTTP_FRAMING where node:http's path says MALFORMED
// (same status, same metric kind).
const H1_ENGINE = process.env.WEFT_L7_H1_ENGINE ?? 'weft';
const STRICT_ROWS = ['Transfer-Encoding in HTTP/1.0', 'a duplicate Host'];
const TE10 = `POST /te10 HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`;
const TWO_HOSTS = `GET /twohost HTTP/1.1\r\nHost: a\r\nHost: b\r\n${C}\r\n`;
/** The code a refusal carries, by its metric reason, on this engine. */
function codeFor(reason: string): string {
  if (reason === 'http1_headers_too_large') return 'WEFT_ERR_HTTP_HEADERS_TOO_LARGE';
  if (reason === 'http1_framing' && H1_ENGINE === 'weft') return 'WEFT_ERR_HTTP_FRAMING';
  return 'WEFT_ERR_HTTP_MALFORMED';
}

// Refused by the L7 path: [name, bytes, status, reason label].
const REFUSED: Array<[string, string, number, string]> = [
  ['CL and TE together (CL.TE desync)', `POST /a HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, 400, 'http1_framing'],
  ['TE and CL together (TE.CL desync)', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, 400, 'http1_framing'],
  ['two differing Content-Lengths', `POST /a HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /smuggled HTTP/1.1\r\n${H}\r\n`, 400, 'http1_framing'],
  ['two equal Content-Lengths', `POST /a HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`, 400, 'http1_framing'],
  ['a Content-Length list', `POST /a HTTP/1.1\r\n${H}Content-Length: 4, 4\r\n\r\nabcd`, 400, 'http1_framing'],
  ['a negative Content-Length', `POST /a HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400, 'http1_framing'],
  ['a Content-Length past 2^64', `POST /a HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`, 400, 'http1_framing'],
  ['Transfer-Encoding not ending in chunked', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, 400, 'http1_framing'],
  ['an unknown Transfer-Encoding', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, 400, 'http1_framing'],
  ['Transfer-Encoding twice', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'http1_framing'],
  ['a bad chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n`, 400, 'http1_framing'],
  ['obs-fold (a folded header line)', `GET /a HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 400, 'http1_malformed'],
  ['a space before the colon', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400, 'http1_malformed'],
  ['a NUL in a header value', `GET /a HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400, 'http1_malformed'],
  ['a header name with a space', `GET /a HTTP/1.1\r\n${H}Bad Header: y\r\n\r\n`, 400, 'http1_malformed'],
  ['a control character in the target', `GET /a\u0001b HTTP/1.1\r\n${H}\r\n`, 400, 'http1_malformed'],
  ['bare LF line endings', `GET /a HTTP/1.1\n${H.replace('\r', '')}\n`, 400, 'http1_malformed'],
  ['20 KiB of headers', `GET /a HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'http1_headers_too_large'],
  ['authority-form outside CONNECT', `GET server:8080 HTTP/1.1\r\n${H}\r\n`, 400, 'http1_malformed'],
  ['a bare word as the target', `GET admin HTTP/1.1\r\n${H}\r\n`, 400, 'http1_malformed'],
  ['an absolute-form target with a space-free fragment', `GET http://server/a#frag HTTP/1.1\r\n${H}\r\n`, 400, 'http_target'],
  ['an absolute-form target with userinfo', `GET http://u@server/a HTTP/1.1\r\n${H}\r\n`, 400, 'http_target'],
  ...(H1_ENGINE === 'weft' ? [
    [STRICT_ROWS[0], TE10, 400, 'http1_framing'],
    [STRICT_ROWS[1], TWO_HOSTS, 400, 'http1_malformed'],
  ] as Array<[string, string, number, string]> : []),
];

t.test('malformed, oversized and smuggling-shaped HTTP/1 is refused with a code, and the pod never sees it', async (t) => {
  const before = await rejectedInput(mesh, 'n1');
  const seenBefore = backendRequests().length;
  const results = await run(tb.pod('client'), REFUSED.map(([name, bytes]) => to(name, bytes)));
  const want = new Map<string, number>();
  for (const [name, , status, reason] of REFUSED) {
    const r = results.get(name);
    t.match(r?.response ?? '', new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${status}`);
    t.match(r?.response ?? '', new RegExp(`\\r\\nweft-error: ${codeFor(reason)}\\r\\n`), `${name}: with its stable code (${codeFor(reason)})`);
    t.ok(r?.closed, `${name}: and the connection closed`);
    want.set(reason, (want.get(reason) ?? 0) + 1);
  }
  t.equal(backendRequests().length, seenBefore, 'the backend received none of them');
  t.notOk(backendRequests().some((r) => r.target.includes('smuggled')), 'no smuggled request ever reached the pod');
  const after = await rejectedInput(mesh, 'n1');
  for (const [reason, n] of want) t.equal((after.get(reason) ?? 0) - (before.get(reason) ?? 0), n, `weft_rejected_input_total{reason="${reason}"} counted ${n}`);
});

t.test('shapes that are legal but easy to get wrong are normalized: one request in, one request out', async (t) => {
  const seenBefore = backendRequests().length;
  const all: Array<[string, string, (r: { target: string; headers: [string, string][]; bodyBytes: number }) => boolean]> = [
    // node:http only: the weft engine refuses these two (above).
    [STRICT_ROWS[0], TE10, (r) => r.target === '/te10' && r.bodyBytes > 0],
    [STRICT_ROWS[1], TWO_HOSTS, (r) => r.target === '/twohost' && r.headers.filter(([n]) => n === 'host').length === 1],
    ['chunk extensions', `POST /ext HTTP/1.1\r\n${H}${C}Transfer-Encoding: chunked\r\n\r\n4;a=b\r\nabcd\r\n0\r\n\r\n`, (r) => r.target === '/ext' && r.bodyBytes > 0],
    ['an absolute-form target', `GET http://evil.example/abs?q=1 HTTP/1.1\r\n${H}${C}\r\n`, (r) => r.target === '/abs?q=1' && r.headers.some(([n, v]) => n === 'host' && v === 'evil.example')],
    ['a request line past the 8 KiB detection window (carried as opaque TCP)', `GET /${'l'.repeat(9000)} HTTP/1.1\r\n${H}${C}\r\n`, (r) => r.target.length === 9001],
  ];
  const cases = H1_ENGINE === 'weft' ? all.filter(([name]) => !STRICT_ROWS.includes(name)) : all;
  const results = await run(tb.pod('client'), cases.map(([name, bytes]) => to(name, bytes)));
  for (const [name] of cases) t.match(results.get(name)?.response ?? '', /^HTTP\/1\.1 200 /, `${name}: answered by the pod`);
  const got = backendRequests().slice(seenBefore);
  t.equal(got.length, cases.length, `the backend received exactly ${cases.length} requests for ${cases.length} sent`);
  for (const [name, , ok] of cases) t.ok(got.some(ok), `${name}: the backend saw it once, normalized`);
  // Two pipelined requests in one write: the proxy saw two, the pod gets two.
  const pipelined = await run(tb.pod('client'), [to('pipelined', `GET /p1 HTTP/1.1\r\n${H}\r\nGET /p2 HTTP/1.1\r\n${H}${C}\r\n`)]);
  t.match(pipelined.get('pipelined')?.response ?? '', /seen \d+[\s\S]*seen \d+/, 'both pipelined requests answered');
  const last = backendRequests().slice(-2).map((r) => r.target);
  t.same(last, ['/p1', '/p2'], 'and the backend saw exactly those two, in order');
});

t.test('slow clients are cut off on every listener, and counted', async (t) => {
  const b1 = await rejectedInput(mesh, 'n1');
  const b2 = await rejectedInput(mesh, 'n2');
  const slow = (name: string, host: string, port: number, prefix: string, drip: string, maxMs = 10_000): Scenario => ({ kind: 'slow', name, host, port, prefix, drip, intervalMs: 200, maxMs });
  const fromClient = await run(tb.pod('client'), [
    // 15001 → L7: the request line is there, the headers never end.
    slow('outbound 15001, headers trickled', server, 8080, `GET /slow HTTP/1.1\r\n${H}X-Slow: `, 'a'),
    // The metrics port on the node's address, from a pod (admin itself is loopback only).
    slow('metrics 15090, headers trickled', n1.ip, 15090, 'GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'a'),
  ]);
  for (const name of ['outbound 15001, headers trickled', 'metrics 15090, headers trickled']) {
    const r = fromClient.get(name);
    t.ok(r?.closed, `${name}: closed by the agent`);
    t.ok((r?.closedAfterMs ?? Infinity) >= HEADERS_TIMEOUT_MS - 100 && (r?.closedAfterMs ?? Infinity) < 9000, `${name}: after the header timeout (${r?.closedAfterMs} ms)`);
    t.match(r?.response ?? '', /^HTTP\/1\.1 408 [\s\S]*weft-error: WEFT_ERR_HTTP_HEADER_TIMEOUT/, `${name}: answered 408 with a code`);
  }
  // 15008 from the peer node: TLS bytes trickled, the handshake never completes.
  const fromNode = await run(n1, [slow('hbone 15008, handshake trickled', n2.ip, 15008, '\u0016\u0003\u0001\u0002\u0000\u0001', '\u0000')]);
  const h = fromNode.get('hbone 15008, handshake trickled');
  t.ok(h?.closed && (h.closedAfterMs ?? Infinity) < 9000, `hbone 15008: cut off after the handshake timeout (${h?.closedAfterMs} ms)`);
  // The admin unix socket (the CLI's door) runs the same server.
  const unix = await new Promise<{ closed: boolean; response: string; ms: number }>((resolve) => {
    const started = Date.now();
    const s = net.connect(mesh.adminSocket('n1'));
    let response = '';
    const timer = setInterval(() => s.write('a'), 200);
    const giveUp = setTimeout(() => s.destroy(), 10_000);
    s.on('connect', () => s.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    s.on('data', (d: Buffer) => (response += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ closed: Date.now() - started < 9900, response, ms: Date.now() - started });
    });
  });
  t.ok(unix.closed, `admin unix socket: closed by the agent after ${unix.ms} ms`);
  t.match(unix.response, /^HTTP\/1\.1 408 /, 'admin unix socket: answered 408');
  // 15006 carries plaintext TCP unparsed: there is no header to wait for. What matters is that it
  // holds nothing back: the pod gets the trickle as it comes (and applies its own timeouts).
  const accepted = backend.lines.filter((l) => l.event === 'bytes').length;
  const inbound = await run(tb.pod('outsider'), [slow('inbound 15006, trickled', server, 8080, 'GET /plain', 'x', 2500)]);
  t.notOk(inbound.get('inbound 15006, trickled')?.closed, 'inbound 15006: a slow plaintext client is not cut by the mesh (L4, nothing parsed)');
  t.ok(backend.lines.slice(accepted).some((l) => l.event === 'bytes' && String(l.first).startsWith('GET /plain')), 'and its bytes reached the pod before it finished');
  // A request line trickled on 15001 is no HTTP yet when detection gives up: opaque TCP, counted.
  const detectBefore = await mesh.admin('n1', '/config_dump/proxy');
  const tcpLine = await run(tb.pod('client'), [slow('outbound 15001, request line trickled', server, 8080, 'GET /', 'x', 2500)]);
  t.notOk(tcpLine.get('outbound 15001, request line trickled')?.closed, 'a trickled request line is carried as TCP, not cut');
  const detectAfter = await mesh.admin('n1', '/config_dump/proxy');
  const timeouts = (a: { body: unknown }): number => (a.body as { proxy: { l7: { detectTimeouts: number } } }).proxy.l7.detectTimeouts;
  t.ok(timeouts(detectAfter) > timeouts(detectBefore), 'and counted as a detection timeout');

  const a1 = await rejectedInput(mesh, 'n1');
  const a2 = await rejectedInput(mesh, 'n2');
  const d1 = (k: string): number => (a1.get(k) ?? 0) - (b1.get(k) ?? 0);
  t.equal(d1('http1_header_timeout'), 1, 'weft_rejected_input_total{reason="http1_header_timeout"} counted once');
  t.equal(d1('admin_header_timeout'), 1, 'weft_rejected_input_total{reason="admin_header_timeout"} counted once (unix socket)');
  t.equal(d1('metrics_header_timeout'), 1, 'weft_rejected_input_total{reason="metrics_header_timeout"} counted once (metrics port)');
  t.equal(d1('http1_malformed') + d1('admin_malformed') + d1('metrics_malformed'), 0, 'and the bytes a slow client sends after its 408 are not counted again');
  t.equal((a2.get('hbone_handshake_timeout') ?? 0) - (b2.get('hbone_handshake_timeout') ?? 0), 1, 'weft_rejected_input_total{reason="hbone_handshake_timeout"} counted once');
});

t.test('HBONE: garbage, TLS 1.2 and no client certificate are refused at the handshake', async (t) => {
  const before = await rejectedInput(mesh, 'n2');
  const serverSni = sniForIdentity('spiffe://cluster.local/ns/demo/sa/server');
  const r = await run(n1, [
    { kind: 'raw', name: 'plaintext HTTP', host: n2.ip, port: 15008, send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', waitMs: 4000 },
    { kind: 'raw', name: 'random bytes', host: n2.ip, port: 15008, send: '\u0016\u0003\u0003\u0000\u0005hello'.repeat(3), waitMs: 4000 },
    { kind: 'tls', name: 'TLS 1.2', host: n2.ip, port: 15008, servername: serverSni, maxVersion: 'TLSv1.2' },
    { kind: 'tls', name: 'TLS 1.3 without a client certificate', host: n2.ip, port: 15008, servername: serverSni },
    { kind: 'tls', name: 'an SNI that names no local workload', host: n2.ip, port: 15008, servername: 'nobody.demo.00000000.hbone.weft' },
  ]);
  t.ok(r.get('plaintext HTTP')?.closed, 'plaintext HTTP: closed');
  t.equal(r.get('plaintext HTTP')?.response, '', 'plaintext HTTP: nothing answered (no HTTP/1 on 15008)');
  t.ok(r.get('random bytes')?.closed, 'random bytes: closed');
  t.notOk(r.get('TLS 1.2')?.handshake, 'TLS 1.2: no handshake');
  t.match(r.get('TLS 1.2')?.error ?? '', /PROTOCOL_VERSION|WRONG_VERSION|UNSUPPORTED_PROTOCOL|ECONNRESET/i, `TLS 1.2: ${r.get('TLS 1.2')?.error}`);
  const noCert = r.get('TLS 1.3 without a client certificate');
  t.ok(noCert?.closed, 'no client certificate: closed');
  t.match(noCert?.error ?? '', /CERTIFICATE_REQUIRED|ECONNRESET|HANDSHAKE/i, `no client certificate: ${noCert?.error}`);
  t.notOk(r.get('an SNI that names no local workload')?.handshake, 'an SNI for nobody here gets no certificate at all');
  const after = await rejectedInput(mesh, 'n2');
  t.ok((after.get('hbone_tls_handshake') ?? 0) - (before.get('hbone_tls_handshake') ?? 0) >= 5, `weft_rejected_input_total{reason="hbone_tls_handshake"} counted all five (${(after.get('hbone_tls_handshake') ?? 0) - (before.get('hbone_tls_handshake') ?? 0)})`);
});

t.test('HBONE with a valid certificate: no open relay, bad targets refused, bad frames end the session', async (t) => {
  const before = await rejectedInput(mesh, 'n2');
  // A workload certificate for n1's client, as n1's agent would get it: a rogue agent on n1 at worst.
  const signer = new HttpsCertificateSigner({ socketPath: mesh.controlSocket, servername: 'weft-control.weft-system.svc', caPem: await mesh.caPem(), token: () => mesh.tokens.get('n1') ?? '' });
  t.teardown(() => signer.close());
  const csr = await generateCsr('spiffe://cluster.local/ns/demo/sa/client');
  const issued = await signer.sign(csr.csrPem);
  const id = { servername: sniForIdentity('spiffe://cluster.local/ns/demo/sa/server'), cert: issued.certChain.join('\n'), key: csr.keyPem, ca: issued.trustAnchors.join('\n') };
  const connect = (authority: string): Record<string, string> => ({ ':method': 'CONNECT', ':authority': authority });
  const http = (target: string, path = '/'): Record<string, string> => ({ ':method': 'GET', ':path': path, ':scheme': 'http', ':authority': 'server', 'weft-target': target, 'weft-proto': 'http1' });
  const requests: Array<[string, Record<string, string>, number, string]> = [
    ['CONNECT to an unmeshed pod on the node', connect(`${tb.pod('stranger').ip}:8080`), 403, 'WEFT_ERR_TUNNEL_REFUSED'],
    ['CONNECT to a meshed pod on another node', connect(`${tb.pod('client').ip}:8080`), 421, 'WEFT_ERR_TUNNEL_REFUSED'],
    ['CONNECT to the node itself (its admin port)', connect(`${n2.ip}:15020`), 404, 'WEFT_ERR_TUNNEL_REFUSED'],
    ['CONNECT to loopback', connect('127.0.0.1:15020'), 404, 'WEFT_ERR_TUNNEL_REFUSED'],
    ['CONNECT to a DNS name outside the mesh', connect('example.com:80'), 404, 'WEFT_ERR_TUNNEL_REFUSED'],
    ['CONNECT to a pod whose identity the SNI did not name', connect(`${tb.pod('web').ip}:8080`), 421, 'WEFT_ERR_PEER_IDENTITY'],
    ['CONNECT with a port that is no number', connect(`${server}:http`), 400, 'WEFT_ERR_TUNNEL_TARGET'],
    ['CONNECT with a host that is no name', connect('a_b:80'), 400, 'WEFT_ERR_TUNNEL_TARGET'],
    // nghttp2 refuses these before the agent sees them (RST_STREAM PROTOCOL_ERROR): still refused.
    ['CONNECT with spaces in the authority', connect('not a target'), 0, 'reset'],
    ['CONNECT to port 0', connect(`${server}:0`), 400, 'WEFT_ERR_TUNNEL_TARGET'],
    ['an HTTP request with a malformed weft-target', http('garbage'), 400, 'WEFT_ERR_HTTP_TARGET'],
    ['an HTTP request with an absolute-form :path', http(`${server}:8080`, 'http://evil/admin'), 0, 'reset'],
    ['an HTTP request with a weft-target port past 65535', http(`${server}:70000`), 400, 'WEFT_ERR_HTTP_TARGET'],
    ['an HTTP request to an unmeshed pod', http(`${tb.pod('stranger').ip}:8080`), 403, 'WEFT_ERR_TUNNEL_REFUSED'],
    ['a valid CONNECT (the certificate works)', connect(`${server}:8080`), 200, ''],
  ];
  const garbage: Array<[string, string]> = [
    ['HEADERS on stream 0', '0000050104000000000102030405'],
    ['SETTINGS with a length not a multiple of 6', '000005040000000000' + '0000000000'],
    ['HEADERS with an undecodable HPACK block', '00000401050000000' + '1ffffffff'],
    ['DATA on an idle stream', '0000040001000000056162636' + '4'],
  ];
  const results = await run(n1, [
    { kind: 'h2', name: 'requests', host: n2.ip, port: 15008, ...id, requests: requests.map(([, h]) => h) },
    ...garbage.map(([name, hex]): Scenario => ({ kind: 'h2raw', name, host: n2.ip, port: 15008, ...id, framesHex: hex })),
  ]);
  const answers = results.get('requests')?.answers ?? [];
  requests.forEach(([name, , status, code], i) => {
    const a = answers[i];
    if (code === 'reset') {
      t.match(a?.error ?? '', /STREAM|PROTOCOL|RST/i, `${name}: reset (${JSON.stringify(a)})`);
      return;
    }
    t.equal(a?.status, status, `${name}: ${status} (${JSON.stringify(a)})`);
    if (code !== '') t.equal(a?.weftError, code, `${name}: ${code}`);
  });
  for (const [name] of garbage) {
    const g = results.get(name);
    t.ok(g?.handshake, `${name}: the session was up`);
    t.ok(g?.frameTypes?.includes(7), `${name}: answered with GOAWAY (error ${g?.goawayCode})`);
    t.ok(g?.closed, `${name}: and closed`);
  }
  const after = await rejectedInput(mesh, 'n2');
  const d = (k: string): number => (after.get(k) ?? 0) - (before.get(k) ?? 0);
  t.ok(d('hbone_target_refused') >= 6, `hbone_target_refused counted (${d('hbone_target_refused')})`);
  t.ok(d('hbone_identity_mismatch') >= 1, 'hbone_identity_mismatch counted');
  t.ok(d('hbone_connect_target') >= 3, `hbone_connect_target counted (${d('hbone_connect_target')})`);
  t.ok(d('hbone_http_target') >= 2, `hbone_http_target counted (${d('hbone_http_target')})`);
  t.ok(d('hbone_h2_protocol') + d('hbone_h2_frame') >= 1, `invalid frames counted (protocol ${d('hbone_h2_protocol')}, frame ${d('hbone_h2_frame')})`);
});

t.test('nothing crashed: the same agents still serve, and the pod gets well-formed requests', async (t) => {
  t.equal(mesh.agentPid('n1'), agentPids.n1, 'n1 agent is the one that started');
  t.equal(mesh.agentPid('n2'), agentPids.n2, 'n2 agent is the one that started');
  await mesh.waitReady('n1');
  await mesh.waitReady('n2');
  const seenBefore = backendRequests().length;
  const ok = await run(tb.pod('client'), [to('a good request after all that', `GET /still-ok HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)]);
  t.match(ok.get('a good request after all that')?.response ?? '', /^HTTP\/1\.1 200 /, 'a good request is answered');
  t.equal(backendRequests().length, seenBefore + 1, 'and reaches the pod once');
  const unframed = backend.lines.filter((l) => l.event === 'unframed');
  t.equal(unframed.length, 0, `the pod never received bytes it could not frame (${JSON.stringify(unframed).slice(0, 600)})`);
  t.notMatch(mesh.agentLog('n1') + mesh.agentLog('n2'), /"level":"(error|fatal)"/, 'no agent logged an error');
});
