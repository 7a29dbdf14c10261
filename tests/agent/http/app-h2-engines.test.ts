// In-process, real sockets on loopback: an app speaking HTTP/2 prior knowledge (node:http2's
// client) through the agent's outbound path to an h2c pod (node:http2's server), on the engine
// WEFT_L7_H2_ENGINE picks (default the codec: agent/proxy/outbound-h2.ts serves the app, the
// codec client of agent/http/h2c-pod-session.ts dials the pod; `node` runs the same file on
// node:http2 both ways). The oracles are the two node:http2 ends: what the pod received and sent
// (its own sha256 of the body, its own view of a reset), never the agent's code.
// Also, codec only: a rapid-reset burst from a raw socket ends in GOAWAY ENHANCE_YOUR_CALM, counted.
import t from 'tap';
import net from 'node:net';
import http2 from 'node:http2';
import { createHash } from 'node:crypto';
import type { RouteRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { createLogger } from '../../../common/log.ts';
import { LocalUpstream } from '../../../agent/http/local-upstream.ts';
import { PeerSessions } from '../../../agent/http/peer-sessions.ts';
import { Router, type HttpView } from '../../../agent/http/router.ts';
import { createOutboundHttp } from '../../../agent/proxy/outbound-http.ts';
import { sniffProtocol } from '../../../agent/proxy/detect-socket.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';
import { ProxyStats } from '../../../agent/proxy/stats.ts';
import { noTelemetry, type Telemetry } from '../../../agent/telemetry/telemetry.ts';
import { isConnect } from '../../../agent/proxy/outbound-h2.ts';
import { WorkloadLimiter } from '../../../agent/proxy/workload-limits.ts';
import { CLIENT_STREAM_WINDOW } from '../../../agent/proxy/hbone/flow-windows.ts';
import { continuationFloodBurst, rapidReset, sendBurst } from '../../apps/h2-rapid-reset.ts';

const engine = process.env.WEFT_L7_H2_ENGINE === 'node' ? 'node' : 'weft';
t.comment(`engine: ${engine}`);

const sha = (b: Buffer | Buffer[]): string => {
  const h = createHash('sha256');
  for (const c of Array.isArray(b) ? b : [b]) h.update(c);
  return h.digest('hex');
};
/** Deterministic bytes (not all one value, so a misplaced chunk changes the hash). */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

// ---- the pod: node:http2's h2c server ----
const podClosed = new Map<string, (code: number) => void>();
/** Octets a /count stream's writes were accepted for (its writable side took them), by x-id. */
const podTaken = new Map<string, number>();
/** Lets a /hold stream start reading, by x-id. */
const podRelease = new Map<string, () => void>();
const pod = http2.createServer({ settings: { initialWindowSize: 65_535 } });
let podStreams = 0;
pod.on('stream', (stream, headers) => {
  podStreams++;
  stream.on('error', () => undefined);
  const path = headers[':path'] as string;
  const id = headers['x-id'] as string | undefined;
  if (id !== undefined) stream.once('close', () => podClosed.get(id)?.(stream.rstCode));
  if (path === '/echo') {
    // The body back as it comes, and the pod's own hash of it in the trailers.
    const h = createHash('sha256');
    let n = 0;
    stream.respond({ ':status': 200, 'x-pod': 'yes' }, { waitForTrailers: true });
    stream.on('data', (c: Buffer) => { h.update(c); n += c.length; stream.write(c); });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'x-sha256': h.digest('hex'), 'x-bytes': String(n) }));
    stream.on('end', () => stream.end());
    return;
  }
  if (path.startsWith('/big/')) {
    const body = pattern(Number(path.slice(5)), 7);
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    // With two fields a trailer must not carry (RFC 9110 §6.5.1), which the app must not see.
    stream.once('wantTrailers', () => stream.sendTrailers({ 'x-sha256': sha(body), 'weft-error': 'WEFT_ERR_FORGED', 'set-cookie': 'sid=1' }));
    stream.end(body);
    return;
  }
  if (path.startsWith('/count/')) {
    // 64 KiB writes, one after another as the stream takes them; what it took is counted by id.
    const total = Number(path.slice(7));
    const chunk = pattern(64 * 1024, 3);
    let written = 0;
    stream.respond({ ':status': 200 });
    const next = (): void => {
      while (written < total) {
        written += chunk.length;
        podTaken.set(id ?? '', written);
        if (!stream.write(chunk)) return void stream.once('drain', next);
      }
      stream.end();
    };
    next();
    return;
  }
  if (path.startsWith('/exact/')) {
    // N octets in one write, end() once it went: when N is the agent's whole stream window towards
    // the pod and nothing was read, nghttp2 holds the empty END_STREAM DATA frame for window and
    // node:http2 closes the stream with RST_STREAM(NO_ERROR) in its place.
    const n = Number(path.slice(7));
    stream.respond({ ':status': 200 });
    stream.write(pattern(n, 5), () => stream.end());
    return;
  }
  if (path === '/endless' || path === '/abort') {
    stream.respond({ ':status': 200 });
    const chunk = Buffer.alloc(16 * 1024, 1);
    let sent = 0;
    const timer = setInterval(() => {
      if (stream.destroyed) return clearInterval(timer);
      stream.write(chunk);
      sent++;
      if (path === '/abort' && sent === 3) {
        clearInterval(timer);
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    }, 10);
    stream.once('close', () => clearInterval(timer));
    return;
  }
  if (path === '/hold') {
    // Reads nothing until released; then counts the body and answers with the count.
    stream.pause();
    let n = 0;
    stream.on('data', (c: Buffer) => { n += c.length; });
    stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end(String(n)); });
    podRelease.set(id ?? '', () => stream.resume());
    return;
  }
  if (path === '/continue') {
    // 100 Continue first, then the body is counted and the count answered.
    stream.additionalHeaders({ ':status': 100 });
    let n = 0;
    stream.on('data', (c: Buffer) => { n += c.length; });
    stream.on('end', () => { stream.respond({ ':status': 200 }); stream.end(String(n)); });
    return;
  }
  if (path === '/test.Svc/Slow') return; // never answers
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(path);
});
await new Promise<void>((r) => pod.listen(0, '127.0.0.1', r));
t.teardown(() => { pod.close(); });
const podPort = (pod.address() as net.AddressInfo).port;

