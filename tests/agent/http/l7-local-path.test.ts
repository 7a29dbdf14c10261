// In-process: the outbound HTTP path with same-node endpoints on loopback (no TLS hop): detection,
// per-request balancing, retries, the retry header, timeouts, and HTTP features passing through.
import t from 'tap';
import net from 'node:net';
import http2 from 'node:http2';
import type { RouteRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { createLogger } from '../../../common/log.ts';
import { LocalUpstream } from '../../../agent/http/local-upstream.ts';
import { PeerSessions } from '../../../agent/http/peer-sessions.ts';
import { Router, type HttpView } from '../../../agent/http/router.ts';
import { createOutboundHttp } from '../../../agent/proxy/outbound-http.ts';
import { sniffProtocol } from '../../../agent/proxy/detect-socket.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';
import { ProxyStats } from '../../../agent/proxy/stats.ts';
import { appPath, runApp, startApp, type RunningApp } from '../../apps/spawn-app.ts';
import { connectionContext, noTelemetry, type HttpRequestEvent, type Telemetry } from '../../../agent/telemetry/telemetry.ts';
// The app-side HTTP/1 engine (WEFT_L7_H1_ENGINE, default weft): run with =node for node:http.
const H1_ENGINE = process.env.WEFT_L7_H1_ENGINE === 'node' ? 'node' : 'weft';

const apps: RunningApp[] = [];
t.teardown(async () => { await Promise.all(apps.map((a) => a.stop(1000))); });
async function server(name: string, extra: string[] = []): Promise<{ port: number; app: RunningApp }> {
  const app = await startApp(appPath('l7-server.ts'), ['--port', '0', '--h2-port', '0', '--host', '127.0.0.1', '--name', name, '--log', ...extra].filter((a) => a !== '--host' && a !== '127.0.0.1'));
  apps.push(app);
  return { port: app.ready.port as number, app };
}

const good = await server('good');
const flaky = await server('flaky', ['--fail-rate', '0.5']);
const h2only = apps[0].ready.h2Port as number;

// A gRPC-shaped h2c server: /Flaky answers UNAVAILABLE (trailers-only) to first attempts.
let grpcCalls = 0;
const grpcServer = http2.createServer();
grpcServer.on('stream', (stream, headers) => {
  grpcCalls++;
  stream.on('error', () => undefined);
  if (headers[':path'] === '/test.Svc/Flaky' && headers['weft-retry-attempt'] === undefined) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'try again' }, { endStream: true });
    return;
  }
  if (headers[':path'] === '/test.Svc/Slow') return; // never answers
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
});
await new Promise<void>((r) => grpcServer.listen(0, '127.0.0.1', r));
t.teardown(() => { grpcServer.close(); });
const grpcPort = (grpcServer.address() as net.AddressInfo).port;

