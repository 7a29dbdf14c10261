// Interop with node:http2 (nghttp2) as the independent peer, over real loopback sockets:
// a node:http2 client against a server built on the codec (plain TCP with prior knowledge, and
// TLS 1.3 with ALPN h2), the codec's client against a node:http2 server, and curl (its own
// nghttp2 client) against the codec server. Covers headers,
// bodies, trailers, flow control with a body far larger than every window, RST_STREAM both
// ways, and GOAWAY. No fakes: both ends are real HTTP/2 implementations.
import t from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { CodecClient, CodecServer, pattern } from './codec-peer.ts';
import { makeTestCa, makeTestLeaf } from '../../common/test-pki.ts';
import { H2Code } from '../../../agent/h2/constants.ts';
import { valueOf } from '../../../agent/h2/header-rules.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

interface NodeAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
  rst?: number;
}

function nodeRequest(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer, trailers?: http2.OutgoingHttpHeaders): Promise<NodeAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined, waitForTrailers: trailers !== undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let tr: http2.IncomingHttpHeaders = {};
    if (trailers !== undefined) req.on('wantTrailers', () => req.sendTrailers(trailers));
    req.on('response', (h) => (head = h));
    req.on('trailers', (h) => (tr = h));
    req.on('data', (d: Buffer) => chunks.push(d));
    // 'close' comes last, with rstCode set (0 for a clean end).
    req.on('close', () => {
      const answer: NodeAnswer = { status: Number(head[':status'] ?? 0), headers: head, body: Buffer.concat(chunks), trailers: tr };
      if (req.rstCode !== undefined && req.rstCode !== 0) answer.rst = req.rstCode;
      resolve(answer);
    });
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ERR_HTTP2_STREAM_ERROR' ? undefined : reject(e)));
    if (body !== undefined) req.end(body);
  });
}

t.test('node:http2 client → codec server over TCP (prior knowledge)', async (t) => {
  const servers: CodecServer[] = [];
  const server = net.createServer((sock) => {
    const s = new CodecServer();
    servers.push(s);
    s.attach(sock);
  });
  const port = await listen(server);
  t.teardown(() => server.close());
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.destroy());
  session.on('error', () => {});

  await t.test('headers, body, trailers both ways', async (t) => {
    const body = Buffer.from('hello, codec');
    const r = await nodeRequest(session, { ':method': 'POST', ':path': '/echo', 'x-custom': 'v1' }, body, { 'x-trailer-a': 'alpha' });
    t.equal(r.status, 200);
    t.equal(r.headers['content-type'], 'application/octet-stream');
    t.same(r.body, body);
    t.equal(r.trailers['x-body-length'], String(body.length));
    t.equal(r.trailers['x-trailer-a'], 'alpha', 'request trailers reached the server and came back');
  });

  await t.test('many concurrent streams on one connection, each answered with its own body', async (t) => {
    const bodies = Array.from({ length: 50 }, (_, i) => Buffer.from(`stream-${i}-`.repeat(i + 1)));
    const rs = await Promise.all(bodies.map((b) => nodeRequest(session, { ':method': 'POST', ':path': '/echo' }, b)));
    rs.forEach((r, i) => t.same(r.body, bodies[i], `stream ${i}`));
  });

  await t.test('flow control: a 24 MiB upload and a 24 MiB download, bytes intact', async (t) => {
    const n = 24 << 20;
    const up = pattern(n);
    const r = await nodeRequest(session, { ':method': 'POST', ':path': '/echo' }, up);
    t.equal(r.body.length, n);
    t.ok(r.body.equals(up), 'echoed body equals the upload');
    const d = await nodeRequest(session, { ':method': 'GET', ':path': `/big?n=${n}` });
    t.equal(d.body.length, n);
    t.ok(d.body.equals(pattern(n)), 'download matches the pattern');
  });

  await t.test('RST_STREAM from the server reaches the node client', async (t) => {
    const r = await nodeRequest(session, { ':method': 'GET', ':path': '/reset' });
    t.equal(r.rst, http2.constants.NGHTTP2_CANCEL);
  });

  await t.test('RST_STREAM from the node client reaches the server; the connection lives on', async (t) => {
    // A download far larger than the windows: the server is still sending when the client resets.
    const req = session.request({ ':method': 'GET', ':path': `/big?n=${64 << 20}` });
    req.on('error', () => {});
    await once(req, 'data');
    req.close(http2.constants.NGHTTP2_CANCEL);
    await once(req, 'close');
    await new Promise((r) => setTimeout(r, 50));
    const srv = servers[0];
    t.ok(srv.resets.some((x) => x.byPeer && x.code === H2Code.CANCEL), 'the server saw CANCEL from the peer');
    const again = await nodeRequest(session, { ':method': 'GET', ':path': '/big?n=10' });
    t.equal(again.body.length, 10);
  });

  await t.test('GOAWAY from the server: node sees it, the answer still arrives', async (t) => {
    const s2 = http2.connect(`http://127.0.0.1:${port}`);
    s2.on('error', () => {});
    const goaway = once(s2, 'goaway');
    const r = await nodeRequest(s2, { ':method': 'GET', ':path': '/goaway' });
    t.equal(r.status, 200);
    const [code] = await goaway;
    t.equal(code, http2.constants.NGHTTP2_NO_ERROR);
    s2.destroy();
  });

  t.same(servers.flatMap((s) => s.errors.map((e) => e.message)), [], 'no connection errors on the server side');
});