// ---- the agent's outbound path ----
function workload(name: string): WorkloadRecord {
  return { kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node: 'n1', ip: '127.0.0.1', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true };
}
const svc = (name: string, ip: string): ServiceRecord => ({
  kind: 'service', key: `demo/${name}`, name, namespace: 'demo', clusterIP: ip,
  ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http2' }], selector: { app: name }, defaults: {},
});
const podSvc = svc('pod', '10.96.0.1');
const noneSvc = svc('none', '10.96.0.2');
let routes: RouteRecord[] = [];
const view: HttpView = {
  workloadByIp: () => undefined,
  serviceByAddress: () => undefined,
  endpoints: (key) => (key === 'demo/pod' ? [{ workload: workload('pod'), port: podPort }] : []),
  nodeAddress: () => '127.0.0.1',
  routesFor: (key) => (key === 'demo/pod' ? routes : []),
  serviceByKey: () => undefined,
};
const stats = new ProxyStats();
const sockets = createSocketFactory();
const local = new LocalUpstream({ sockets, connectTimeoutMs: 2000, engine });
const peers = new PeerSessions({ trustDomain: 'cluster.local', certificates: { get: () => Promise.reject(new Error('no certs in this test')) }, dialTcp: (h, p) => net.connect(p, h) });
const rejected: string[] = [];
const telemetry: Telemetry = { ...noTelemetry, inputRejected: (reason) => { rejected.push(reason); } };
const router = new Router({ view, localNode: 'n1', balancer: 'round-robin', counters: stats.l7, defaults: { timeoutMs: 0, idleTimeoutMs: 0, retryLimit: 0, retryBackoffMs: 5 }, telemetry });
const outbound = createOutboundHttp({
  router, local, peers, sockets, h2Engine: engine, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 300, opaquePorts: new Set(), stats, telemetry,
  tunnels: { openTunnel: () => Promise.reject(new Error('no tunnels here')) }, log: createLogger('test'),
});
t.teardown(() => { outbound.close(); local.close(); void peers.close(); });

