// In-process: the outbound L7 path's tracing hooks, with same-node endpoints on loopback and an
// in-memory span exporter. A client span per request (retries inside it), the app sees its
// traceparent, failures say why; with tracing off a caller's traceparent reaches the app untouched.
import t from 'tap';
import net from 'node:net';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { createLogger } from '../../../common/log.ts';
import { LocalUpstream } from '../../../agent/http/local-upstream.ts';
import { PeerSessions } from '../../../agent/http/peer-sessions.ts';
import { Router, type HttpView } from '../../../agent/http/router.ts';
import { createOutboundHttp } from '../../../agent/proxy/outbound-http.ts';
import { sniffProtocol } from '../../../agent/proxy/detect-socket.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';
import { ProxyStats } from '../../../agent/proxy/stats.ts';
import { connectionContext, noTelemetry, type Telemetry } from '../../../agent/telemetry/telemetry.ts';
import { createSpanRecorder } from '../../../agent/telemetry/tracing.ts';
import { parseTraceparent } from '../../../agent/telemetry/trace-context.ts';
import { appPath, runApp, startApp } from '../../apps/spawn-app.ts';
// The app-side HTTP/1 engine (WEFT_L7_H1_ENGINE, default weft): run with =node for node:http.
const H1_ENGINE = process.env.WEFT_L7_H1_ENGINE === 'node' ? 'node' : 'weft';

const log = createLogger('test');
const server = await startApp(appPath('l7-server.ts'), ['--port', '0', '--name', 'good']);
t.teardown(() => server.stop(1000));
// A port nobody listens on: connections are refused, so every attempt is "not delivered".
const closed = net.createServer();
await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
const closedPort = (closed.address() as net.AddressInfo).port;
await new Promise<void>((r) => closed.close(() => r()));

function workload(name: string): WorkloadRecord {
  return { kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node: 'n1', ip: '127.0.0.1', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true };
}
const svc = (name: string, ip: string): ServiceRecord => ({
  kind: 'service', key: `demo/${name}`, name, namespace: 'demo', clusterIP: ip, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: name },
});
const web = svc('web', '10.96.0.1');
const gone = svc('gone', '10.96.0.2');
const eps: Record<string, { workload: WorkloadRecord; port: number }[]> = {
  'demo/web': [{ workload: workload('web'), port: server.ready.port as number }],
  'demo/gone': [{ workload: workload('gone'), port: closedPort }],
};
const view: HttpView = {
  workloadByIp: () => undefined,
  serviceByAddress: () => undefined,
  endpoints: (key) => eps[key] ?? [],
  nodeAddress: () => '127.0.0.1',
  routesFor: () => [],
  serviceByKey: (key) => (key === 'demo/web' ? web : key === 'demo/gone' ? gone : undefined),
};

const exporter = new InMemorySpanExporter();
const spans = createSpanRecorder({ env: () => undefined, log, exporter });
t.teardown(() => spans.shutdown());
let tracingOn = true;
const telemetry: Telemetry = { ...noTelemetry, get tracing() { return tracingOn; }, spans };

const stats = new ProxyStats();
const sockets = createSocketFactory();
const local = new LocalUpstream({ sockets, connectTimeoutMs: 2000 });
const peers = new PeerSessions({ trustDomain: 'cluster.local', certificates: { get: () => Promise.reject(new Error('no certs in this test')) }, dialTcp: (h, p) => net.connect(p, h) });
const defaults = { timeoutMs: 0, idleTimeoutMs: 0, retryLimit: 2, retryBackoffMs: 5 };
const router = new Router({ view, localNode: 'n1', balancer: 'round-robin', counters: stats.l7, defaults, telemetry });
const client = workload('client');
const ctx = connectionContext({ direction: 'outbound', path: 'outbound_local', source: client, service: 'demo/web', tls: 'none', sourceAddress: '127.0.0.1:1', destinationAddress: '10.96.0.1:80' });
const http = createOutboundHttp({
  router, local, peers, sockets, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 300, opaquePorts: new Set(), stats, telemetry,
  tunnels: { openTunnel: () => Promise.reject(new Error('no tunnels here')) }, log, h1Engine: H1_ENGINE,
});
t.teardown(() => { http.close(); local.close(); void peers.close(); });

