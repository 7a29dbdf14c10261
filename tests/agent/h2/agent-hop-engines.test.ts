// The hop between agents on both HTTP/2 engines (WEFT_L7_H2_ENGINE): the agent's own client side
// (PeerSessions + startH2Attempt — one H2StreamAttempt object per request on the codec, H2Attempt on
// node:http2 — what the source agent runs) against the agent's own HBONE listener
// (createHboneServer, what the destination agent runs), each side on node:http2 or on agent/h2,
// in all four pairings — node:http2 client → codec server and codec client → node:http2 server are
// the rolling-upgrade pairs. Real mTLS 1.3 with mesh certificates, SNI and ALPN h2 over loopback;
// the server's L7 handler is a test echo written against the same stream surface inbound-http.ts
// uses (respond, 100 Continue, waitForTrailers/sendTrailers). Covers request/response, bodies
// far larger than every window both ways, trailers, 100-continue, cancel (RST_STREAM reaches the
// server), GOAWAY draining (the stream in flight finishes, the next request is not delivered there),
// many concurrent streams, and a CONNECT tunnel on the codec server. (h2load cannot present a
// client certificate, which the HBONE listener requires, so it is not used here.)
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { PeerSessions } from '../../../agent/http/peer-sessions.ts';
import { H2Attempt } from '../../../agent/http/h2-attempt.ts';
import { H2StreamAttempt, startH2Attempt } from '../../../agent/http/h2-stream-attempt.ts';
import { endRequest, type AttemptSink, type ResponseBody, type UpstreamAttempt } from '../../../agent/http/upstream.ts';
import type { H2Engine, HboneServer } from '../../../agent/proxy/hbone/index.ts';
import { createLogger } from '../../../common/log.ts';
import { H2Session } from '../../../agent/h2/session.ts';
import { watchLiveness } from '../../../agent/proxy/hbone/liveness.ts';
import { sniForIdentity } from '../../../agent/proxy/hbone/sni.ts';
import { CLIENT_ID, SERVER_ID, TARGET_HOST, TD, makeMesh, settled, startHbone, startTarget, closeServer, type Mesh } from '../proxy/hbone/fixture.ts';
import { writeAll } from '../../common/write-all.ts';
import { pollUntil } from '../../common/poll-until.ts';

const quiet = createLogger('test', { write() {} });
const ENGINES: H2Engine[] = ['node', 'weft'];

interface Seen {
  /** Streams the server saw close, with their RST code, by path. */
  closed: Map<string, number | undefined>;
  /** /stall: the request stream, unread until the test resumes it; and its octets read. */
  stalled?: ServerHttp2Stream;
  stalledRead: number;
  /** /big/: octets the server's writes have handed to the stream so far. */
  bigSent: number;
}

/** The destination side's L7 handler for the test: echo, a large answer, and a stream that hangs. */
function echoHandler(seen: Seen) {
  return ({ stream, headers }: { stream: ServerHttp2Stream; headers: IncomingHttpHeaders }): void => {
    const path = headers[':path'] as string;
    stream.on('error', () => {});
    stream.once('close', () => seen.closed.set(path, stream.rstCode));
    if (path === '/hang' || path.startsWith('/slow')) {
      if (path.startsWith('/slow')) setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('slow done');
      }, Number(path.slice(6)));
      stream.resume();
      return;
    }
    if (path === '/stall') {
      // Reads nothing until the test says so: the sender must stop after the windows fill.
      stream.pause();
      seen.stalled = stream;
      stream.on('data', (c: Buffer) => { seen.stalledRead += c.length; });
      stream.once('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(String(seen.stalledRead));
      });
      return;
    }
    if (path.startsWith('/big/')) {
      const n = Number(path.slice(5));
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      seen.bigSent = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      writeAll(stream, n, (_at, len) => chunk.subarray(0, len), (sent) => { seen.bigSent = sent; });
      stream.resume();
      return;
    }
    // /req-trailers: what arrived — body size and the request's trailers (node:http2's 'trailers'
    // event, the codec facade's too) — as JSON once the request ended.
    if (path === '/req-trailers') {
      let n = 0;
      let trailers: IncomingHttpHeaders = {};
      stream.on('trailers', (tr: IncomingHttpHeaders) => { trailers = tr; });
      stream.on('data', (c: Buffer) => { n += c.length; });
      stream.once('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ n, trailers }));
      });
      return;
    }
    // /echo: 100 Continue when asked, the body back, its size and a gRPC status as trailers.
    if (headers.expect === '100-continue') stream.additionalHeaders({ ':status': 100 });
    let n = 0;
    stream.respond({ ':status': 200, 'x-method': headers[':method'] as string, 'x-target': (headers['weft-target'] as string | undefined) ?? '' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'x-bytes': String(n), 'grpc-status': '0' }));
    stream.on('data', (c: Buffer) => {
      n += c.length;
      if (!stream.write(c)) {
        stream.pause();
        stream.once('drain', () => stream.resume());
      }
    });
    stream.once('end', () => stream.end());
  };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  continued: boolean;
}

