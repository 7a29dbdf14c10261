// In-process: the outbound L7 path's target stage under each WEFT_PATH_NORMALIZATION mode, with
// real sockets on loopback and a real app (tests/apps/path-server.ts) that reports the target it
// received. Shows the mode setting reaches the proxy, that HTTPRoute matching sees the normalised
// path (it runs before routing), that the forwarded path is the normalised one, that refusals are
// 400 with WEFT_ERR_HTTP_PATH, and that an h2c upgrade is answered as plain HTTP/1.1.
// (The same-node and cross-node behaviour with policy is tests/e2e/pol-conformance.test.ts.)
import t from 'tap';
import net from 'node:net';
import type { RouteRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { createLogger } from '../../../common/log.ts';
import type { PathNormalization } from '../../../common/path-normalize.ts';
import { LocalUpstream } from '../../../agent/http/local-upstream.ts';
import { PeerSessions } from '../../../agent/http/peer-sessions.ts';
import { Router, type HttpView } from '../../../agent/http/router.ts';
import { createOutboundHttp } from '../../../agent/proxy/outbound-http.ts';
import { sniffProtocol } from '../../../agent/proxy/detect-socket.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';
import { ProxyStats } from '../../../agent/proxy/stats.ts';
import { appPath, startApp, type RunningApp } from '../../apps/spawn-app.ts';
import { connectionContext, noTelemetry, type Telemetry } from '../../../agent/telemetry/telemetry.ts';
// The app-side HTTP/1 engine (WEFT_L7_H1_ENGINE, default weft): run with =node for node:http.
const H1_ENGINE = process.env.WEFT_L7_H1_ENGINE === 'node' ? 'node' : 'weft';

const main = await startApp(appPath('path-server.ts'), ['--port', '0']);
const admin = await startApp(appPath('path-server.ts'), ['--port', '0']);
t.teardown(async () => { await Promise.all([main.stop(1000), admin.stop(1000)]); });

function workload(name: string): WorkloadRecord {
  return { kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node: 'n1', ip: '127.0.0.1', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true };
}
const web: ServiceRecord = { kind: 'service', key: 'demo/web', name: 'web', namespace: 'demo', clusterIP: '10.96.0.1', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: 'main' } };
const eps: Record<string, { workload: WorkloadRecord; port: number }[]> = {
  'demo/web': [{ workload: workload('main'), port: main.ready.port as number }],
  'demo/admin': [{ workload: workload('admin'), port: admin.ready.port as number }],
};
// /admin goes to another backend: a path that dodged the route would land on `main`.
const routes: RouteRecord[] = [{ kind: 'route', key: 'demo/split', name: 'split', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/admin' } }], backends: [{ service: 'demo/admin', port: 80, weight: 1 }] }] }];
const view: HttpView = {
  workloadByIp: () => undefined,
  serviceByAddress: () => undefined,
  endpoints: (key) => eps[key] ?? [],
  nodeAddress: () => '127.0.0.1',
  routesFor: (key) => (key === 'demo/web' ? routes : []),
  serviceByKey: (key) => (key === 'demo/web' ? web : undefined),
};
const rejected: string[] = [];
const telemetry: Telemetry = { ...noTelemetry, inputRejected: (reason: string) => { rejected.push(reason); } };
const sockets = createSocketFactory();

/** An outbound L7 proxy in `mode` behind a loopback capture listener; returns its port. */
async function proxy(mode: PathNormalization | undefined): Promise<number> {
  const stats = new ProxyStats();
  const router = new Router({ view, localNode: 'n1', balancer: 'round-robin', counters: stats.l7, defaults: { timeoutMs: 0, idleTimeoutMs: 0, retryLimit: 0, retryBackoffMs: 5 }, telemetry });
  const local = new LocalUpstream({ sockets, connectTimeoutMs: 2000 });
  const peers = new PeerSessions({ trustDomain: 'cluster.local', certificates: { get: () => Promise.reject(new Error('no certs')) }, dialTcp: (h, p) => net.connect(p, h) });
  const http = createOutboundHttp({
    router, local, peers, sockets, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 300, opaquePorts: new Set(), stats, telemetry,
    tunnels: { openTunnel: () => Promise.reject(new Error('no tunnels')) }, log: createLogger('test'), h1Engine: H1_ENGINE, ...(mode === undefined ? {} : { pathNormalization: mode }),
  });
  const ctx = connectionContext({ direction: 'outbound', path: 'outbound_local', tls: 'none', sourceAddress: '127.0.0.1:1', destinationAddress: '10.96.0.1:80' });
  const srv = net.createServer((c) => sniffProtocol(c, 300, (s) => http.handle(c, s, { source: workload('client'), from: { identity: workload('client').identity, address: c.remoteAddress ?? '' }, destination: { kind: 'service', service: web, port: 80 }, proto: s.protocol === 'h2' ? 'h2' : 'http1', original: '10.96.0.1:80', ctx })));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => { http.close(); local.close(); void peers.close(); srv.close(); });
  return (srv.address() as net.AddressInfo).port;
}

/** Sends raw bytes; resolves with the response head (status line and headers). */
function send(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(bytes));
    let got = '';
    c.setEncoding('latin1');
    c.on('data', (d: string) => {
      got += d;
      if (got.includes('\r\n\r\n')) {
        c.destroy();
        resolve(got.slice(0, got.indexOf('\r\n\r\n')));
      }
    });
    c.on('error', () => resolve(got));
    c.on('close', () => resolve(got));
  });
}

