// The outbound path's app side alone, per HTTP/1 engine (WEFT_L7_H1_ENGINE), in one process: the
// agent's createOutboundHttp (detection, the engine, the exchange, the pod client) in front of a
// pod on loopback (a node:http server answering 200 with a 1 KiB body), driven by raw keep-alive
// HTTP/1.1 clients, `--concurrency` connections each with one request in flight (default 16),
// `--seconds` per engine (default 3), engines interleaved for `--rounds` (default 3), medians.
// CPU is the whole process's (clients and pod included, the same for both engines) per request.
// No TLS, no peer agent: what the engine change moves, with the stages it feeds.
//   node bench/h1-engines.ts [--concurrency 16] [--seconds 3] [--rounds 3] [--engines node,weft]
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import type { ServiceRecord, WorkloadRecord } from '../control/api/model.ts';
import { createLogger } from '../common/log.ts';
import { LocalUpstream } from '../agent/http/local-upstream.ts';
import { PeerSessions } from '../agent/http/peer-sessions.ts';
import { Router, type HttpView } from '../agent/http/router.ts';
import { createOutboundHttp } from '../agent/proxy/outbound-http.ts';
import { sniffProtocol } from '../agent/proxy/detect-socket.ts';
import { createSocketFactory } from '../agent/proxy/socket-factory.ts';
import { ProxyStats } from '../agent/proxy/stats.ts';
import { noTelemetry } from '../agent/telemetry/telemetry.ts';

const { values } = parseArgs({ options: { concurrency: { type: 'string', default: '16' }, seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '3' }, engines: { type: 'string', default: 'node,weft' } }, strict: true });
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const ENGINES = values.engines.split(',').filter((e): e is 'node' | 'weft' => e === 'node' || e === 'weft');
const BODY = Buffer.alloc(1024, 'x');

const pod = http.createServer({ keepAlive: true }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
    res.end(BODY);
  });
});
await new Promise<void>((r) => pod.listen(0, '127.0.0.1', r));
const podPort = (pod.address() as net.AddressInfo).port;

const workload = (name: string): WorkloadRecord => ({ kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node: 'n1', ip: '127.0.0.1', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true });
const web: ServiceRecord = { kind: 'service', key: 'demo/web', name: 'web', namespace: 'demo', clusterIP: '10.96.0.1', ports: [{ port: 80, targetPort: podPort, protocol: 'TCP' }], selector: { app: 'web' } };
const view: HttpView = {
  workloadByIp: () => undefined,
  serviceByAddress: () => undefined,
  endpoints: (key) => (key === 'demo/web' ? [{ workload: workload('web'), port: podPort }] : []),
  nodeAddress: () => '127.0.0.1',
  routesFor: () => [],
  serviceByKey: (key) => (key === 'demo/web' ? web : undefined),
};

/** One engine's capture listener (standing in for 15001) and its teardown. */
async function front(engine: 'node' | 'weft'): Promise<{ port: number; close: () => void }> {
  const stats = new ProxyStats();
  const sockets = createSocketFactory();
  const local = new LocalUpstream({ sockets, connectTimeoutMs: 2000 });
  const peers = new PeerSessions({ trustDomain: 'cluster.local', certificates: { get: () => Promise.reject(new Error('none')) }, dialTcp: (h, p) => net.connect(p, h) });
  const router = new Router({ view, localNode: 'n1', balancer: 'p2c-peak-ewma', counters: stats.l7, defaults: { timeoutMs: 15_000, idleTimeoutMs: 0, retryLimit: 2, retryBackoffMs: 25 }, telemetry: noTelemetry });
  const out = createOutboundHttp({
    router, local, peers, sockets, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 300, opaquePorts: new Set(), stats, telemetry: noTelemetry,
    tunnels: { openTunnel: () => Promise.reject(new Error('none')) }, log: createLogger('bench'), h1Engine: engine,
  });
  const client = workload('client');
  const srv = net.createServer({ noDelay: true }, (c) => {
    sniffProtocol(c, 300, (s) => {
      if (s.protocol === 'tcp') {
        c.destroy();
        return;
      }
      out.handle(c, s, { source: client, from: { identity: client.identity, address: '127.0.0.1' }, destination: { kind: 'service', service: web, port: 80 }, proto: s.protocol, original: '10.96.0.1:80' });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => {
      srv.close();
      out.close();
      local.close();
      void peers.close();
    },
  };
}

const REQUEST = Buffer.from('GET /api/v1/orders/12345 HTTP/1.1\r\nHost: web.demo.svc.cluster.local\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n', 'latin1');

/** A keep-alive client with one request in flight; counts whole responses (head + Content-Length body). */
function loop(port: number, until: number, count: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let buf: Buffer = Buffer.alloc(0);
    s.on('error', reject);
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /content-length: (\d+)/i.exec(buf.subarray(0, end).toString('latin1'));
        const total = end + 4 + (m === null ? 0 : Number(m[1]));
        if (buf.length < total) return;
        buf = buf.subarray(total);
        count();
        if (Date.now() >= until) {
          s.destroy();
          resolve();
          return;
        }
        s.write(REQUEST);
      }
    });
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map<string, { rps: number[]; cpu: number[] }>(ENGINES.map((e) => [e, { rps: [], cpu: [] }]));

for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ENGINES : [...ENGINES].reverse();
  for (const engine of order) {
    const f = await front(engine);
    // Warm-up, then the measured run.
    await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(f.port, Date.now() + 500, () => undefined)));
    let n = 0;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => loop(f.port, Date.now() + SECONDS * 1000, () => n++)));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    f.close();
    const r = results.get(engine) as { rps: number[]; cpu: number[] };
    r.rps.push(n / secs);
    r.cpu.push((c.user + c.system) / n);
    console.error(`round ${round + 1} ${engine}: ${Math.round(n / secs)} req/s, ${((c.user + c.system) / n).toFixed(1)} µs CPU/req`);
  }
}
pod.close();
console.log(`outbound HTTP/1 engines, one process, ${CONCURRENCY} keep-alive connections, ${SECONDS} s × ${ROUNDS} rounds (medians; node ${process.version})`);
console.log('engine | req/s | CPU µs per request (whole process) | per round req/s');
for (const [engine, r] of results) console.log(`${engine} | ${Math.round(median(r.rps))} | ${median(r.cpu).toFixed(1)} | ${r.rps.map((x) => Math.round(x)).join(', ')}`);