function workload(name: string, ip = '127.0.0.1'): WorkloadRecord {
  return { kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node: 'n1', ip, serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: 'web' }, meshed: true, ready: true };
}
const svc = (name: string, ip: string, appProtocol?: string): ServiceRecord => ({
  kind: 'service', key: `demo/${name}`, name, namespace: 'demo', clusterIP: ip,
  ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', ...(appProtocol === undefined ? {} : { appProtocol }) }], selector: { app: 'web' }, defaults: { retryLimit: 3 },
});
const web = svc('web', '10.96.0.1');
const h2svc = svc('h2', '10.96.0.2');
const eps: Record<string, { workload: WorkloadRecord; port: number }[]> = {
  'demo/web': [{ workload: workload('good'), port: good.port }, { workload: workload('flaky'), port: flaky.port }],
  'demo/good': [{ workload: workload('good'), port: good.port }],
  'demo/flaky': [{ workload: workload('flaky'), port: flaky.port }],
  'demo/h2': [{ workload: workload('good'), port: h2only }],
  'demo/grpc': [{ workload: workload('grpc'), port: grpcPort }],
};
let routes: RouteRecord[] = [];
const view: HttpView = {
  workloadByIp: () => undefined,
  serviceByAddress: () => undefined,
  endpoints: (key) => eps[key] ?? [],
  nodeAddress: () => '127.0.0.1',
  routesFor: (key) => (key === 'demo/web' || key === 'demo/grpc' ? routes : []),
  serviceByKey: (key) => (key === 'demo/web' ? web : undefined),
};
const stats = new ProxyStats();
const sockets = createSocketFactory();
// Both HTTP/2 engines (the h2c client to pods, the server for apps' prior knowledge): the codec by
// default, node:http2 with WEFT_L7_H2_ENGINE=node.
const engine = process.env.WEFT_L7_H2_ENGINE === 'node' ? 'node' : 'weft';
const local = new LocalUpstream({ sockets, connectTimeoutMs: 2000, engine });
const peers = new PeerSessions({ trustDomain: 'cluster.local', certificates: { get: () => Promise.reject(new Error('no certs in this test')) }, dialTcp: (h, p) => net.connect(p, h) });
const defaults = { timeoutMs: 0, idleTimeoutMs: 0, retryLimit: 2, retryBackoffMs: 5 };
const events: HttpRequestEvent[] = [];
const telemetry: Telemetry = { ...noTelemetry, request: (e) => { events.push(e); } };
const router = new Router({ view, localNode: 'n1', balancer: 'p2c-peak-ewma', counters: stats.l7, defaults, telemetry });
const ctx = connectionContext({ direction: 'outbound', path: 'outbound_local', tls: 'none', sourceAddress: '127.0.0.1:1', destinationAddress: '10.96.0.1:80' });
const http = createOutboundHttp({
  router, local, peers, sockets, h2Engine: engine, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 300, opaquePorts: new Set(), stats, telemetry,
  tunnels: { openTunnel: () => Promise.reject(new Error('no tunnels here')) }, log: createLogger('test'), h1Engine: H1_ENGINE,
});
t.teardown(() => { http.close(); local.close(); void peers.close(); });