interface Failed {
  failed: true;
  delivered: boolean;
  err: Error;
}

/** Attempts made, by class: the weft client must carry every request as one H2StreamAttempt. */
const made = { stream: 0, node: 0 };

/**
 * One request through the agent's client path (PeerSessions → startH2Attempt: an H2StreamAttempt on
 * the codec's session, an H2Attempt on node:http2's), collected.
 */
function send(peers: PeerSessions, port: number, headers: Record<string, string>, body?: Buffer | Buffer[], onAttempt?: (a: UpstreamAttempt) => void, writeBody?: (a: UpstreamAttempt) => void, mayTrail = false): Promise<Answer | Failed> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let head: IncomingHttpHeaders = {};
    let continued = false;
    const chunks: Buffer[] = [];
    const sink: AttemptSink = {
      onContinue: () => { continued = true; },
      onResponse: (s: number, h: IncomingHttpHeaders, b: ResponseBody) => {
        status = s;
        head = h;
        b.on('data', (c: Buffer) => chunks.push(c));
      },
      onEnd: (trailers) => resolve({ status, headers: head, body: Buffer.concat(chunks), trailers, continued }),
      onFailure: (delivered, err) => resolve({ failed: true, delivered, err }),
    };
    peers.acquire({ sourceIdentity: CLIENT_ID, destinationIdentity: SERVER_ID, node: { host: '127.0.0.1', port } }).then((entry) => {
      const endStream = body === undefined && writeBody === undefined;
      const a = startH2Attempt(entry.session, { ':method': 'POST', ':scheme': 'http', ':authority': 'cart.shop:8080', 'weft-target': `${TARGET_HOST}:8080`, ...headers }, endStream, sink, peers, entry, mayTrail);
      if (a instanceof H2StreamAttempt) made.stream++;
      else if (a instanceof H2Attempt) made.node++;
      onAttempt?.(a);
      if (writeBody !== undefined) return writeBody(a);
      if (body === undefined) return;
      writeParts(a, Array.isArray(body) ? body : [body], undefined);
    }, reject);
  });
}

/** Writes `parts` into an attempt's body with backpressure, then ends it (with `trailers`, if any). */
function writeParts(a: UpstreamAttempt, parts: Buffer[], trailers: Record<string, string> | undefined): void {
  let i = 0;
  const write = (): void => {
    while (i < parts.length) {
      if (!a.body.write(parts[i++])) {
        a.body.once('drain', write);
        return;
      }
    }
    endRequest(a, trailers);
  };
  write();
}

function isAnswer(a: Answer | Failed): a is Answer {
  return !('failed' in a);
}

async function startServer(mesh: Mesh, engine: H2Engine, seen: Seen): Promise<{ hbone: HboneServer; port: number }> {
  const { hbone, port } = await startHbone(mesh, undefined, 0, { engine, onHttp: echoHandler(seen), closeGraceMs: 2000 });
  return { hbone, port };
}

function peersFor(mesh: Mesh, engine: H2Engine): PeerSessions {
  return new PeerSessions({ trustDomain: TD, certificates: mesh.clientCerts, dialTcp: (h, p) => net.connect({ host: h, port: p, noDelay: true }), engine, closeGraceMs: 500 });
}

const until = pollUntil;

const mesh = await makeMesh();

