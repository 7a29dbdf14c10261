// The destination side of the L7 hop on both HTTP/2 engines (WEFT_L7_H2_ENGINE): a peer agent's
// request arriving on the HBONE listener, decided by inbound-http-admit.ts and carried to a pod on
// this node by the node:http2 mover (inbound-http.ts) or by the codec mover, one plain object per
// request (inbound-http-codec.ts). The same assertions run on both engines.
//
// Real parts: mTLS 1.3 with mesh certificates, SNI and ALPN h2 over loopback; node:http2 as the peer
// agent's client (independent of the codec); the agent's LocalUpstream with real sockets to real
// pods (a node:http server and a node:http2 h2c server on 127.0.0.2). Fakes: the routing view (a
// table of workloads), the policy (an authorizer denying one path, standing in for the policy
// engine that tests/agent/policy covers) and the telemetry sink (records events), because what is
// asserted is what the movers hand them.
import t, { type Test } from 'tap';
import http from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { createInboundHttp, type PeerHttpRequest } from '../../../../agent/proxy/inbound-http.ts';
import { LocalUpstream } from '../../../../agent/http/local-upstream.ts';
import { createSocketFactory } from '../../../../agent/proxy/socket-factory.ts';
import { ProxyStats } from '../../../../agent/proxy/stats.ts';
import type { RoutingView } from '../../../../agent/proxy/routing-view.ts';
import type { InboundAuthorizer } from '../../../../agent/policy/authorizer.ts';
import type { PolicyDecision } from '../../../../agent/policy/evaluate.ts';
import { noTelemetry, type HttpRequestEvent, type Telemetry } from '../../../../agent/telemetry/telemetry.ts';
import { createSpanRecorder } from '../../../../agent/telemetry/tracing.ts';
import { buildSecureContext, type WorkloadCertificate } from '../../../../agent/identity/tls-contexts.ts';
import { makeTestLeaf } from '../../../common/test-pki.ts';
import { sniForIdentity, type H2Engine } from '../../../../agent/proxy/hbone/index.ts';
import type { WorkloadRecord } from '../../../../control/api/model.ts';
import { ErrorCodes } from '../../../../common/errors.ts';
import { createLogger } from '../../../../common/log.ts';
import { CLIENT_ID, SERVER_ID, TARGET_HOST, hashTarget, makeMesh, settled, startHbone, closeServer, waitFor } from './fixture.ts';
import { writeAll } from '../../../common/write-all.ts';

const quiet = createLogger('test', { write() {} });
const ENGINES: H2Engine[] = ['node', 'weft'];
const MiB = 1 << 20;

// ---- the pods on 127.0.0.2 ----

interface PodState {
  /** /hold: request streams kept unread until released. */
  held: http.IncomingMessage[];
  /** Octets the pod read of /hold and /reset requests. */
  read: number;
  /** Octets the pod's /big writes handed to its socket so far. */
  sent: number;
  /** Requests whose connection went before the body completed (the agent aborted the attempt). */
  aborted: string[];
  /** Every path the pod saw. */
  paths: string[];
}
const pod: PodState = { held: [], read: 0, sent: 0, aborted: [], paths: [] };

/** Byte i of a /big answer: a pattern a reordered or dropped chunk would break. */
function pattern(from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

function answerHash(req: http.IncomingMessage, res: http.ServerResponse): void {
  const h = createHash('sha256');
  let n = 0;
  req.on('data', (c: Buffer) => { h.update(c); n += c.length; pod.read += c.length; });
  req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
}

function onPodRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '';
  pod.paths.push(url);
  // The connection went before the pod answered: the agent let go of the request.
  res.once('close', () => { if (!res.writableFinished) pod.aborted.push(url); });
  if (url.startsWith('/echo')) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.writeHead(200, { 'x-path': url, 'x-source': String(req.headers['x-test'] ?? '') }).end(Buffer.concat(chunks)));
  } else if (url.startsWith('/hold')) {
    req.pause();
    pod.held.push(req);
    answerHash(req, res);
  } else if (url.startsWith('/reset')) {
    req.on('data', (c: Buffer) => { pod.read += c.length; });
  } else if (url.startsWith('/big/')) {
    const n = Number(url.slice(5).split('?')[0]);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    writeAll(res, n, pattern, (sent) => { pod.sent = sent; });
    req.resume();
  } else if (url.startsWith('/req-trailers')) {
    // What the pod read: its request's framing and trailer section (node:http's req.trailers).
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ te: req.headers['transfer-encoding'] ?? null, length: req.headers['content-length'] ?? null, trailers: req.trailers })));
  } else if (url.startsWith('/trailers')) {
    res.writeHead(200, { trailer: 'grpc-status, x-sum', 'content-type': 'text/plain' });
    res.write('with trailers');
    // Two fields a trailer must not carry (RFC 9110 §6.5.1: session state; the mesh's own label).
    res.addTrailers({ 'grpc-status': '7', 'x-sum': '42', 'weft-error': 'WEFT_ERR_FORGED', 'set-cookie': 'sid=1' });
    res.end();
    req.resume();
  } else {
    res.writeHead(404).end();
  }
}

