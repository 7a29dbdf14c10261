// Per-workload limits: the limiter's arithmetic and bookkeeping (no sockets), then the two ways a
// refusal looks on the wire — a reset connection and a 503 / gRPC UNAVAILABLE answer — on real
// loopback sockets.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { memoryLogger } from '../../../common/log.ts';
import { ProxyStats, sumStats } from '../../../agent/proxy/stats.ts';
import { LIMIT_HEADER, WorkloadLimiter, admitConnection, heldBytesBudget, refuseRequest } from '../../../agent/proxy/workload-limits.ts';
import { TelemetryRecorder } from '../../../agent/telemetry/recorder.ts';
import { renderPrometheus } from '../../../agent/telemetry/prometheus.ts';
import { mergeSnapshots } from '../../../agent/telemetry/aggregates.ts';
import type { WorkloadRecord } from '../../../control/api/model.ts';
import { parseProm } from '../telemetry/prom-parse.ts';

const pod = (name: string, app: string, ns = 'demo'): WorkloadRecord => ({
  kind: 'workload', key: `${ns}/${name}`, uid: name, name, namespace: ns, node: 'n1', ip: '10.0.0.1',
  serviceAccount: app, identity: `spiffe://cluster.local/ns/${ns}/sa/${app}`, labels: { app }, meshed: true, ready: true,
});

function limiter(kind: 'connections' | 'pending_requests', limit: number, shares = 1) {
  const telemetry = new TelemetryRecorder();
  const stats = new ProxyStats();
  const log = memoryLogger();
  return { l: new WorkloadLimiter({ kind, limit, shares, telemetry, stats, log }), telemetry, stats, log };
}

t.test('each pod has its own budget; refusals are counted by workload and logged once', async (t) => {
  const { l, telemetry, stats, log } = limiter('connections', 3);
  const noisy = pod('noisy-1', 'noisy');
  const noisy2 = pod('noisy-2', 'noisy');
  const quiet = pod('quiet-1', 'quiet');
  t.same([1, 2, 3, 4, 5].map(() => l.tryAcquire(noisy)), [true, true, true, false, false], 'the fourth and fifth are refused');
  t.ok(l.tryAcquire(quiet), 'another pod is not affected');
  t.ok(l.tryAcquire(noisy2), 'nor another pod of the same workload (the budget is per pod)');
  t.equal(l.held('demo/noisy-1'), 3);
  t.same(stats.limited, { connections: 2, pending_requests: 0 });
  const prom = parseProm(renderPrometheus(mergeSnapshots([telemetry.aggregates.snapshot()])));
  const row = prom.filter((s) => s.name === 'weft_workload_limited_total');
  t.same(row, [{ name: 'weft_workload_limited_total', labels: { source_workload: 'noisy', source_namespace: 'demo', limit: 'connections' }, value: 2 }]);
  const lines = log.lines.filter((x) => x.msg === 'workload over its limit: refused');
  t.equal(lines.length, 1, 'one log line for the burst');
  t.match(lines[0], { code: 'WEFT_ERR_WORKLOAD_LIMIT', workload: 'demo/noisy-1', limit: 'connections', perWorker: 3 });
  l.release(noisy);
  t.ok(l.tryAcquire(noisy), 'a released unit can be taken again');
});

t.test('released to zero, a pod leaves nothing behind', async (t) => {
  const { l } = limiter('pending_requests', 10);
  const pods = Array.from({ length: 50 }, (_, i) => pod(`p-${i}`, 'p'));
  for (const p of pods) { l.tryAcquire(p); l.tryAcquire(p); }
  t.equal(l.workloads, 50);
  for (const p of pods) { l.release(p); l.release(p); }
  t.equal(l.workloads, 0);
  // Zeros are kept (written in place, no Map rehash per request) but bounded: pods that come and
  // go, one request each, never leave more than 64 entries behind.
  for (let i = 0; i < 1000; i++) {
    const p = pod(`churn-${i}`, 'churn');
    if (!l.tryAcquire(p)) t.fail(`churn-${i} refused`);
    l.release(p);
    if (l.remembered > 65) t.fail(`${l.remembered} entries remembered after ${i} pods came and went`);
  }
  t.equal(l.workloads, 0);
  t.ok(l.remembered <= 65, `at most 64 idle entries kept (${l.remembered})`);
  // A kept zero counts again from zero: released below zero stays zero, the limit still applies.
  const again = pods[0];
  l.release(again);
  t.equal(l.held('demo/p-0'), 0);
  for (let i = 0; i < 10; i++) t.ok(l.tryAcquire(again));
  t.notOk(l.tryAcquire(again), 'the 11th over a limit of 10 is refused');
  t.equal(l.workloads, 1);
});