for (const clientEngine of ENGINES) {
  for (const serverEngine of ENGINES) {
    t.test(`client ${clientEngine} → server ${serverEngine}`, async (t) => {
      const seen: Seen = { closed: new Map(), stalledRead: 0, bigSent: 0 };
      const { hbone, port } = await startServer(mesh, serverEngine, seen);
      const peers = peersFor(mesh, clientEngine);
      made.stream = 0;
      made.node = 0;
      t.teardown(async () => {
        await peers.close();
        await hbone.close();
      });

      t.test('a request and its answer: status, headers, body, trailers', async (t) => {
        const a = await send(peers, port, { ':path': '/echo', 'x-test': 'one' }, Buffer.from('hello'));
        if (!isAnswer(a)) return t.fail(`failed: ${a.err.message}`);
        t.equal(a.status, 200);
        t.equal(a.headers['x-method'], 'POST');
        t.equal(a.headers['x-target'], `${TARGET_HOST}:8080`, 'the hop header arrived');
        t.equal(a.body.toString(), 'hello');
        t.equal(a.trailers?.['x-bytes'], '5', 'trailers relayed');
        t.equal(a.trailers?.['grpc-status'], '0');
      });

      t.test('request trailers: a trailing HEADERS frame with END_STREAM after the body (RFC 9113 §8.1)', async (t) => {
        const withTrailers = (parts: Buffer[], trailers: Record<string, string> | undefined) => (a: UpstreamAttempt): void => writeParts(a, parts, trailers);
        const small = await send(peers, port, { ':path': '/req-trailers' }, undefined, undefined, withTrailers([Buffer.from('abc')], { 'x-checksum': 'sha256=abc' }), true);
        if (!isAnswer(small)) return t.fail(`failed: ${small.err.message}`);
        t.same(JSON.parse(small.body.toString()), { n: 3, trailers: { 'x-checksum': 'sha256=abc' } });
        // 3 MiB: past the 1 MiB stream window, so the trailers wait behind queued DATA.
        const parts = Array.from({ length: 48 }, () => Buffer.alloc(64 * 1024, 7));
        const big = await send(peers, port, { ':path': '/req-trailers' }, undefined, undefined, withTrailers(parts, { 'x-checksum': 'big', 'grpc-timeout': '1S' }), true);
        if (!isAnswer(big)) return t.fail(`failed: ${big.err.message}`);
        t.same(JSON.parse(big.body.toString()), { n: 3 << 20, trailers: { 'x-checksum': 'big', 'grpc-timeout': '1S' } });
        // May have trailers, has none: the stream ends without a trailer section.
        const none = await send(peers, port, { ':path': '/req-trailers' }, undefined, undefined, withTrailers([Buffer.from('z')], undefined), true);
        if (!isAnswer(none)) return t.fail(`failed: ${none.err.message}`);
        t.same(JSON.parse(none.body.toString()), { n: 1, trailers: {} });
      });

      t.test('a bodyless request (END_STREAM on HEADERS) and 100 Continue', async (t) => {
        const a = await send(peers, port, { ':path': '/echo', ':method': 'GET' });
        if (!isAnswer(a)) return t.fail(`failed: ${a.err.message}`);
        t.equal(a.headers['x-method'], 'GET');
        t.equal(a.body.length, 0);
        t.equal(a.trailers?.['x-bytes'], '0');
        const c = await send(peers, port, { ':path': '/echo', expect: '100-continue' }, Buffer.from('after continue'));
        if (!isAnswer(c)) return t.fail(`failed: ${c.err.message}`);
        t.ok(c.continued, 'the client heard 100 Continue');
        t.equal(c.body.toString(), 'after continue');
      });

      t.test('bodies far larger than every window, both ways, with backpressure', async (t) => {
        // 24 MiB up and echoed back: past the 1 MiB stream and 16 MiB connection windows.
        const parts = Array.from({ length: 384 }, (_, i) => Buffer.alloc(64 * 1024, i & 0xff));
        const a = await send(peers, port, { ':path': '/echo' }, parts);
        if (!isAnswer(a)) return t.fail(`failed: ${a.err.message}`);
        t.equal(a.body.length, 24 << 20);
        t.ok(a.body.equals(Buffer.concat(parts)), 'every octet back, in order');
        t.equal(a.trailers?.['x-bytes'], String(24 << 20));
        const b = await send(peers, port, { ':path': `/big/${40 << 20}`, ':method': 'GET' });
        if (!isAnswer(b)) return t.fail(`failed: ${b.err.message}`);
        t.equal(b.body.length, 40 << 20, '40 MiB down');
      });

      t.test('backpressure: a reader that stops stops its sender after the windows, both ways', async (t) => {
        // Upload to a server that does not read: the client's body stalls (write → false, no
        // drain) with at most the windows and buffers in flight, then finishes once it reads.
        const total = 16 << 20;
        let accepted = 0;
        let waiting = false;
        let attempt: UpstreamAttempt | undefined;
        const done = send(peers, port, { ':path': '/stall' }, undefined, undefined, (a) => {
          attempt = a;
          const chunk = Buffer.alloc(64 * 1024, 1);
          const write = (): void => {
            waiting = false;
            while (accepted < total) {
              accepted += chunk.length;
              if (!a.body.write(chunk)) {
                waiting = true;
                a.body.once('drain', write);
                return;
              }
            }
            a.body.end();
          };
          write();
        });
        await until(() => attempt !== undefined && seen.stalled !== undefined);
        await settled(() => accepted);
        t.ok(waiting, 'the client is waiting for drain');
        t.ok(accepted < 8 << 20, `the client took ${accepted} of ${total} octets before it stalled`);
        seen.stalled?.resume();
        const a = await done;
        t.ok(isAnswer(a) && a.body.toString() === String(total), 'every octet arrived once the server read');

        // Download to a client that does not read: the server's writes stall the same way.
        let body: ResponseBody | undefined;
        const down = new Promise<number>((resolve, reject) => {
          const sink: AttemptSink = {
            onContinue: () => {},
            onResponse: (_s, _h, b) => { body = b; b.pause(); },
            onEnd: () => resolve(0),
            onFailure: (_d, err) => reject(err),
          };
          void peers.acquire({ sourceIdentity: CLIENT_ID, destinationIdentity: SERVER_ID, node: { host: '127.0.0.1', port } }).then((entry) => {
            startH2Attempt(entry.session, { ':method': 'GET', ':scheme': 'http', ':authority': 'cart.shop:8080', ':path': `/big/${total}` }, true, sink, peers, entry);
          });
        });
        await until(() => body !== undefined);
        await settled(() => seen.bigSent);
        t.ok(seen.bigSent < 8 << 20, `the server wrote ${seen.bigSent} of ${total} octets to a client that reads nothing`);
        let got = 0;
        body?.on('data', (c: Buffer) => { got += c.length; });
        body?.resume();
        await down;
        t.equal(got, total, 'all of it once the client reads');
      });

      t.test('many concurrent streams on pooled sessions', async (t) => {
        const all = await Promise.all(Array.from({ length: 200 }, (_, i) => send(peers, port, { ':path': '/echo' }, Buffer.from(`req-${i}`))));
        const bodies = all.map((a) => (isAnswer(a) ? a.body.toString() : `failed ${a.err.message}`));
        t.same(bodies, Array.from({ length: 200 }, (_, i) => `req-${i}`));
      });

      t.test('an aborted attempt resets its stream; the server sees the reset', async (t) => {
        let attempt: UpstreamAttempt | undefined;
        const p = send(peers, port, { ':path': '/hang' }, Buffer.from('x'), (a) => { attempt = a; });
        await until(() => attempt !== undefined);
        await new Promise((r) => setTimeout(r, 100));
        attempt?.abort();
        t.ok(await until(() => seen.closed.has('/hang')), 'the server stream closed');
        t.equal(seen.closed.get('/hang'), 8, 'by RST_STREAM CANCEL');
        void p;
      });

      t.test('each stream was released to the pool exactly once, on the engine\'s own attempt class', async (t) => {
        const entry = await peers.acquire({ sourceIdentity: CLIENT_ID, destinationIdentity: SERVER_ID, node: { host: '127.0.0.1', port } });
        // The aborted /hang stream releases on close; the rest already ended.
        t.ok(await until(() => entry.active === 1), `only this acquisition counted (active ${entry.active})`);
        peers.release(entry);
        t.equal(entry.active, 0);
        if (clientEngine === 'weft') t.ok(made.stream > 200 && made.node === 0, `codec client: ${made.stream} H2StreamAttempts, ${made.node} H2Attempts`);
        else t.ok(made.node > 200 && made.stream === 0, `node client: ${made.node} H2Attempts, ${made.stream} H2StreamAttempts`);
      });

      t.test('GOAWAY drains: the stream in flight finishes, the next request is not delivered there', async (t) => {
        const inFlight = send(peers, port, { ':path': '/slow/300', ':method': 'GET' });
        await until(() => false, 100);
        const closing = hbone.close();
        const a = await inFlight;
        t.ok(isAnswer(a) && a.body.toString() === 'slow done', 'the stream in flight got its whole answer');
        await closing;
        const b = await send(peers, port, { ':path': '/echo', ':method': 'GET' });
        t.ok(!isAnswer(b) && !b.delivered, 'a request after the shutdown fails as not delivered (replayable)');
      });
    });
  }
}