/** A capture listener standing in for 15001: every connection is "to" the service `which`. */
async function capture(which: ServiceRecord): Promise<number> {
  const srv = net.createServer((c) => {
    sniffProtocol(c, 300, (s) => {
      if (s.protocol === 'tcp') c.destroy();
      else http.handle(c, s, { source: client, from: { identity: client.identity, address: c.remoteAddress ?? '' }, destination: { kind: 'service', service: which, port: 80 }, proto: s.protocol, original: `${which.clusterIP}:80`, ctx });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}
const webPort = await capture(web);
const gonePort = await capture(gone);

interface Got { status: number; body: { headers?: Record<string, string> } }
async function get(port: number, path: string, headers: string[] = []): Promise<Got> {
  const r = await runApp(appPath('l7-client.ts'), ['get', '--url', `http://127.0.0.1:${port}${path}`, ...headers.flatMap((h) => ['--header', h])], 30_000);
  return r.stdout[0] as unknown as Got;
}

const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

t.test('a client span per request; the app sees its context', async (t) => {
  exporter.reset();
  const a = await get(webPort, '/headers', [`traceparent: ${CALLER}`]);
  t.equal(a.status, 200);
  const [s] = exporter.getFinishedSpans();
  t.equal(exporter.getFinishedSpans().length, 1);
  const seen = parseTraceparent(a.body.headers?.traceparent);
  t.equal(seen?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.equal(seen?.spanId, s.spanContext().spanId, "the app's parent is the mesh's span");
  t.equal(s.parentSpanContext?.spanId, '00f067aa0ba902b7');
  t.match(s.attributes, {
    'weft.direction': 'outbound', 'weft.source.workload': 'client', 'weft.destination.workload': 'web', 'weft.destination.service': 'demo/web',
    'weft.tls': 'none', 'http.response.status_code': 200, 'http.request.resend_count': 0, 'url.path': '/headers',
  });
  t.equal(s.status.code, 0);
});

t.test('retries stay inside the one span; a request that never got through fails it with the mesh code', async (t) => {
  exporter.reset();
  const a = await get(gonePort, '/');
  t.equal(a.status, 503);
  const all = exporter.getFinishedSpans();
  t.equal(all.length, 1, 'one span, not one per attempt');
  t.equal(all[0].attributes['http.request.resend_count'], 2, 'both retries counted');
  t.match(String(all[0].attributes['error.type']), /^WEFT_ERR_/);
  t.equal(all[0].status.code, 2);
});

t.test('a request timeout fails the span as a timeout', async (t) => {
  exporter.reset();
  defaults.timeoutMs = 200;
  t.teardown(() => { defaults.timeoutMs = 0; });
  const a = await get(webPort, '/delay/3000');
  t.equal(a.status, 504);
  const [s] = exporter.getFinishedSpans();
  t.equal(s.attributes['error.type'], 'timeout');
  t.equal(s.attributes['http.response.status_code'], 504);
});

t.test('tracing off: no span, the caller\'s traceparent and tracestate reach the app unchanged', async (t) => {
  exporter.reset();
  tracingOn = false;
  t.teardown(() => { tracingOn = true; });
  const a = await get(webPort, '/headers', [`traceparent: ${CALLER}`, 'tracestate: a=1']);
  t.equal(a.body.headers?.traceparent, CALLER);
  t.equal(a.body.headers?.tracestate, 'a=1');
  const none = await get(webPort, '/headers');
  t.notOk('traceparent' in (none.body.headers ?? {}), 'none is made up');
  t.equal(exporter.getFinishedSpans().length, 0);
});