t.test('node:http2 client → codec server over TLS 1.3, ALPN h2', async (t) => {
  const ca = await makeTestCa('h2codec-interop');
  const leaf = await makeTestLeaf(ca, { dns: ['localhost'] });
  const server = tls.createServer({ key: leaf.keyPem, cert: leaf.chainPem, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' }, (sock) => {
    t.equal(sock.alpnProtocol, 'h2');
    new CodecServer().attach(sock);
  });
  const port = await listen(server as unknown as net.Server);
  t.teardown(() => server.close());
  const session = http2.connect(`https://localhost:${port}`, { ca: ca.certPem, host: '127.0.0.1', servername: 'localhost' } as http2.SecureClientSessionOptions);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const up = pattern(3 << 20);
  const r = await nodeRequest(session, { ':method': 'POST', ':path': '/echo' }, up, { 'x-trailer-z': 'zeta' });
  t.equal(r.status, 200);
  t.ok(r.body.equals(up), '3 MiB echoed over TLS');
  t.equal(r.trailers['x-trailer-z'], 'zeta');
});

t.test('codec client → node:http2 server', async (t) => {
  const server = http2.createServer({ settings: { initialWindowSize: 65_535 } });
  server.on('stream', (stream, headers) => {
    const path = headers[':path'] ?? '';
    stream.on('error', () => {});
    if (path === '/reset') {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (path.startsWith('/big')) {
      const n = Number(new URL(path, 'http://x').searchParams.get('n'));
      stream.respond({ ':status': 200, 'content-length': n });
      stream.end(pattern(n));
      return;
    }
    if (path === '/continue') {
      stream.additionalHeaders({ ':status': 100 });
    }
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'x-method': headers[':method'], 'x-echo': headers['x-echo'] ?? '' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-got': String(Buffer.concat(chunks).length) }));
      stream.end(Buffer.concat(chunks));
    });
  });
  const port = await listen(server as unknown as net.Server);
  t.teardown(() => server.close());
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  t.teardown(() => sock.destroy());
  const client = new CodecClient();
  client.attach(sock);
  const base = [':method', 'POST', ':scheme', 'http', ':authority', `127.0.0.1:${port}`];

  await t.test('a request with body and trailers; the answer with trailers', async (t) => {
    const r = await client.fetch([...base, ':path', '/echo', 'x-echo', 'héllo'.normalize('NFC').replace('é', 'e')], Buffer.from('abc'), ['x-req-t', '1']);
    t.equal(r.status, 200);
    t.equal(valueOf(r.headers, 'x-method'), 'POST');
    t.equal(valueOf(r.headers, 'x-echo'), 'hello');
    t.equal(r.body.toString(), 'abc');
    t.equal(valueOf(r.trailers ?? [], 'x-got'), '3');
  });

  await t.test('a 100 Continue before the answer is delivered as informational', async (t) => {
    const r = await client.fetch([...base, ':path', '/continue'], Buffer.from('x'));
    t.equal(r.informational.length, 1);
    t.equal(valueOf(r.informational[0], ':status'), '100');
    t.equal(r.status, 200);
  });

  await t.test('flow control: 20 MiB upload into 64 KiB stream windows, 20 MiB download', async (t) => {
    const n = 20 << 20;
    const up = pattern(n);
    const r = await client.fetch([...base, ':path', '/echo'], up);
    t.equal(r.body.length, n);
    t.ok(r.body.equals(up), 'echo intact');
    const d = await client.fetch([':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', `/big?n=${n}`]);
    t.ok(d.body.equals(pattern(n)), 'download intact');
  });

  await t.test('many concurrent streams', async (t) => {
    const rs = await Promise.all(Array.from({ length: 64 }, (_, i) => client.fetch([...base, ':path', '/echo'], Buffer.from(`b${i}`))));
    rs.forEach((r, i) => t.equal(r.body.toString(), `b${i}`));
  });

  await t.test('RST_STREAM from node reaches the codec client with its code', async (t) => {
    const r = await client.fetch([':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/reset']);
    t.equal(r.reset, H2Code.INTERNAL_ERROR);
  });

  await t.test('GOAWAY from node: seen, and no new streams', async (t) => {
    const sessions: http2.ServerHttp2Session[] = [];
    server.on('session', (s) => sessions.push(s));
    const sock2 = net.connect(port, '127.0.0.1');
    await once(sock2, 'connect');
    const c2 = new CodecClient();
    c2.attach(sock2);
    const r = await c2.fetch([':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/big?n=5']);
    t.equal(r.body.length, 5);
    sessions[sessions.length - 1].goaway(http2.constants.NGHTTP2_NO_ERROR);
    for (let i = 0; i < 50 && c2.goaways.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
    t.equal(c2.goaways.length, 1);
    t.equal(c2.goaways[0].code, H2Code.NO_ERROR);
    t.equal(c2.conn.request([':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/'], true), null, 'no stream after GOAWAY');
    sock2.destroy();
  });

  t.same(client.errors.map((e) => e.message), [], 'no connection errors on the client side');
});