const podServer = http.createServer(onPodRequest);
// 100-continue: the pod answers it only once asked (node:http's checkContinue), then reads the body.
podServer.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeContinue();
  onPodRequest(req, res);
});
await new Promise<void>((r) => podServer.listen(0, TARGET_HOST, r));
const podPort = (podServer.address() as net.AddressInfo).port;
const podSockets = new Set<net.Socket>();
podServer.on('connection', (s) => { podSockets.add(s); s.once('close', () => podSockets.delete(s)); });

// A gRPC-shaped h2c pod: an answer whose status comes in trailers.
const grpcPod = http2.createServer();
grpcPod.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  pod.paths.push(headers[':path'] as string);
  if ((headers[':path'] as string).startsWith('/req-trailers')) {
    // The request's trailing HEADERS as node:http2 reads them ('trailers' before 'end').
    let trailers: IncomingHttpHeaders = {};
    stream.on('trailers', (tr: IncomingHttpHeaders) => { trailers = tr; });
    stream.resume();
    stream.once('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ trailers }));
    });
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
  stream.resume();
  stream.once('end', () => stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1])));
});
await new Promise<void>((r) => grpcPod.listen(0, TARGET_HOST, r));
const grpcPort = (grpcPod.address() as net.AddressInfo).port;

// A port nobody listens on: the pod is down, the request was never delivered.
const hole = net.createServer();
await new Promise<void>((r) => hole.listen(0, TARGET_HOST, r));
const downPort = (hole.address() as net.AddressInfo).port;
await new Promise<void>((r) => hole.close(() => r()));

const tunnelTarget = await hashTarget();

t.teardown(async () => {
  for (const s of podSockets) s.destroy();
  await new Promise<void>((r) => podServer.close(() => r()));
  await new Promise<void>((r) => grpcPod.close(() => r()));
  await closeServer(tunnelTarget.server, tunnelTarget.sockets);
});

// ---- the agent's pieces ----

function workload(name: string, ip: string, identity: string, node = 'n1'): WorkloadRecord {
  return { kind: 'workload', key: `shop/${name}`, uid: name, name, namespace: 'shop', node, ip, serviceAccount: name, identity, labels: { app: name }, meshed: true, ready: true };
}
const WORKLOADS = new Map<string, WorkloadRecord>([
  [TARGET_HOST, workload('cart', TARGET_HOST, SERVER_ID)],
  ['127.0.0.3', workload('other', '127.0.0.3', 'spiffe://cluster.local/ns/shop/sa/other')],
  ['10.9.9.9', workload('remote', '10.9.9.9', SERVER_ID, 'n2')],
]);
const view: RoutingView = {
  workloadByIp: (ip) => WORKLOADS.get(ip),
  serviceByAddress: () => undefined,
  endpoints: () => [],
  nodeAddress: () => undefined,
};
const DENY: PolicyDecision = { allowed: false, policy: 'shop/deny-admin', reason: 'test', audits: [] };
const ALLOW: PolicyDecision = { allowed: true, policy: 'weft:default', reason: 'test', audits: [] };
const policy: InboundAuthorizer = {
  admit: () => { throw new Error('not used by plain requests'); },
  authorizeRequest: (ctx, req) => (req.path.startsWith('/admin') && ctx.sourceIdentity === CLIENT_ID ? DENY : ALLOW),
};