const servers: net.Server[] = [];
/** A capture listener standing in for 15001: every connection is "to" the service `which`. */
async function capture(which: ServiceRecord): Promise<number> {
  const srv = net.createServer((c) => {
    sniffProtocol(c, 300, (s) => {
      if (s.protocol === 'tcp') {
        c.end('opaque');
        return;
      }
      http.handle(c, s, { source: workload('client'), from: { identity: workload('client').identity, address: c.remoteAddress ?? '' }, destination: { kind: 'service', service: which, port: 80 }, proto: s.protocol, original: `${which.clusterIP}:80`, ctx });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  servers.push(srv);
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}
const webPort = await capture(web);
const h2Port = await capture(h2svc);
const grpcSvc = svc('grpc', '10.96.0.3');
const grpcCapture = await capture(grpcSvc);
const client = (args: string[]) => runApp(appPath('l7-client.ts'), args, 30_000).then((r) => r.stdout[0] as Record<string, unknown>);

t.test('GETs are retried past a flaky endpoint, with the attempt header', async (t) => {
  const r = await client(['load', '--urls', `http://127.0.0.1:${webPort}/`, '--requests', '200', '--concurrency', '4']);
  // Half the flaky endpoint's answers are 503; with retries nearly all requests succeed (a run
  // of unlucky replays may still fail one, so not "all").
  const ok = (r.statuses as Record<string, number>)['200'] ?? 0;
  t.ok(ok >= 190, `${ok} of 200 succeeded (${JSON.stringify(r.statuses)})`);
  t.ok(stats.l7.retries > 0, `retried (${stats.l7.retries})`);
  t.ok(flaky.app.lines.some((l) => (l.attempt as number) > 0), 'the server saw weft-retry-attempt on replays');
  t.ok(events.length > 200, `one telemetry event per attempt (${events.length})`);
  t.ok(events.some((e) => e.retryAttempt > 0 && e.status === 200), 'retries are reported with their attempt number');
  t.ok(events.some((e) => e.status === 503 && e.retryAttempt === 0), 'and failed first attempts too');
});

t.test('a POST the server answered is never replayed', async (t) => {
  // Only the flaky endpoint, so there are 503s a careless proxy would replay.
  routes = [{ kind: 'route', key: 'demo/flaky', name: 'flaky', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [{ matches: [], backends: [{ service: 'demo/flaky', port: 80, weight: 1 }] }] }];
  t.teardown(() => { routes = []; });
  const before = flaky.app.lines.filter((l) => l.method === 'POST').length + good.app.lines.filter((l) => l.method === 'POST').length;
  const r = await client(['load', '--urls', `http://127.0.0.1:${webPort}/`, '--requests', '100', '--concurrency', '4', '--method', 'POST', '--body-bytes', '100']);
  await new Promise((res) => setTimeout(res, 200));
  const after = flaky.app.lines.filter((l) => l.method === 'POST').length + good.app.lines.filter((l) => l.method === 'POST').length;
  t.equal(after - before, 100, 'the servers saw exactly one attempt per POST');
  t.ok(((r.statuses as Record<string, number>)['503'] ?? 0) > 0, 'and the client saw the 503s');
});

t.test("a route's retry codes decide what is retried, 500 included, and nothing else", async (t) => {
  // The oracle is the server's own count of attempts per path: a route that lists 500 must see
  // 1 + attempts tries of a 500; a 503 it does not list, one.
  routes = [{ kind: 'route', key: 'demo/codes', name: 'codes', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [{ matches: [], backends: [{ service: 'demo/good', port: 80, weight: 1 }], retry: { attempts: 2, codes: [500], backoffMs: 1 } }] }];
  t.teardown(() => { routes = []; });
  const tries = (path: string): number => good.app.lines.filter((l) => l.path === path).length;
  const r500 = await client(['timing', '--url', `http://127.0.0.1:${webPort}/status/500`]);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(r500.status, 500, 'the last answer reaches the client');
  t.equal(tries('/status/500'), 3, 'a listed 500 is retried twice');
  t.same(good.app.lines.filter((l) => l.path === '/status/500').map((l) => l.attempt), [0, 1, 2], 'with the attempt header');
  const r503 = await client(['timing', '--url', `http://127.0.0.1:${webPort}/status/503`]);
  await new Promise((res) => setTimeout(res, 100));
  t.equal(r503.status, 503);
  t.equal(tries('/status/503'), 1, 'a 503 the route does not list is not retried');
});

t.test('HTTP/1.1 features pass through', async (t) => {
  const url = `http://127.0.0.1:${webPort}/`;
  routes = [{ kind: 'route', key: 'demo/only-good', name: 'only-good', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [{ matches: [], backends: [{ service: 'demo/good', port: 80, weight: 1 }] }] }];
  for (const check of ['keepalive', 'upload', 'download', 'continue', 'trailers', 'ws']) {
    const r = await client([check, '--url', url]);
    t.ok(r.ok, `${check}: ${JSON.stringify(r)}`);
  }
});

t.test('a route timeout answers 504 with weft-timeout', async (t) => {
  routes = [{ kind: 'route', key: 'demo/slow', name: 'slow', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [{ matches: [], backends: [{ service: 'demo/good', port: 80, weight: 1 }], timeoutMs: 300 }] }];
  const r = await client(['timing', '--url', `http://127.0.0.1:${webPort}/delay/5000`]);
  t.equal(r.status, 504);
  t.equal(r.weftTimeout, 'request');
  t.ok((r.elapsedMs as number) < 4000, 'answered long before the server would have');
  routes = [];
});

t.test('HTTP/2 prior knowledge passes through', async (t) => {
  const r = await client(['h2', '--url', `http://127.0.0.1:${h2Port}`]);
  t.ok(r.ok, JSON.stringify(r));
});


function grpcCall(path: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${grpcCapture}`);
    session.on('error', reject);
    const s = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    s.on('response', (h) => { headers = h; });
    s.on('trailers', (tr) => { trailers = tr; });
    s.resume();
    s.on('end', () => { session.close(); resolve({ status: Number(headers[':status']), headers, trailers }); });
    s.on('error', reject);
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

t.test('gRPC: UNAVAILABLE is retried (even for POST), trailers pass through', async (t) => {
  const before = grpcCalls;
  const r = await grpcCall('/test.Svc/Flaky');
  t.equal(r.status, 200);
  t.equal(r.trailers['grpc-status'], '0', 'the retry succeeded and its trailers arrived');
  t.equal(grpcCalls - before, 2, 'one replay');
});

t.test('gRPC: a mesh timeout is DEADLINE_EXCEEDED with weft-timeout', async (t) => {
  routes = [{ kind: 'route', key: 'demo/g', name: 'g', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/grpc' }], rules: [{ matches: [], backends: [], timeoutMs: 300 }] }];
  t.teardown(() => { routes = []; });
  const r = await grpcCall('/test.Svc/Slow');
  t.equal(r.status, 200);
  t.equal(r.headers['grpc-status'], '4', 'trailers-only DEADLINE_EXCEEDED');
  t.equal(r.headers['weft-timeout'], 'request');
});

t.test('the idle timeout answers 504 weft-timeout: idle', async (t) => {
  defaults.idleTimeoutMs = 300;
  t.teardown(() => { defaults.idleTimeoutMs = 0; });
  const r = await client(['timing', '--url', `http://127.0.0.1:${webPort}/delay/3000`]);
  t.equal(r.status, 504);
  t.equal(r.weftTimeout, 'idle');
});

t.test('a request in flight to an endpoint that is removed still finishes', async (t) => {
  routes = [{ kind: 'route', key: 'demo/og', name: 'og', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [{ matches: [], backends: [{ service: 'demo/good', port: 80, weight: 1 }] }] }];
  const saved = eps['demo/good'];
  t.teardown(() => { routes = []; Object.defineProperty(eps, 'demo/good', { configurable: true, enumerable: true, writable: true, value: saved }); });
  // Remove the endpoint only once the proxy has read it for this request: a fixed sleep raced
  // the client process's start-up on a loaded machine.
  let picked!: () => void;
  const read = new Promise<void>((r) => { picked = r; });
  Object.defineProperty(eps, 'demo/good', { configurable: true, enumerable: true, get: () => { picked(); return saved; } });
  const pending = client(['timing', '--url', `http://127.0.0.1:${webPort}/delay/800`]);
  await read;
  await new Promise((r) => setTimeout(r, 100));
  Object.defineProperty(eps, 'demo/good', { configurable: true, enumerable: true, writable: true, value: [] });
  const r = await pending;
  t.equal(r.status, 200, 'the in-flight request completed');
  const after = await client(['timing', '--url', `http://127.0.0.1:${webPort}/`]);
  t.equal(after.status, 503, 'new requests see no endpoints');
});

t.test('detection: silence falls back to TCP after the timeout and is counted; server-first ports skip it', async (t) => {
  const source = workload('client');
  const destination = workload('good');
  const results: { port: number; sniffed: boolean; timedOut: boolean }[] = [];
  const srv = net.createServer((c) => {
    const port = c.localPort === hookPort ? 8080 : 3306;
    const decision = { kind: 'local' as const, target: { ip: '127.0.0.1', port }, source, destination };
    http.hook(c, { ip: '127.0.0.1', port }, decision, ctx, (s) => {
      results.push({ port, sniffed: s !== undefined, timedOut: s?.timedOut ?? false });
      c.end('tcp');
    });
  });
  const srv2 = net.createServer((c) => srv.emit('connection', c));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => srv2.listen(0, '127.0.0.1', r));
  t.teardown(() => { srv.close(); srv2.close(); });
  const hookPort = (srv.address() as net.AddressInfo).port;
  const before = stats.l7.detectTimeouts;
  for (const port of [hookPort, (srv2.address() as net.AddressInfo).port]) {
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('data', () => undefined);
      c.on('close', () => resolve());
    });
  }
  t.same(results, [{ port: 8080, sniffed: true, timedOut: true }, { port: 3306, sniffed: false, timedOut: false }]);
  t.equal(stats.l7.detectTimeouts - before, 1, 'the timeout is counted');
});
