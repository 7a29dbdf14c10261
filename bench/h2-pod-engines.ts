// An app's HTTP/2 prior knowledge through the agent's outbound L7 path to an h2c pod on the same
// node, per engine (WEFT_L7_H2_ENGINE): the app server (agent/proxy/outbound-h2.ts or node:http2)
// and the h2c client to the pod (agent/http/h2c-pod-session.ts: the codec or node:http2), with
// Exchange, Router and LocalUpstream between them as in the agent. Three processes: h2load (the
// app, nghttp2-client), the agent side (this file with --serve ENGINE), the pod (this file with
// --pod: node:http2, a 1 KiB answer). Engines interleaved for `--rounds`, `--seconds` each;
// requests/s from h2load and the agent process's CPU per request (utime+stime from /proc), medians.
//   node bench/h2-pod-engines.ts [--seconds 5] [--rounds 3] [--clients 4] [--streams 16]
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import http2 from 'node:http2';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' }, clients: { type: 'string', default: '4' },
    streams: { type: 'string', default: '16' }, serve: { type: 'string' }, pod: { type: 'string' },
  },
  strict: true,
});
const SELF = fileURLToPath(import.meta.url);

/** The pod: node:http2 h2c, 1 KiB per request. */
async function pod(): Promise<void> {
  const body = Buffer.alloc(1024, 'x');
  const srv = http2.createServer();
  srv.on('stream', (s) => {
    s.on('error', () => undefined);
    s.resume();
    s.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
    s.end(body);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  process.stdout.write(`${(srv.address() as net.AddressInfo).port}\n`);
}

/** The agent side: a capture listener → outbound L7 path → the pod, on `engine`. */
async function serve(engine: 'node' | 'weft', podPort: number): Promise<void> {
  const { createLogger } = await import('../common/log.ts');
  const { LocalUpstream } = await import('../agent/http/local-upstream.ts');
  const { PeerSessions } = await import('../agent/http/peer-sessions.ts');
  const { Router } = await import('../agent/http/router.ts');
  const { createOutboundHttp } = await import('../agent/proxy/outbound-http.ts');
  const { sniffProtocol } = await import('../agent/proxy/detect-socket.ts');
  const { createSocketFactory } = await import('../agent/proxy/socket-factory.ts');
  const { ProxyStats } = await import('../agent/proxy/stats.ts');
  const { noTelemetry } = await import('../agent/telemetry/telemetry.ts');
  const w = { kind: 'workload' as const, key: 'demo/pod', uid: 'pod', name: 'pod', namespace: 'demo', node: 'n1', ip: '127.0.0.1', serviceAccount: 'pod', identity: 'spiffe://cluster.local/ns/demo/sa/pod', labels: { app: 'pod' }, meshed: true, ready: true };
  const client = { ...w, key: 'demo/client', name: 'client' };
  const svc = { kind: 'service' as const, key: 'demo/pod', name: 'pod', namespace: 'demo', clusterIP: '10.96.0.1', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' as const }], selector: { app: 'pod' }, defaults: {} };
  const view = { workloadByIp: () => undefined, serviceByAddress: () => undefined, endpoints: () => [{ workload: w, port: podPort }], nodeAddress: () => '127.0.0.1', routesFor: () => [], serviceByKey: () => undefined };
  const stats = new ProxyStats();
  const sockets = createSocketFactory();
  const local = new LocalUpstream({ sockets, connectTimeoutMs: 2000, engine });
  const peers = new PeerSessions({ trustDomain: 'cluster.local', certificates: { get: () => Promise.reject(new Error('none')) }, dialTcp: (h, p) => net.connect(p, h) });
  const router = new Router({ view, localNode: 'n1', balancer: 'p2c-peak-ewma', counters: stats.l7, defaults: { timeoutMs: 0, idleTimeoutMs: 0, retryLimit: 0, retryBackoffMs: 5 }, telemetry: noTelemetry });
  const out = createOutboundHttp({ router, local, peers, sockets, h2Engine: engine, hbonePort: 15008, connectTimeoutMs: 2000, detectTimeoutMs: 5000, opaquePorts: new Set(), stats, telemetry: noTelemetry, tunnels: { openTunnel: () => Promise.reject(new Error('none')) }, log: createLogger('bench') });
  const srv = net.createServer({ noDelay: true }, (c) => {
    sniffProtocol(c, 5000, (s) => {
      if (s.protocol === 'tcp') return void c.destroy();
      out.handle(c, s, { source: client, from: { identity: client.identity, address: '127.0.0.1' }, destination: { kind: 'service', service: svc, port: 80 }, proto: s.protocol, original: '10.96.0.1:80' });
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  process.stdout.write(`${(srv.address() as net.AddressInfo).port}\n`);
}

async function firstLine(p: ChildProcess): Promise<number> {
  let buf = '';
  for await (const d of p.stdout as AsyncIterable<Buffer>) {
    buf += d.toString();
    if (buf.includes('\n')) return Number(buf.split('\n')[0]);
  }
  throw new Error('child exited before printing its port');
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15), clock ticks
}

function h2load(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('h2load', ['-D', values.seconds as string, '-c', values.clients as string, '-m', values.streams as string, '--warm-up-time', '1', `http://127.0.0.1:${port}/`], { maxBuffer: 1 << 20 }, (err, stdout) => (err === null ? resolve(stdout) : reject(err)));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function drive(): Promise<void> {
  const podProc = spawn(process.execPath, [SELF, '--pod', '1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const podPort = await firstLine(podProc);
  const results: Record<string, { rps: number[]; cpuUsPerReq: number[] }> = { node: { rps: [], cpuUsPerReq: [] }, weft: { rps: [], cpuUsPerReq: [] } };
  try {
    for (let r = 0; r < Number(values.rounds); r++) {
      for (const engine of ['node', 'weft'] as const) {
        const agent = spawn(process.execPath, [SELF, '--serve', engine, '--pod', String(podPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
        const port = await firstLine(agent);
        const before = cpuTicks(agent.pid as number);
        const text = await h2load(port);
        const ticks = cpuTicks(agent.pid as number) - before;
        agent.kill();
        const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
        // Every answer 2xx (warm-up included: the CPU reading covers it too).
        const done = Number(/status codes: (\d+) 2xx, 0 3xx, 0 4xx, 0 5xx/.exec(text)?.[1] ?? NaN);
        if (!Number.isFinite(done) || !/ 0 failed, 0 errored/.test(text)) throw new Error(`h2load: failures\n${text}`);
        results[engine].rps.push(rps);
        // Clock ticks are 10 ms; the whole run's CPU over every request answered.
        results[engine].cpuUsPerReq.push((ticks * 10_000) / done);
        process.stderr.write(`round ${r + 1} ${engine}: ${rps.toFixed(0)} req/s, ${((ticks * 10_000) / done).toFixed(1)} µs CPU/req\n`);
      }
    }
  } finally {
    podProc.kill();
  }
  for (const e of ['node', 'weft'] as const) {
    process.stdout.write(`${e}: median ${median(results[e].rps).toFixed(0)} req/s, ${median(results[e].cpuUsPerReq).toFixed(1)} µs agent CPU/request (rounds: ${results[e].rps.map((x) => x.toFixed(0)).join(', ')})\n`);
  }
}

if (values.serve !== undefined) await serve(values.serve === 'node' ? 'node' : 'weft', Number(values.pod));
else if (values.pod !== undefined) await pod();
else await drive();
