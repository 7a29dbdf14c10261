// The load generator against tests/apps/http-server.ts (a child process) on 127.0.0.1.
// Counts are checked within wide tolerances; nothing here asserts speed.
import t from 'tap';
import { appPath, runApp, startApp, type RunningApp } from '../apps/spawn-app.ts';
import { runLoad, type LoadOptions } from '../../bench/lib/load.ts';
import { fileURLToPath } from 'node:url';

let server: RunningApp;
let base: string;
const loadCli = fileURLToPath(new URL('../../bench/lib/load-cli.ts', import.meta.url));

t.before(async () => {
  server = await startApp(appPath('http-server.ts'), ['--port', '0', '--host', '127.0.0.1', '--name', 'bench']);
  base = `http://127.0.0.1:${server.ready.port as number}`;
});
t.teardown(async () => { await server?.stop(); });

const opts = (o: Partial<LoadOptions>): LoadOptions => ({
  url: `${base}/`, rate: 50, durationS: 2, connections: 4, warmupS: 0, timeoutMs: 5000, transport: 'raw', ...o,
});

t.test('open loop at 50 req/s for 2 s hits the rate (raw transport)', async (t) => {
  const r = await runLoad(opts({}));
  t.equal(r.count + r.errors, 100, 'exactly rate × duration requests were scheduled');
  t.equal(r.errors, 0);
  t.ok(r.achievedRps > 35 && r.achievedRps < 65, `achieved ${r.achievedRps} req/s`);
  t.ok(r.durationS > 1.9 && r.durationS < 4, `window ${r.durationS} s`);
  t.ok(r.p50 > 0 && r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.p999 && r.p999 <= r.max, 'percentiles ordered');
  t.equal(r.histogram?.count, r.count);
});

t.test('warmup requests are sent but not counted; node:http transport', async (t) => {
  const r = await runLoad(opts({ transport: 'http', rate: 40, durationS: 1, warmupS: 0.5 }));
  t.equal(r.count, 40);
  t.equal(r.transport, 'http');
});

t.test('latency is measured from the scheduled time: a slow server shows queueing', async (t) => {
  // One connection, 100 ms responses, 20 req/s offered: requests queue, and their wait is latency.
  const r = await runLoad(opts({ url: `${base}/delay/100`, rate: 20, durationS: 1, connections: 1 }));
  t.equal(r.count, 20);
  t.ok(r.max >= 1000, `the last request waited behind the others: max ${r.max} ms`);
  t.ok(r.p50 >= 100);
});

t.test('errors are counted by code', async (t) => {
  const r = await runLoad(opts({ url: `${base}/status/503`, rate: 20, durationS: 0.5 }));
  t.same(r.errorCodes, { HTTP_503: 10 });
  t.equal(r.count, 0);
  const refused = await runLoad(opts({ url: 'http://127.0.0.1:1/', rate: 20, durationS: 0.5 }));
  t.same(refused.errorCodes, { ECONNREFUSED: 10 });
  const slow = await runLoad(opts({ url: `${base}/delay/2000`, rate: 10, durationS: 0.2, timeoutMs: 100 }));
  t.same(slow.errorCodes, { ETIMEDOUT: 2 });
});

t.test('closed loop runs for the duration and reports a rate', async (t) => {
  for (const transport of ['raw', 'http'] as const) {
    const r = await runLoad(opts({ rate: 0, durationS: 0.5, connections: 2, transport }));
    t.ok(r.count > 10, `${transport}: ${r.count} requests`);
    t.equal(r.errors, 0);
    t.ok(r.achievedRps > 0 && r.cpuPerRequestUs > 0);
  }
});

t.test('POST bodies reach /echo', async (t) => {
  const r = await runLoad(opts({ url: `${base}/echo`, rate: 20, durationS: 0.5, body: Buffer.alloc(10_000, 1) }));
  t.equal(r.count, 10);
});

t.test('the CLI prints one JSON result and rejects bad flags', async (t) => {
  const r = await runApp(loadCli, ['--url', `${base}/`, '--rate', '20', '--duration', '0.5', '--connections', '2']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.length, 1);
  t.match(r.stdout[0], { rate: 20, count: 10, errors: 0, p50: Number, p90: Number, p99: Number, p999: Number, max: Number, durationS: Number, achievedRps: Number });
  t.notOk('histogram' in r.stdout[0]);
  for (const bad of [[], ['--url', 'ftp://x/'], ['--url', `${base}/`, '--rate', '-1'], ['--url', `${base}/`, '--transport', 'udp']]) {
    const b = await runApp(loadCli, bad);
    t.equal(b.code, 2, bad.join(' '));
  }
});

t.test('new-connection mode opens one connection per request and counts warmup in totalSent', async (t) => {
  for (const transport of ['raw', 'http'] as const) {
    const r = await runLoad(opts({ url: `${base}/bytes/1024`, rate: 40, durationS: 0.5, warmupS: 0.25, newConnection: true, transport }));
    t.equal(r.count, 20, `${transport}: every measured request answered`);
    t.equal(r.errors, 0);
    t.equal(r.totalSent, 30, 'warmup included');
    t.equal(r.newConnection, true);
  }
  // The server sees a different client port per request when connections are not reused.
  const seen = await startApp(appPath('http-server.ts'), ['--port', '0', '--host', '127.0.0.1', '--log']);
  try {
    await runLoad(opts({ url: `http://127.0.0.1:${seen.ready.port as number}/`, rate: 20, durationS: 0.5, newConnection: true }));
    const lines = await seen.waitForLines(10);
    t.equal(new Set(lines.map((l) => l.remote)).size, 10, 'ten requests, ten client ports');
  } finally {
    await seen.stop();
  }
});