// A second outbound path with a request limit of 2 in flight per source workload.
const limiter = new WorkloadLimiter({ kind: 'pending_requests', limit: 2, shares: 1, telemetry, stats, log: createLogger('test') });
const limited = createOutboundHttp({
  router, local, peers, sockets, h2Engine: engine, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 300, opaquePorts: new Set(), stats, telemetry,
  tunnels: { openTunnel: () => Promise.reject(new Error('no tunnels here')) }, log: createLogger('test'), requestLimit: limiter,
});
t.teardown(() => { limited.close(); });

async function capture(which: ServiceRecord, via = outbound): Promise<number> {
  const srv = net.createServer((c) => {
    // A generous detection timeout: on a loaded machine a client's preface can take a while, and
    // a connection sniffed as TCP would be cut here (the test's capture has no TCP path).
    sniffProtocol(c, 10_000, (s) => {
      if (s.protocol === 'tcp') return void c.end('opaque');
      const client = workload('client');
      via.handle(c, s, { source: client, from: { identity: client.identity, address: c.remoteAddress ?? '' }, destination: { kind: 'service', service: which, port: 80 }, proto: s.protocol, original: `${which.clusterIP}:80` });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}
const podCapture = await capture(podSvc);
const noneCapture = await capture(noneSvc);
const limitedCapture = await capture(podSvc, limited);

interface Answer { status: number; headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders | undefined; rstCode: number | undefined }

function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | Buffer[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    s.on('response', (h) => { head = h; });
    s.on('trailers', (tr) => { trailers = tr; });
    s.on('data', (c: Buffer) => chunks.push(c));
    let error: Error | undefined;
    s.on('error', (err) => { error = err; });
    s.on('close', () => {
      if (head[':status'] === undefined && s.rstCode !== http2.constants.NGHTTP2_NO_ERROR) return reject(new Error(`stream closed with ${s.rstCode} before a response (${error?.message ?? 'no error'}; session destroyed ${session.destroyed})`));
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks), trailers, rstCode: s.rstCode });
    });
    if (body !== undefined) {
      const parts = Array.isArray(body) ? body : [body];
      (async () => {
        for (const p of parts) if (!s.write(p)) await new Promise((r) => s.once('drain', r));
        s.end();
      })().catch(reject);
    }
  });
}

function connect(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

t.test('200 concurrent streams on one connection each get their own answer', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => request(session, { ':path': `/n/${i}` })));
  t.same(answers.map((a) => a.status), Array(200).fill(200), 'all 200');
  t.same(answers.map((a) => a.body.toString()), Array.from({ length: 200 }, (_, i) => `/n/${i}`), 'each body is its own path');
});

t.test('bodies past every window both ways, byte for byte, with the pod\'s trailers', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  // 24 MiB up (past the app's stream and connection windows at the agent, and the pod's 64 KiB
  // stream window), echoed back down; the pod hashes what it received.
  const parts = Array.from({ length: 24 }, (_, i) => pattern(1 << 20, i + 1));
  const up = await request(session, { ':path': '/echo' }, parts);
  t.equal(up.status, 200);
  t.equal(up.headers['x-pod'], 'yes', 'the pod\'s response head');
  t.equal(up.trailers?.['x-bytes'], String(24 << 20), 'the pod received every byte');
  t.equal(up.trailers?.['x-sha256'], sha(parts), 'the pod\'s hash of what it received is the hash of what was sent');
  t.equal(sha(up.body), sha(parts), 'the echo came back byte for byte');
  const dropped0 = stats.l7.responseTrailerFieldsDropped;
  const down = await request(session, { ':path': `/big/${20 << 20}` });
  t.equal(down.body.length, 20 << 20, '20 MiB down');
  t.equal(sha(down.body), down.trailers?.['x-sha256'], 'matching the pod\'s hash in its trailers');
  t.equal(down.trailers?.['weft-error'], undefined, 'a pod\'s trailer cannot label the answer as the mesh\'s');
  t.equal(down.trailers?.['set-cookie'], undefined, 'nor set a cookie after the content');
  t.equal(stats.l7.responseTrailerFieldsDropped - dropped0, 2, 'dropped and counted by the source agent');
});