// curl (libcurl + nghttp2, a different client than node's: its own SETTINGS, window updates and
// request shapes) against the codec server, with prior knowledge and over TLS with ALPN.
const run = promisify(execFile);
const curlVersion = await run('curl', ['--version']).then((r) => r.stdout, () => '');

t.test('curl → codec server (h2c prior knowledge, and TLS ALPN h2)', { skip: /HTTP2/.test(curlVersion) ? false : 'curl with HTTP/2 support is not installed' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'h2codec-curl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const body = pattern(5 << 20);
  await writeFile(join(dir, 'body'), body);

  const plain = net.createServer((sock) => new CodecServer().attach(sock));
  const port = await listen(plain);
  t.teardown(() => plain.close());
  const out = join(dir, 'out');
  const r = await run('curl', ['-sS', '--http2-prior-knowledge', '-o', out, '-w', '%{http_code} %{http_version}', '--data-binary', `@${join(dir, 'body')}`, `http://127.0.0.1:${port}/echo`], { maxBuffer: 1 << 20 });
  t.equal(r.stdout, '200 2', 'HTTP/2 200');
  t.ok((await readFile(out)).equals(body), '5 MiB echoed intact');

  const ca = await makeTestCa('h2codec-curl');
  const leaf = await makeTestLeaf(ca, { dns: ['localhost'] });
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  const secure = tls.createServer({ key: leaf.keyPem, cert: leaf.chainPem, ALPNProtocols: ['h2'] }, (sock) => new CodecServer().attach(sock));
  const tport = await listen(secure as unknown as net.Server);
  t.teardown(() => secure.close());
  const n = 3 << 20;
  const r2 = await run('curl', ['-sS', '--http2', '--cacert', join(dir, 'ca.pem'), '--resolve', `localhost:${tport}:127.0.0.1`, '-o', out, '-w', '%{http_code} %{http_version}', `https://localhost:${tport}/big?n=${n}`], { maxBuffer: 1 << 20 });
  t.equal(r2.stdout, '200 2', 'HTTP/2 over TLS');
  t.ok((await readFile(out)).equals(pattern(n)), '3 MiB download intact');
});