const events: HttpRequestEvent[] = [];
const rejected: string[] = [];
const exporter = new InMemorySpanExporter();
const spans = createSpanRecorder({ env: () => undefined, log: quiet, exporter });
const telemetry: Telemetry = { ...noTelemetry, tracing: true, spans, request: (e) => { events.push(e); }, inputRejected: (r) => { rejected.push(r); } };
const stats = new ProxyStats();
const local = new LocalUpstream({ sockets: createSocketFactory(), connectTimeoutMs: 2000, counters: stats.l7 });
t.teardown(async () => {
  local.close();
  await spans.shutdown();
});

const mesh = await makeMesh();

function connectPeer(port: number, cert: WorkloadCertificate = mesh.clientCerts.certs.get(CLIENT_ID)!): Promise<ClientHttp2Session> {
  const ctx = buildSecureContext(cert, [mesh.ca.certPem]);
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: sniForIdentity(SERVER_ID), secureContext: ctx, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }),
  });
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  continued: boolean;
  rstCode: number | undefined;
}

/** A request as the source agent sends it: the hop headers, then the body (if any) in one go. */
function peerHeaders(path: string, extra: Record<string, string> = {}, target = `${TARGET_HOST}:${podPort}`): Record<string, string> {
  return { ':method': 'POST', ':scheme': 'http', ':authority': 'cart.shop:8080', ':path': path, 'weft-target': target, 'x-test': 'hop', ...extra };
}

function collect(req: ClientHttp2Stream): Promise<Answer> {
  return new Promise((resolve) => {
    const a: Answer = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: undefined, continued: false, rstCode: undefined };
    const chunks: Buffer[] = [];
    req.on('continue', () => { a.continued = true; });
    req.on('response', (h) => { a.status = Number(h[':status']); a.headers = h; });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (tr) => { a.trailers = tr; });
    req.on('error', () => {});
    req.on('close', () => {
      a.body = Buffer.concat(chunks);
      a.rstCode = req.rstCode;
      resolve(a);
    });
  });
}

function send(session: ClientHttp2Session, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const req = session.request(headers, { endStream: body === undefined });
  const done = collect(req);
  if (body !== undefined) req.end(body);
  return done;
}

/** The inbound events and server spans for a path (a query makes each request's path unique). */
const eventsFor = (path: string): HttpRequestEvent[] => events.filter((e) => e.path === path);
/** The server spans ended for a path (without its query). */
const spansFor = (path: string) => exporter.getFinishedSpans().filter((s) => s.attributes['url.path'] === path);

/** Exactly one inbound event and one ended server span for `path`, and no second one after a pause. */
async function reportedOnce(t: Test, path: string): Promise<HttpRequestEvent | undefined> {
  await waitFor(() => eventsFor(path).length > 0, `the event of ${path}`, 10_000).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(eventsFor(path).length, 1, `one inbound event for ${path}`);
  return eventsFor(path)[0];
}