t.test('the limit is split over the workers; 0 means none', async (t) => {
  t.equal(limiter('connections', 4096, 2).l.perWorker, 2048);
  t.equal(limiter('connections', 5, 2).l.perWorker, 3, 'rounded up: a small limit never becomes 0');
  const { l } = limiter('connections', 0, 4);
  t.equal(l.perWorker, Infinity);
  const p = pod('a', 'a');
  let admitted = 0;
  for (let i = 0; i < 10_000; i++) if (l.tryAcquire(p)) admitted++;
  t.equal(admitted, 10_000, 'unlimited');
  t.equal(l.held('demo/a'), 10_000);
});

t.test('sumStats adds the workers\' refusals', async (t) => {
  const a = new ProxyStats();
  const b = new ProxyStats();
  a.limited.connections = 2;
  b.limited.connections = 3;
  b.limited.pending_requests = 7;
  t.same(sumStats([a.toJSON(), b.toJSON()]).limited, { connections: 5, pending_requests: 7 });
});

t.test('a connection over the limit is reset at once; one under it is released when it closes', async (t) => {
  const { l } = limiter('connections', 1);
  const src = pod('c-1', 'c');
  const outcomes: boolean[] = [];
  const server = net.createServer((s) => {
    outcomes.push(admitConnection(l, s, src));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const first = net.connect(port, '127.0.0.1');
  await once(first, 'connect');
  const second = net.connect(port, '127.0.0.1');
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    second.on('error', resolve);
    second.on('close', () => resolve(undefined));
  });
  t.equal(err?.code, 'ECONNRESET', 'the second connection was reset');
  t.same(outcomes, [true, false]);
  first.destroy();
  await new Promise<void>((resolve) => { const check = (): void => { if (l.held('demo/c-1') === 0) resolve(); else setTimeout(check, 10); }; check(); });
  const third = net.connect(port, '127.0.0.1');
  await once(third, 'connect');
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(third.destroyed, 'after the first closed, a new one is admitted');
  t.same(outcomes, [true, false, true]);
  third.destroy();
});

t.test('a refused HTTP/1.1 request gets 503 naming the limit, and the connection stays usable', async (t) => {
  let n = 0;
  const server = http.createServer((req, res) => {
    if (n++ === 0) refuseRequest(req, res);
    else res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = (body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; port: number }> => new Promise((resolve, reject) => {
    const req = http.request({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', method: body === undefined ? 'GET' : 'POST', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, port: req.socket?.localPort ?? 0 }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const refused = await get('x'.repeat(100_000));
  t.equal(refused.status, 503);
  t.equal(refused.headers['weft-error'], 'WEFT_ERR_WORKLOAD_LIMIT');
  t.equal(refused.headers[LIMIT_HEADER], 'pending_requests');
  t.match(refused.text, /WEFT_MAX_PENDING_REQUESTS_PER_WORKLOAD/);
  const next = await get();
  t.equal(next.status, 200, 'the next request on the connection is served');
  t.equal(next.port, refused.port, 'on the same connection');
});

t.test('a refused gRPC request is a trailers-only UNAVAILABLE', async (t) => {
  const server = http2.createServer((req, res) => refuseRequest(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(() => client.close());
  const req = client.request({ ':method': 'POST', ':path': '/svc/Method', 'content-type': 'application/grpc', te: 'trailers' });
  req.end(Buffer.alloc(5));
  const [headers] = await once(req, 'response') as [http2.IncomingHttpHeaders];
  t.equal(headers[':status'], 200);
  t.equal(headers['grpc-status'], '14');
  t.equal(headers['weft-error'], 'WEFT_ERR_WORKLOAD_LIMIT');
  req.resume();
  await once(req, 'end');
});

t.test('held bytes: each worker takes its share of the budget; a throttle is counted and logged, the levels exported', async (t) => {
  const telemetry = new TelemetryRecorder();
  const log = memoryLogger();
  const id = 'spiffe://cluster.local/ns/demo/sa/noisy';
  const budget = heldBytesBudget(64 << 20, 2, telemetry, log);
  t.equal(budget.limit, 32 << 20, 'half of 64 MiB per worker of two');
  t.equal(heldBytesBudget(0, 2, new TelemetryRecorder(), memoryLogger()).limit, Infinity, '0: none');
  const told: Array<number | null> = [];
  const a = budget.account(id);
  a.attach({ limitStreamWindow: (w) => told.push(w) });
  a.add((32 << 20) + 1);
  t.same(told, [65_535], 'over the share: throttled');
  const prom = parseProm(renderPrometheus(mergeSnapshots([telemetry.aggregates.snapshot()])));
  t.equal(prom.find((s) => s.name === 'weft_held_bytes_throttled_total')?.value, 1);
  t.equal(prom.find((s) => s.name === 'weft_held_bytes' && s.labels.source_identity === id)?.value, (32 << 20) + 1);
  t.match(log.lines.find((x) => x.limit === 'held_bytes'), { code: 'WEFT_ERR_WORKLOAD_LIMIT', identity: id }, 'logged with the stable code');
});