t.test('a slow app reader holds the pod back (flow control through the agent), then gets everything', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const total = 48 << 20;
  const s = session.request({ ':method': 'GET', ':path': `/count/${total}`, 'x-id': 'slow-1' }, { endStream: true });
  s.on('error', () => undefined);
  s.pause();
  await new Promise((r) => s.once('response', r));
  // The app does not read: the windows between it and the pod fill (the app's, the agent's
  // buffers and its stream window towards the pod, the pod's socket), and the pod's writes stop
  // being taken — far short of the whole body.
  await new Promise((r) => setTimeout(r, 1500));
  const stalled = podTaken.get('slow-1') ?? 0;
  await new Promise((r) => setTimeout(r, 500));
  t.equal(podTaken.get('slow-1'), stalled, `the pod is held at ${stalled} octets while the app does not read`);
  t.ok(stalled < 16 << 20, `well short of the ${total} octets of the body`);
  let n = 0;
  s.on('data', (c: Buffer) => { n += c.length; });
  s.resume();
  await new Promise((r) => s.once('end', r));
  t.equal(n, total, 'then all of it');
});

// Deterministic form of the hang the test above showed with a 4 MiB pod window: the body ends
// exactly where the agent's stream window towards the pod does, while the app reads nothing.
t.test('a body that ends exactly at the agent\'s window towards the pod, to a paused app: all of it, then the end', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const total = CLIENT_STREAM_WINDOW;
  const closed = new Promise<number>((r) => podClosed.set('exact-1', r));
  const s = session.request({ ':method': 'GET', ':path': `/exact/${total}`, 'x-id': 'exact-1' }, { endStream: true });
  s.on('error', () => undefined);
  s.pause();
  await new Promise((r) => s.once('response', r));
  // On the codec the pod's stream is closed (RST_STREAM NO_ERROR) before the app reads a byte; on
  // node:http2 (a 64 KiB window towards the pod) the pod is still held by backpressure instead.
  const code = await Promise.race([closed, new Promise<string>((r) => setTimeout(r, 1500, 'not yet'))]);
  t.comment(`the pod's stream before the app reads: ${typeof code === 'number' ? `closed with code ${code}` : 'open, held'}`);
  if (engine === 'weft') t.equal(code, http2.constants.NGHTTP2_NO_ERROR, 'the case under test: the pod closed with RST_STREAM(NO_ERROR) while nothing was read');
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.resume();
  await new Promise((r) => s.once('end', r));
  t.equal(s.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'the app\'s stream ended without a reset');
  const all = Buffer.concat(chunks);
  t.equal(all.length, total, 'every octet');
  t.equal(sha(all), sha(pattern(total, 5)), 'the body as the pod sent it');
});