let n = 0;
/** One request; which app got it and under what target (without the marker). */
async function request(port: number, target: string, extra = ''): Promise<{ head: string; app: 'main' | 'admin' | null; target: string | null }> {
  const id = `r${++n}`;
  const head = await send(port, `GET ${target}${target.includes('?') ? '&' : '?'}id=${id} HTTP/1.1\r\nHost: web\r\n${extra}Connection: close\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 100));
  for (const [name, app] of [['main', main], ['admin', admin]] as const) {
    const line = app.lines.find((l) => typeof l.target === 'string' && l.target.includes(`id=${id}`));
    if (line !== undefined) return { head, app: name, target: (line.target as string).replace(/[?&]id=r\d+$/, '') };
  }
  return { head, app: null, target: null };
}

// [mode, target sent, the app that must get it and the target it must see, or the refusal]
const CASES: Array<[PathNormalization | undefined, string, ['main' | 'admin', string] | 'refused']> = [
  [undefined, '//admin/x', ['admin', '/admin/x']],
  [undefined, '/%61dmin', ['admin', '/admin']],
  [undefined, '/x/../admin?q=/..', ['admin', '/admin?q=/..']],
  [undefined, '/ok//a', ['main', '/ok/a']],
  [undefined, '/a%2Fb', 'refused'],
  [undefined, 'http://elsewhere//admin', ['admin', '/admin']],
  ['merge-slashes', '/a\\b', 'refused'],
  ['none', '//admin/x', ['main', '//admin/x']],
  ['none', '/%61dmin', ['main', '/%61dmin']],
  ['none', '/a%2Fb', ['main', '/a%2Fb']],
  ['base', '//admin/x', ['main', '//admin/x']],
  ['base', '/%61dmin/./y', ['admin', '/admin/y']],
  ['base', '/a%2Fb', 'refused'],
  ['decode-and-merge-slashes', '/a%2Fb', ['main', '/a/b']],
  ['decode-and-merge-slashes', '/ok%2F..%2Fadmin', ['admin', '/admin']],
  ['decode-and-merge-slashes', '/ok\\..\\admin', ['admin', '/admin']],
  ['decode-and-merge-slashes', '/a%00', 'refused'],
];

const ports = new Map<PathNormalization | undefined, number>();
for (const [mode, target, want] of CASES) {
  t.test(`${mode ?? 'default (merge-slashes)'}: ${JSON.stringify(target)} → ${want === 'refused' ? 'refused' : `${want[0]} gets ${want[1]}`}`, async (t) => {
    let port = ports.get(mode);
    if (port === undefined) ports.set(mode, (port = await proxy(mode)));
    const before = rejected.length;
    const r = await request(port, target);
    if (want === 'refused') {
      t.match(r.head, /^HTTP\/1\.1 400 [\s\S]*weft-error: WEFT_ERR_HTTP_PATH/i, '400 with WEFT_ERR_HTTP_PATH');
      t.equal(r.app, null, 'no app saw it');
      t.match(rejected.slice(before), [/^http_path_/], 'counted as a rejected input');
    } else {
      t.match(r.head, /^HTTP\/1\.1 200 /);
      t.same([r.app, r.target], want, 'routed and forwarded under the normalised path');
    }
  });
}

t.test('an h2c upgrade is answered as plain HTTP/1.1 under the normalised path (no 101, nothing spliced)', async (t) => {
  const port = ports.get(undefined) ?? await proxy(undefined);
  const r = await request(port, '/ok/./h2c', 'Upgrade: h2c\r\nHTTP2-Settings: \r\nConnection: Upgrade, HTTP2-Settings\r\n');
  t.match(r.head, /^HTTP\/1\.1 200 /, 'an ordinary answer');
  t.same([r.app, r.target], ['main', '/ok/h2c']);
  const line = main.lines.find((l) => typeof l.target === 'string' && l.target.startsWith('/ok/h2c'));
  t.equal(line?.kind, 'request', 'the app got a plain request, not an upgrade');
});

t.test('a WebSocket head is normalised before it is routed and replayed', async (t) => {
  const port = ports.get(undefined) ?? await proxy(undefined);
  const r = await request(port, '//admin/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n');
  t.match(r.head, /^HTTP\/1\.1 101 /);
  t.same([r.app, r.target], ['admin', '/admin/ws'], 'the admin backend got /admin/ws');
});