t.test('the codec server carries CONNECT tunnels too (the same port takes both)', async (t) => {
  const seen: Seen = { closed: new Map(), stalledRead: 0, bigSent: 0 };
  const { hbone, port } = await startServer(mesh, 'weft', seen);
  const target = await startTarget((s) => s.pipe(s));
  const peers = peersFor(mesh, 'node');
  t.teardown(async () => {
    await peers.close();
    await hbone.close();
    await closeServer(target.server, target.sockets);
  });
  const entry = await peers.acquire({ sourceIdentity: CLIENT_ID, destinationIdentity: SERVER_ID, node: { host: '127.0.0.1', port } });
  const stream = entry.session.request({ ':method': 'CONNECT', ':authority': `${TARGET_HOST}:${target.port}` }, { endStream: false });
  const [head] = await new Promise<[IncomingHttpHeaders]>((resolve) => stream.once('response', (h) => resolve([h])));
  t.equal(head[':status'], 200, 'tunnel open');
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => stream.once('end', r));
  const payload = Buffer.alloc(3 << 20, 7);
  stream.end(payload);
  await ended;
  t.equal(Buffer.concat(chunks).length, payload.length);
  t.ok(Buffer.concat(chunks).equals(payload), '3 MiB through the tunnel and back, then a clean end');
  peers.release(entry);
});