t.test('a pod that does not read holds the app\'s upload back, then takes all of it', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const s = session.request({ ':method': 'POST', ':path': '/hold', 'x-id': 'hold-1' });
  s.on('error', () => undefined);
  const answer = new Promise<string>((resolve) => {
    let body = '';
    s.on('data', (c: Buffer) => { body += c.toString(); });
    s.on('end', () => resolve(body));
  });
  const chunk = pattern(64 * 1024, 9);
  const total = 48 << 20;
  let queued = 0;
  let taken = 0;
  const onTaken = (): void => { taken += chunk.length; };
  // The app writes as long as its stream takes bytes (write callbacks: handed to the connection).
  const writer = (async () => {
    while (queued < total) {
      queued += chunk.length;
      if (!s.write(chunk, onTaken)) await new Promise((r) => s.once('drain', r));
    }
    s.end();
  })();
  await new Promise((r) => setTimeout(r, 1500));
  const stalled = taken;
  await new Promise((r) => setTimeout(r, 500));
  t.equal(taken, stalled, `the app's writes are held at ${stalled} octets while the pod does not read`);
  t.ok(stalled < 16 << 20, `well short of the ${total} octets of the body`);
  podRelease.get('hold-1')?.();
  await writer;
  t.equal(await answer, String(total), 'the pod then received every byte');
});

t.test('100 Continue from the pod reaches the app, which then sends its body', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const s = session.request({ ':method': 'POST', ':path': '/continue', expect: '100-continue' });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('continue', r));
  t.pass('the app got 100 Continue before sending a byte');
  s.end(Buffer.alloc(300_000, 2));
  let body = '';
  s.on('data', (c: Buffer) => { body += c.toString(); });
  await new Promise((r) => s.once('end', r));
  t.equal(body, '300000', 'the pod received the body sent after the 100');
});

t.test('an app that resets its stream mid-response: the pod\'s stream is cancelled', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const closed = new Promise<number>((r) => podClosed.set('rst-1', r));
  const s = session.request({ ':method': 'GET', ':path': '/endless', 'x-id': 'rst-1' }, { endStream: true });
  s.on('error', () => undefined);
  await new Promise((r) => s.once('data', r));
  s.close(http2.constants.NGHTTP2_CANCEL);
  const code = await closed;
  t.equal(code, http2.constants.NGHTTP2_CANCEL, 'the pod saw RST_STREAM CANCEL');
  // The connection is unharmed: another request on it succeeds.
  const a = await request(session, { ':path': '/after' });
  t.equal(a.body.toString(), '/after');
});

t.test('a pod that resets mid-response: the app sees the stream reset, not a clean end', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const a = await request(session, { ':path': '/abort' });
  t.equal(a.status, 200, 'the head had arrived');
  t.equal(a.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR, 'RST_STREAM INTERNAL_ERROR');
  t.equal(a.trailers, undefined, 'no trailers');
});