for (const engine of ENGINES) {
  t.test(`server engine ${engine}`, async (t) => {
    const inbound = createInboundHttp({ view, localNode: 'n1', local, stats, log: quiet, policy, telemetry });
    let duplexRequests = 0;
    const onHttp = (req: PeerHttpRequest): void => {
      duplexRequests++;
      inbound.onHttp(req);
    };
    const { hbone, port } = await startHbone(mesh, undefined, 0, { engine, onHttp, onCodecHttp: inbound.onCodecHttp, closeGraceMs: 2000 });
    const session = await connectPeer(port);
    t.teardown(async () => {
      session.destroy();
      await hbone.close();
    });

    t.test('a request and its answer; the path normalised once more; reported once', async (t) => {
      const path = `/echo/${engine}/a//b/./c/../d?q=1`;
      const a = await send(session, peerHeaders(path), Buffer.from('hello pod'));
      t.equal(a.status, 200);
      t.equal(a.body.toString(), 'hello pod');
      t.equal(a.headers['x-path'], `/echo/${engine}/a/b/d?q=1`, 'the pod got the normalised path');
      t.equal(a.headers['x-source'], 'hop', 'end-to-end headers reach the pod');
      const e = await reportedOnce(t, `/echo/${engine}/a/b/d?q=1`);
      t.equal(e?.status, 200);
      t.equal(e?.requestBytes, 9);
      t.equal(e?.responseBytes, 9);
      t.equal(e?.connection.labels.source_identity, CLIENT_ID, 'labelled with the peer');
      const sp = spansFor(`/echo/${engine}/a/b/d`);
      t.equal(sp.length, 1, 'one server span');
      t.equal(sp[0]?.attributes['http.response.status_code'], 200);
      const b = await send(session, peerHeaders(`/echo/empty?engine=${engine}`));
      t.equal(b.status, 200, 'a bodyless request (END_STREAM on its HEADERS)');
      t.equal(b.body.length, 0);
    });

    t.test('100-continue is relayed before the body', async (t) => {
      const req = session.request(peerHeaders(`/echo/continue?engine=${engine}`, { expect: '100-continue' }));
      const done = collect(req);
      await new Promise<void>((resolve) => req.once('continue', () => resolve()));
      req.end('after the continue');
      const a = await done;
      t.ok(a.continued, 'the peer saw 100 Continue');
      t.equal(a.status, 200);
      t.equal(a.body.toString(), 'after the continue');
    });

    t.test('trailers: an HTTP/1.1 pod\'s announced trailers and an h2c gRPC pod\'s status', async (t) => {
      const dropped0 = stats.l7.responseTrailerFieldsDropped;
      const a = await send(session, peerHeaders(`/trailers?engine=${engine}`));
      t.equal(a.status, 200);
      t.equal(a.body.toString(), 'with trailers');
      t.equal(a.trailers?.['grpc-status'], '7');
      t.equal(a.trailers?.['x-sum'], '42');
      t.equal(a.trailers?.['weft-error'], undefined, 'a pod cannot label the hop from its trailers');
      t.equal(a.trailers?.['set-cookie'], undefined, 'nor set a cookie after the content');
      t.equal(stats.l7.responseTrailerFieldsDropped - dropped0, 2, 'both dropped and counted at the destination');
      const e = await reportedOnce(t, `/trailers?engine=${engine}`);
      t.equal(e?.grpcStatus, 7, 'the gRPC status reaches telemetry');
      const g = await send(session, peerHeaders(`/pkg.Svc/Call?engine=${engine}`, { 'weft-proto': 'h2', 'content-type': 'application/grpc', te: 'trailers' }, `${TARGET_HOST}:${grpcPort}`), Buffer.from([0, 0, 0, 0, 0]));
      t.equal(g.status, 200);
      t.equal(g.headers['content-type'], 'application/grpc');
      t.same([...g.body], [0, 0, 0, 0, 2, 8, 1]);
      t.equal(g.trailers?.['grpc-status'], '0');
      t.equal(g.trailers?.['grpc-message'], 'fine');
      const ge = await reportedOnce(t, `/pkg.Svc/Call?engine=${engine}`);
      t.equal(ge?.grpcStatus, 0);
    });

    t.test('request trailers reach the pod: a chunked trailer section (HTTP/1.1 pod), trailing HEADERS (h2c pod)', async (t) => {
      /** A peer request whose body ends with trailing HEADERS (node:http2: waitForTrailers, sendTrailers). */
      const withTrailers = (headers: Record<string, string>, body: string, trailers: Record<string, string>): Promise<Answer> => {
        const req = session.request(headers, { waitForTrailers: true });
        const done = collect(req);
        req.once('wantTrailers', () => req.sendTrailers(trailers));
        req.end(body);
        return done;
      };
      const fields0 = stats.l7.requestTrailerFieldsDropped;
      const h1 = await withTrailers(peerHeaders(`/req-trailers/h1?engine=${engine}`), 'abc', { 'x-checksum': 'c1', authorization: 'Bearer no', 'weft-target': '10.0.0.1:1' });
      t.equal(h1.status, 200);
      t.same(JSON.parse(h1.body.toString()), { te: 'chunked', length: null, trailers: { 'x-checksum': 'c1' } }, 'the HTTP/1.1 pod reads the allowed trailer');
      t.equal(stats.l7.requestTrailerFieldsDropped - fields0, 2, 'authorization and weft-target dropped and counted at the destination');
      const h2 = await withTrailers(peerHeaders(`/req-trailers/h2?engine=${engine}`, { 'weft-proto': 'h2' }, `${TARGET_HOST}:${grpcPort}`), 'xyz', { 'x-checksum': 'c2', 'grpc-previous-rpc-attempts': '1' });
      t.equal(h2.status, 200);
      t.same(JSON.parse(h2.body.toString()), { trailers: { 'x-checksum': 'c2', 'grpc-previous-rpc-attempts': '1' } }, 'the h2c pod reads trailing HEADERS');
      // A body framed by Content-Length has no trailer section: dropped, counted, the body whole.
      const sections0 = stats.l7.requestTrailersDropped;
      const sized = await withTrailers(peerHeaders(`/req-trailers/sized?engine=${engine}`, { 'content-length': '3' }), 'abc', { 'x-checksum': 'c3' });
      t.equal(sized.status, 200);
      t.same(JSON.parse(sized.body.toString()), { te: null, length: '3', trailers: {} });
      t.equal(stats.l7.requestTrailersDropped - sections0, 1, 'the dropped section is counted');
    });

    t.test('a large request body into a pod that does not read: the peer stalls, then every byte arrives', async (t) => {
      pod.held.length = 0;
      const total = 32 * MiB;
      const req = session.request(peerHeaders(`/hold?engine=${engine}`));
      const done = collect(req);
      const h = createHash('sha256');
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const c = pattern(sent, Math.min(256 * 1024, total - sent));
          h.update(c);
          sent += c.length;
          if (!req.write(c)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
      await waitFor(() => pod.held.length === 1, 'the pod to hold the request', 10_000);
      await settled(() => sent);
      t.ok(sent < total / 2, `the peer stalled (${(sent / MiB).toFixed(1)} of ${total / MiB} MiB sent)`);
      pod.held[0].resume();
      const a = await done;
      t.equal(a.status, 200);
      t.equal(a.body.toString(), `${total} ${h.digest('hex')}`, 'all of it, byte for byte');
      const e = await reportedOnce(t, `/hold?engine=${engine}`);
      t.equal(e?.requestBytes, total);
    });

    t.test('a large response to a peer that does not read: the pod stalls, then every byte arrives', async (t) => {
      const total = 32 * MiB;
      pod.sent = 0;
      const req = session.request(peerHeaders(`/big/${total}?engine=${engine}`), { endStream: true });
      req.on('error', () => {});
      req.pause();
      const got = await new Promise<IncomingHttpHeaders>((r) => req.once('response', r));
      t.equal(got[':status'], 200);
      await settled(() => pod.sent);
      t.ok(pod.sent < total / 2, `the pod stalled (${(pod.sent / MiB).toFixed(1)} of ${total / MiB} MiB written)`);
      let n = 0;
      let bad = -1;
      req.on('data', (c: Buffer) => {
        for (let i = 0; i < c.length && bad < 0; i += 4093) if (c[i] !== (n + i) % 251) bad = n + i;
        n += c.length;
      });
      req.resume();
      await new Promise<void>((r) => req.once('close', () => r()));
      t.equal(n, total, 'every byte');
      t.equal(bad, -1, 'in order');
      const e = await reportedOnce(t, `/big/${total}?engine=${engine}`);
      t.equal(e?.responseBytes, total);
    });

    t.test('a peer reset mid-body aborts the pod\'s request; reported once, as a reset', async (t) => {
      pod.read = 0;
      const path = `/reset/${engine}`;
      const req = session.request(peerHeaders(path));
      const done = collect(req);
      req.write(Buffer.alloc(256 * 1024, 1));
      await waitFor(() => pod.read >= 256 * 1024, 'the pod to read the first part', 10_000);
      req.close(http2.constants.NGHTTP2_CANCEL);
      await done;
      await waitFor(() => pod.aborted.includes(path), 'the pod to see its request cut', 10_000);
      t.pass('the pod\'s request was aborted');
      await reportedOnce(t, path);
      const sp = spansFor(path);
      t.equal(sp.length, 1, 'one span');
      t.equal(sp[0]?.attributes['error.type'], 'stream_reset');
    });

    t.test('a policy denial: 403 with the code and the policy; the pod never sees it', async (t) => {
      const before = stats.rejected;
      const a = await send(session, peerHeaders(`/admin/x?engine=${engine}`), Buffer.from('body nobody reads'));
      t.equal(a.status, 403);
      t.equal(a.headers['weft-error'], ErrorCodes.POLICY_DENIED);
      t.equal(a.headers['weft-denied-by'], 'shop/deny-admin');
      t.notOk(pod.paths.some((p) => p.startsWith('/admin')), 'not delivered');
      t.equal(stats.rejected, before + 1, 'counted');
    });

    t.test('refusals carry weft-error: bad target, bad path, not here, wrong identity, pod down', async (t) => {
      const cases: [string, Record<string, string>, number, string, string?][] = [
        ['no target', { 'weft-target': '' }, 400, ErrorCodes.HTTP_TARGET, 'hbone_http_target'],
        ['a bad path', { ':path': '/a/..;x/b' }, 400, ErrorCodes.HTTP_PATH, 'hbone_http_path_dot_segment_params'],
        ['an unknown workload', { 'weft-target': '127.0.0.9:80' }, 404, ErrorCodes.TUNNEL_REFUSED, 'hbone_target_refused'],
        ['a workload on another node', { 'weft-target': '10.9.9.9:80' }, 421, ErrorCodes.TUNNEL_REFUSED, 'hbone_target_refused'],
        ['another identity than the SNI asked for', { 'weft-target': '127.0.0.3:80' }, 421, ErrorCodes.PEER_IDENTITY, 'hbone_identity_mismatch'],
        ['a pod that is down (never delivered)', { 'weft-target': `${TARGET_HOST}:${downPort}` }, 503, ErrorCodes.UPSTREAM_CONNECT],
      ];
      for (const [what, over, status, code, reason] of cases) {
        rejected.length = 0;
        const a = await send(session, { ...peerHeaders(`/echo/refused?engine=${engine}`), ...over }, Buffer.from('x'));
        t.equal(a.status, status, what);
        t.equal(a.headers['weft-error'], code, what);
        if (reason !== undefined) t.same(rejected, [reason], `${what}: counted`);
      }
    });

    t.test('a CONNECT tunnel on the same session still works', async (t) => {
      const req = session.request({ ':method': 'CONNECT', ':authority': `${TARGET_HOST}:${tunnelTarget.port}` }, { endStream: false });
      const done = collect(req);
      const payload = pattern(0, 3 * MiB);
      req.end(payload);
      const a = await done;
      t.equal(a.status, 200);
      t.equal(a.body.toString(), `${payload.length} ${createHash('sha256').update(payload).digest('hex')}`);
    });

    t.test('a peer whose certificate names two identities: 403 PEER_IDENTITY, never delivered, the session closed', async (t) => {
      const leaf = await makeTestLeaf(mesh.ca, { uris: [CLIENT_ID, 'spiffe://cluster.local/ns/shop/sa/second'] });
      const odd = await connectPeer(port, {
        identity: CLIENT_ID, keyPem: leaf.keyPem, certChainPem: [leaf.certPem], trustAnchorsPem: [mesh.ca.certPem],
        notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 3600_000),
      });
      t.teardown(() => { odd.destroy(); });
      const before = duplexRequests;
      const closed = new Promise<void>((r) => odd.once('close', () => r()));
      const a = await send(odd, peerHeaders(`/echo/odd-peer?engine=${engine}`), Buffer.from('x'));
      t.equal(a.status, 403);
      t.equal(a.headers['weft-error'], ErrorCodes.PEER_IDENTITY);
      t.notOk(pod.paths.some((p) => p.startsWith('/echo/odd-peer')), 'not delivered');
      t.equal(duplexRequests, before, 'the L7 handler never saw it');
      await closed;
      t.pass('the listener closed the session');
    });

    t.test('which mover carried the L7 requests', async (t) => {
      if (engine === 'weft') t.equal(duplexRequests, 0, 'the codec: no Duplex stream for any L7 request');
      else t.ok(duplexRequests > 10, 'node:http2: its streams');
    });
  });
}