for (const engine of ENGINES) {
  t.test(`${engine} client: a peer that refuses the connection fails the request as never delivered`, async (t) => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const peers = peersFor(mesh, engine);
    t.teardown(() => peers.close());
    const a = await send(peers, port, { ':path': '/echo' }, Buffer.from('x'));
    t.ok(!isAnswer(a) && !a.delivered, 'not delivered: the retry stage may replay it anywhere');
  });
}

t.test('codec client: PING liveness cuts a peer that goes silent after the handshake', async (t) => {
  // A TLS peer with the right certificate and ALPN that never speaks HTTP/2: no SETTINGS, no PING ACK.
  const cert = await mesh.serverCerts.get(SERVER_ID);
  const silent = tls.createServer({ key: cert.keyPem, cert: cert.certChainPem.join('\n'), ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' }, (s) => s.on('error', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  const client = await mesh.clientCerts.get(CLIENT_ID);
  const socket = tls.connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.certChainPem.join('\n'), ca: [...client.trustAnchorsPem], servername: sniForIdentity(SERVER_ID), ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
  const session = new H2Session(socket, { role: 'client', readyEvent: 'secureConnect' });
  t.teardown(() => {
    session.destroy();
    silent.close();
  });
  let failure: Error | undefined;
  session.on('error', (err: Error) => { failure = err; });
  const closedAt = new Promise((r) => session.once('close', r));
  watchLiveness(session as unknown as ClientHttp2Session, 'silent-peer', { intervalMs: 100, timeoutMs: 400 }, quiet);
  await closedAt;
  t.equal((failure as Error & { code?: string } | undefined)?.code, 'WEFT_ERR_PEER_UNRESPONSIVE', 'the session ended with the liveness error');
});

t.test('codec client: PING answered by a live peer of either engine', async (t) => {
  for (const engine of ENGINES) {
    const seen: Seen = { closed: new Map(), stalledRead: 0, bigSent: 0 };
    const { hbone, port } = await startServer(mesh, engine, seen);
    const peers = peersFor(mesh, 'weft');
    const entry = await peers.acquire({ sourceIdentity: CLIENT_ID, destinationIdentity: SERVER_ID, node: { host: '127.0.0.1', port } });
    await until(() => !entry.session.connecting);
    const rtt = await new Promise<number>((resolve, reject) => {
      if (!entry.session.ping((err, d) => (err === null ? resolve(d) : reject(err)))) reject(new Error('no ping sent'));
    });
    t.ok(rtt >= 0, `${engine} server answered the PING`);
    peers.release(entry);
    await peers.close();
    await hbone.close();
  }
});