t.test('gRPC: a mesh timeout is a trailers-only DEADLINE_EXCEEDED', async (t) => {
  routes = [{ kind: 'route', key: 'demo/g', name: 'g', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/pod' }], rules: [{ matches: [], backends: [], timeoutMs: 300 }] }];
  t.teardown(() => { routes = []; });
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const a = await request(session, { ':path': '/test.Svc/Slow', 'content-type': 'application/grpc', te: 'trailers' }, [Buffer.from([0, 0, 0, 0, 0])]);
  t.equal(a.status, 200);
  t.equal(a.headers['grpc-status'], '4', 'DEADLINE_EXCEEDED in the one HEADERS frame');
  t.equal(a.headers['weft-timeout'], 'request');
  t.equal(a.trailers, undefined, 'no separate trailers: trailers-only');
  t.equal(a.body.length, 0, 'no body');
});

t.test('gRPC: no endpoint is a trailers-only UNAVAILABLE; plain HTTP/2 a 503 with weft-error', async (t) => {
  const session = await connect(noneCapture);
  t.teardown(() => session.close());
  const g = await request(session, { ':path': '/x.Y/Z', 'content-type': 'application/grpc', te: 'trailers' }, [Buffer.from([0, 0, 0, 0, 0])]);
  t.equal(g.headers['grpc-status'], '14');
  t.equal(g.trailers, undefined);
  const h = await request(session, { ':path': '/plain' });
  t.equal(h.status, 503);
  t.equal(h.headers['weft-error'], 'WEFT_ERR_NO_ROUTE');
});

t.test('a malformed target is refused 400 with weft-error and counted; the connection lives', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const before = rejected.length;
  const a = await request(session, { ':path': '/a/%2e%2e/%2e%2e/b%00' });
  t.equal(a.status, 400);
  t.match(String(a.headers['weft-error']), /^WEFT_ERR_HTTP_/);
  t.ok(rejected.length > before, `counted (${rejected.slice(before).join(', ')})`);
  const ok = await request(session, { ':path': '/fine' });
  t.equal(ok.body.toString(), '/fine');
});

t.test('the workload request limit: over it, 503 (gRPC: trailers-only UNAVAILABLE); released as streams end', async (t) => {
  const session = await connect(limitedCapture);
  t.teardown(() => session.close());
  // Two requests the pod holds (it reads nothing until released) take the two units.
  const held = ['lim-1', 'lim-2'].map((id) => {
    const s = session.request({ ':method': 'POST', ':path': '/hold', 'x-id': id });
    s.on('error', () => undefined);
    s.resume();
    s.write('x');
    return s;
  });
  await new Promise<void>((r) => { const tick = (): void => { if (podRelease.has('lim-1') && podRelease.has('lim-2')) r(); else setTimeout(tick, 10); }; tick(); });
  t.equal(limiter.held('demo/client'), 2, 'two units held');
  const over = await request(session, { ':path': '/over' });
  t.equal(over.status, 503);
  t.equal(over.headers['weft-error'], 'WEFT_ERR_WORKLOAD_LIMIT');
  const g = await request(session, { ':path': '/x.Y/Z', 'content-type': 'application/grpc', te: 'trailers' }, [Buffer.from([0, 0, 0, 0, 0])]);
  t.equal(g.headers['grpc-status'], '14', 'gRPC: UNAVAILABLE');
  t.equal(g.trailers, undefined, 'trailers-only');
  // One finishes, one is reset by the app: both units come back.
  podRelease.get('lim-1')?.();
  held[0].end();
  await new Promise((r) => held[0].once('close', r));
  held[1].close(http2.constants.NGHTTP2_CANCEL);
  await new Promise((r) => held[1].once('close', r));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(limiter.held('demo/client'), 0, 'released: one unit per stream, once');
  const after = await request(session, { ':path': '/after-limit' });
  t.equal(after.status, 200);
});

t.test('an h2 CONNECT from an app is answered 405 by the agent; the pod never sees it', async (t) => {
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  const before = podStreams;
  const status = await new Promise<number>((resolve, reject) => {
    const s = session.request({ ':method': 'CONNECT', ':authority': '10.96.0.1:80' });
    // Ours either way once answered (node:http2's server leaves a CONNECT's stream open).
    s.on('response', (h) => { resolve(Number(h[':status'])); s.close(); });
    s.on('error', reject);
  });
  t.equal(status, 405);
  t.equal(podStreams, before, 'nothing reached the pod');
  const ok = await request(session, { ':path': '/after-connect' });
  t.equal(ok.body.toString(), '/after-connect', 'the connection lives');
});

t.test('isConnect reads :method among the pseudo-headers only', async (t) => {
  const rows: [string[], boolean][] = [
    [[':method', 'CONNECT', ':authority', 'a:1'], true],
    [[':authority', 'a:1', ':method', 'CONNECT'], true],
    [[':method', 'GET', ':path', '/', ':scheme', 'http'], false],
    [[':method', 'connect', ':authority', 'a:1'], false],
    [[':path', '/', 'method', 'CONNECT'], false],
    [[], false],
  ];
  for (const [list, want] of rows) t.equal(isConnect(list), want, JSON.stringify(list));
});

t.test('h2c pod sessions are pooled: one session per pod address', async (t) => {
  let conns = 0;
  const onConn = (): void => { conns++; };
  pod.on('connection', onConn);
  t.teardown(() => { pod.off('connection', onConn); });
  const session = await connect(podCapture);
  t.teardown(() => session.close());
  await Promise.all(Array.from({ length: 20 }, (_, i) => request(session, { ':path': `/pool/${i}` })));
  const again = await connect(podCapture);
  t.teardown(() => again.close());
  await request(again, { ':path': '/pool/again' });
  t.equal(conns, 0, 'the pod saw no new connection: the session from the earlier tests carried them');
});

t.test('an h2c pod that refuses the connection: the attempt fails as never delivered (a retry may go elsewhere)', async (t) => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const failure = await new Promise<{ delivered: boolean; message: string }>((resolve, reject) => {
    const a = local.start(
      { method: 'POST', path: '/x', authority: 'pod', headers: [], proto: 'h2', target: { ip: '127.0.0.1', port: deadPort }, source: 'spiffe://cluster.local/ns/demo/sa/client', sourceAddress: '127.0.0.1', bodyless: false },
      {
        onContinue: () => undefined,
        onResponse: () => reject(new Error('a response from a closed port')),
        onEnd: () => reject(new Error('an end from a closed port')),
        onFailure: (delivered, err) => resolve({ delivered, message: err.message }),
      },
    );
    a.body.write(Buffer.from('body'));
    a.body.end();
  });
  t.equal(failure.delivered, false, `not delivered (${failure.message})`);
  // The failed session left the pool: a pod listening there now is reached.
  const again = http2.createServer((req, res) => { req.resume(); res.end('here'); });
  await new Promise<void>((r) => again.listen(deadPort, '127.0.0.1', r));
  t.teardown(() => { again.close(); });
  const status = await new Promise<number>((resolve, reject) => {
    const a = local.start(
      { method: 'GET', path: '/x', authority: 'pod', headers: [], proto: 'h2', target: { ip: '127.0.0.1', port: deadPort }, source: 'spiffe://cluster.local/ns/demo/sa/client', sourceAddress: '127.0.0.1', bodyless: true },
      {
        onContinue: () => undefined,
        onResponse: (st, _h, body) => { body.resume(); resolve(st); },
        onEnd: () => undefined,
        onFailure: (_d, err) => reject(err),
      },
    );
    void a;
  });
  t.equal(status, 200, 'a fresh session to the same address');
});

