// The bench's L7 anchor (issue 19): the HAProxy pair in HTTP mode. The configs render as meant, and
// real haproxy processes on loopback carry requests in the shape Weft's L7 hop has: HTTP/1.1 (or
// h2c with prior knowledge) from the client, HTTP/2 over TLS 1.3 with client certificates between
// the two HAProxys, HTTP/1.1 or h2c to the app. The oracles are independent of HAProxy and of the
// config code: a node:http2 TLS server standing in for n2 sees what n1 sends (protocol, TLS
// version, client certificate), a node:http2 TLS client standing in for n1 sees what n2 accepts,
// the apps record the protocol each request reached them in, and curl and grpc-js are the clients.
// Never a speed.
import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { clientConfig, findHaproxy, serverConfig, startHaproxy, stopHaproxy, type ForwardedPort } from '../../bench/haproxy.ts';
import { makeTestCa, makeTestLeaf } from '../common/test-pki.ts';
import { echoService, type EchoMessage } from '../apps/grpc-echo-service.ts';

/** curl as a child process, without blocking this process's loop (the apps and the fake n2 live here). */
function curl(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

t.test('HTTP-mode configs: h2 over mTLS between the nodes, the app spoken to as it speaks; TCP mode unchanged', async (t) => {
  const ports: ForwardedPort[] = [{ port: 8080, outbound: 15201, inbound: 15202, app: 'h1' }, { port: 9090, outbound: 15203, inbound: 15204, app: 'h2' }];
  const c = clientConfig({ mode: 'http', threads: 2, serverNodeIp: '172.31.0.12', ports, ca: '/x/ca.crt', cert: '/x/n1.pem', serverName: 'n2.haproxy.bench' });
  t.match(c, /defaults\n {4}mode http\n/);
  t.match(c, /ssl-default-server-options ssl-min-ver TLSv1\.3/);
  t.match(c, /backend out-8080\n {4}http-reuse always\n {4}server peer 172\.31\.0\.12:15202 ssl crt \/x\/n1\.pem ca-file \/x\/ca\.crt verify required verifyhost n2\.haproxy\.bench alpn h2\n/);
  const s = serverConfig({ mode: 'http', threads: 2, bindIp: '172.31.0.12', serverPodIp: '10.244.2.13', ports, ca: '/x/ca.crt', cert: '/x/n2.pem' });
  t.match(s, /bind 172\.31\.0\.12:15202 ssl crt \/x\/n2\.pem ca-file \/x\/ca\.crt verify required alpn h2\n/);
  t.match(s, /server app 10\.244\.2\.13:8080\n/, 'HTTP/1.1 to an HTTP/1.1 app');
  t.match(s, /server app 10\.244\.2\.13:9090 proto h2\n/, 'h2c to an h2c / gRPC app');
  const tcp = clientConfig({ threads: 2, serverNodeIp: '172.31.0.12', ports, ca: '/x/ca.crt', cert: '/x/n1.pem', serverName: 'n2' });
  t.match(tcp, /mode tcp/);
  t.notMatch(tcp, /alpn|http-reuse/);
  t.notMatch(serverConfig({ threads: 2, bindIp: '1.2.3.4', serverPodIp: '10.0.0.1', ports, ca: 'a', cert: 'b' }), /alpn|proto h2/);
});

const haproxy = findHaproxy();
if (haproxy === undefined) {
  t.test('real haproxy', { skip: 'haproxy is not installed (scripts/setup.sh installs it)' }, async () => {});
} else {
  t.test('real haproxy pair in HTTP mode on loopback', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-haproxy-http-'));
    const stops: (() => Promise<unknown>)[] = [];
    t.teardown(async () => {
      for (const s of stops.reverse()) await s().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    });

    // PKI made here, not by bench/haproxy.ts: the same shape (P-256, SPIFFE URI SAN, DNS name).
    const ca = await makeTestCa('haproxy-http-test-ca');
    const n1 = await makeTestLeaf(ca, { uris: ['spiffe://cluster.local/ns/haproxy/sa/n1'], dns: ['n1.haproxy.test'] });
    const n2 = await makeTestLeaf(ca, { uris: ['spiffe://cluster.local/ns/haproxy/sa/n2'], dns: ['n2.haproxy.test'] });
    const files = { ca: join(dir, 'ca.crt'), n1: join(dir, 'n1.pem'), n2: join(dir, 'n2.pem') };
    await writeFile(files.ca, ca.certPem);
    await writeFile(files.n1, `${n1.certPem}\n${n1.keyPem}\n`);
    await writeFile(files.n2, `${n2.certPem}\n${n2.keyPem}\n`);

    const freePort = async (): Promise<number> => {
      const s = net.createServer();
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const { port } = s.address() as AddressInfo;
      await new Promise((r) => s.close(r));
      return port;
    };
    const listen = async (s: net.Server): Promise<number> => {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      stops.push(() => new Promise((r) => { s.close(r); (s as { closeAllConnections?: () => void }).closeAllConnections?.(); }));
      return (s.address() as AddressInfo).port;
    };

    // The apps: HTTP/1.1, h2c and gRPC (grpc-js over h2c), each recording how requests reached it.
    const seen: { app: string; version: string; path: string }[] = [];
    const h1App = http.createServer((req, res) => {
      seen.push({ app: 'h1', version: req.httpVersion, path: req.url ?? '' });
      res.end('x'.repeat(1024));
    });
    const h1Port = await listen(h1App);
    const h2App = http2.createServer((req, res) => {
      seen.push({ app: 'h2', version: req.httpVersion, path: req.url });
      res.end('y'.repeat(1024));
    });
    const h2Port = await listen(h2App);
    const grpcServer = new grpc.Server();
    grpcServer.addService(echoService, {
      unary(call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) { cb(null, { text: call.request.text, seq: call.request.seq + 1 }); },
      serverStream(call: grpc.ServerWritableStream<EchoMessage, EchoMessage>) { call.end(); },
      clientStream(_call: grpc.ServerReadableStream<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) { cb(null, { text: '', seq: 0 }); },
      bidi(call: grpc.ServerDuplexStream<EchoMessage, EchoMessage>) { call.end(); },
    });
    const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    stops.push(async () => { grpcServer.forceShutdown(); });

    const ports: ForwardedPort[] = [
      { port: h1Port, outbound: await freePort(), inbound: await freePort(), app: 'h1' },
      { port: h2Port, outbound: await freePort(), inbound: await freePort(), app: 'h2' },
      { port: grpcPort, outbound: await freePort(), inbound: await freePort(), app: 'h2' },
    ];
    const [h1Fwd, h2Fwd, grpcFwd] = ports;
    // The client node's frontends bind 0.0.0.0 in the bench (its own namespace); here, loopback only.
    const local = (cfg: string): string => cfg.replaceAll('bind 0.0.0.0:', 'bind 127.0.0.1:');
    const run = async (name: string, cfg: string): Promise<ChildProcess> => {
      const file = join(dir, `${name}.cfg`);
      await writeFile(file, cfg);
      const h = startHaproxy((cmd, a) => spawn(cmd, a, { stdio: ['ignore', 'pipe', 'pipe'] }), file, name);
      stops.push(() => stopHaproxy(h.child));
      await h.ready;
      return h.child;
    };

    const n2Cfg = serverConfig({ mode: 'http', threads: 2, maxconn: 200, bindIp: '127.0.0.1', serverPodIp: '127.0.0.1', ports, ca: files.ca, cert: files.n2 });
    await run('n2', n2Cfg);

    await t.test('n2 alone: takes only mTLS h2, and forwards to each app in its own protocol', async (t) => {
      const connectAs = (leaf?: typeof n1) => http2.connect(`https://127.0.0.1:${h1Fwd.inbound}`, {
        ca: ca.certPem, servername: 'n2.haproxy.test', ...(leaf === undefined ? {} : { cert: leaf.certPem, key: leaf.keyPem }),
      });
      const get = (s: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
        const req = s.request({ ':path': path, ':authority': 'app' });
        let body = '';
        let status = 0;
        req.on('response', (h) => { status = Number(h[':status']); });
        req.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status, body })).on('error', reject);
        req.end();
      });
      const s = connectAs(n1);
      t.teardown(() => s.close());
      await new Promise<void>((resolve, reject) => s.once('connect', () => resolve()).once('error', reject));
      const sock = s.socket as TLSSocket;
      t.equal(sock.getProtocol(), 'TLSv1.3');
      t.equal(sock.alpnProtocol, 'h2');
      seen.length = 0;
      const r = await get(s, '/one');
      t.equal(r.status, 200);
      t.equal(r.body.length, 1024);
      t.same(seen, [{ app: 'h1', version: '1.1', path: '/one' }], 'the HTTP/1.1 app got HTTP/1.1');

      const s2 = http2.connect(`https://127.0.0.1:${h2Fwd.inbound}`, { ca: ca.certPem, servername: 'n2.haproxy.test', cert: n1.certPem, key: n1.keyPem });
      t.teardown(() => s2.close());
      seen.length = 0;
      const r2 = await get(s2, '/two');
      t.equal(r2.status, 200);
      t.equal(r2.body, 'y'.repeat(1024));
      t.same(seen, [{ app: 'h2', version: '2.0', path: '/two' }], 'the h2c app got HTTP/2');

      // No client certificate: the handshake is refused (verify required).
      const anon = connectAs();
      t.teardown(() => anon.destroy());
      const failed = await new Promise<boolean>((resolve) => {
        anon.once('error', () => resolve(true));
        anon.once('close', () => resolve(true));
        const req = anon.request({ ':path': '/three' });
        req.on('response', () => resolve(false)).on('error', () => resolve(true));
        req.end();
      });
      t.ok(failed, 'no request gets through without a client certificate');
    });

    await t.test('n1 alone: sends each request as HTTP/2 over TLS 1.3 with its client certificate', async (t) => {
      // A node:http2 server in n2's place, on n2's port for the HTTP/1.1 app.
      const got: { version: string; path: string; tls: string | null; alpn: string | false | null; peer: string }[] = [];
      const fakeN2 = http2.createSecureServer({ ca: ca.certPem, cert: n2.certPem, key: n2.keyPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (req, res) => {
        const sock = req.socket as TLSSocket;
        got.push({ version: req.httpVersion, path: req.url, tls: sock.getProtocol(), alpn: sock.alpnProtocol, peer: sock.getPeerCertificate().subjectaltname ?? '' });
        res.end('z'.repeat(1024));
      });
      await new Promise<void>((r) => fakeN2.listen(0, '127.0.0.1', r));
      t.teardown(() => new Promise((r) => fakeN2.close(r)));
      const fakePort = (fakeN2.address() as AddressInfo).port;
      const only: ForwardedPort = { port: h1Port, outbound: await freePort(), inbound: fakePort };
      const cfg = local(clientConfig({ mode: 'http', threads: 2, maxconn: 200, serverNodeIp: '127.0.0.1', ports: [only], ca: files.ca, cert: files.n1, serverName: 'n2.haproxy.test' }));
      const child = await run('n1-alone', cfg);
      t.teardown(() => stopHaproxy(child));
      for (const path of ['/a', '/b', '/c']) {
        const r = await curl(['--http1.1', `http://127.0.0.1:${only.outbound}${path}`]);
        t.equal(r.status, 0, `curl ${path}: ${r.stderr}`);
        t.equal(r.stdout, 'z'.repeat(1024));
      }
      t.same(got.map((g) => [g.version, g.path, g.tls, g.alpn]), [['2.0', '/a', 'TLSv1.3', 'h2'], ['2.0', '/b', 'TLSv1.3', 'h2'], ['2.0', '/c', 'TLSv1.3', 'h2']]);
      t.ok(got.every((g) => g.peer.includes('URI:spiffe://cluster.local/ns/haproxy/sa/n1')), 'n1 presented its certificate');
    });

    await t.test('the pair end to end: curl HTTP/1.1 and h2 prior knowledge, grpc-js unary', async (t) => {
      await run('n1', local(clientConfig({ mode: 'http', threads: 2, maxconn: 200, serverNodeIp: '127.0.0.1', ports, ca: files.ca, cert: files.n1, serverName: 'n2.haproxy.test' })));
      seen.length = 0;
      const c1 = await curl(['--http1.1', '-w', '%{http_version}', `http://127.0.0.1:${h1Fwd.outbound}/bytes/1024`]);
      t.equal(c1.status, 0, c1.stderr);
      t.equal(c1.stdout, `${'x'.repeat(1024)}1.1`, 'HTTP/1.1 answer of 1 KiB');
      const c2 = await curl(['--http2-prior-knowledge', '-w', '%{http_version}', `http://127.0.0.1:${h2Fwd.outbound}/chunked/1024`]);
      t.equal(c2.status, 0, c2.stderr);
      t.equal(c2.stdout, `${'y'.repeat(1024)}2`, 'n1 detected the h2c preface and answered in HTTP/2');
      t.same(seen, [{ app: 'h1', version: '1.1', path: '/bytes/1024' }, { app: 'h2', version: '2.0', path: '/chunked/1024' }]);

      const Echo = grpc.makeGenericClientConstructor(echoService, 'Echo');
      const client = new Echo(`127.0.0.1:${grpcFwd.outbound}`, grpc.credentials.createInsecure());
      t.teardown(() => client.close());
      const reply = await new Promise<EchoMessage>((resolve, reject) => {
        (client as unknown as { unary: (m: EchoMessage, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: EchoMessage) => void) => void }).unary({ text: 'k'.repeat(1024), seq: 41 }, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res?: EchoMessage) => (err ? reject(err) : resolve(res!)));
      });
      t.same(reply, { text: 'k'.repeat(1024), seq: 42 }, 'gRPC unary through the pair, trailers and all');
    });
  });
}