t.test('a rapid-reset burst from a raw socket ends in GOAWAY ENHANCE_YOUR_CALM, counted', { skip: engine === 'node' ? 'the codec\'s limit (node:http2 has its own)' : false }, async (t) => {
  const before = rejected.filter((r) => r === 'h2_protocol').length;
  const goawayCode = await rapidReset('127.0.0.1', noneCapture, 1500);
  t.equal(goawayCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  t.equal(rejected.filter((r) => r === 'h2_protocol').length, before + 1, 'counted as h2_protocol');
});

t.test('a CONTINUATION flood ends in GOAWAY ENHANCE_YOUR_CALM, counted', { skip: engine === 'node' ? 'the codec\'s limit (node:http2 has its own)' : false }, async (t) => {
  const before = rejected.filter((r) => r === 'h2_protocol').length;
  const code = await sendBurst('127.0.0.1', noneCapture, continuationFloodBurst(100));
  t.equal(code, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  t.equal(rejected.filter((r) => r === 'h2_protocol').length, before + 1, 'counted as h2_protocol');
});

t.test('the agent closing sends GOAWAY; a stream in flight still finishes', async (t) => {
  const session = await connect(podCapture);
  const goaway = new Promise<number>((r) => session.once('goaway', (code) => r(code)));
  const pending = request(session, { ':path': `/big/${4 << 20}` });
  await new Promise((r) => setTimeout(r, 50));
  outbound.close();
  t.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR, 'GOAWAY NO_ERROR');
  const a = await pending;
  t.equal(a.body.length, 4 << 20, 'the stream in flight completed');
  t.equal(sha(a.body), a.trailers?.['x-sha256']);
  session.close();
});
