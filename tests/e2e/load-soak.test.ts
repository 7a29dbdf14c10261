// Soak: steady L7 (HTTP/1.1 and HTTP/2, bodies echoed and checked) and TCP (a new checked
// connection per exchange, so connections churn) through both agents for a while, with each
// agent's resident memory and open descriptors sampled every second. After a warm-up, memory must
// stay flat — the highest reading of the second half no more than a margin above the first half's,
// and the fitted slope small — and every request and connection must succeed. CI soaks 45 s;
// WEFT_LONG_TESTS=1 soaks 10 minutes (WEFT_SOAK_SECONDS overrides either).
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { RunningApp } from '../apps/spawn-app.ts';
import { AgentSampler, MiB, mib, readProc, sized, type ProcReading } from './load-helpers.ts';
import type { MemoryDump } from '../../agent/admin/memory.ts';

const SECONDS = sized('WEFT_SOAK_SECONDS', 45, 600);
/** Readings before this are the warm-up: pools fill, V8 sizes its heaps, JIT settles. */
const WARMUP_MS = Math.max(10_000, SECONDS * 250);

const tb = await withTestbed(t, {
  name: 'load-soak',
  nodes: [
    { name: 'a', pods: [{ name: 'web', namespace: 'soak' }, { name: 'grpcish', namespace: 'soak' }, { name: 'tcp', namespace: 'soak' }] },
    { name: 'b', pods: [{ name: 'server', namespace: 'soak' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['soak'] } });
t.teardown(() => mesh.stop());
const server = tb.pod('server').ip;
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--h2-port', '8081']);
await mesh.startApp('server', 'tcp-server.ts', ['--port', '9000']);

type Done = { sent: number; ok: number; failed: number; bytesSent: number; bytesReceived: number; errors: Record<string, number>; latencyMs: { p50: number; p99: number; max: number } };

/** Least-squares slope of RSS over time, in MiB per minute. */
function slopeMiBPerMin(s: readonly ProcReading[]): number {
  const n = s.length;
  if (n < 2) return 0;
  const mx = s.reduce((a, x) => a + x.at, 0) / n;
  const my = s.reduce((a, x) => a + x.rssBytes, 0) / n;
  let num = 0;
  let den = 0;
  for (const x of s) {
    num += (x.at - mx) * (x.rssBytes - my);
    den += (x.at - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60_000 / MiB;
}

t.test(`${SECONDS} s of steady HTTP and TCP: no failures, memory flat`, async (t) => {
  const idle = { a: await readProc(mesh.agentPid('a') ?? -1), b: await readProc(mesh.agentPid('b') ?? -1) };
  // Every V8 heap of the agent (main thread and workers), from its /config_dump/memory.
  const heap = (node: string) => async (): Promise<number> => ((await mesh.admin(node, '/config_dump/memory')).body as { memory: MemoryDump }).memory.heapUsedBytes;
  const samplers = { a: new AgentSampler(mesh, 'a', 1000, heap('a')), b: new AgentSampler(mesh, 'b', 1000, heap('b')) };
  const ms = String(SECONDS * 1000);
  const report = String(Math.max(5000, Math.floor(SECONDS * 1000 / 10)));
  // Paced (not flat out): a soak is about time, and the machine is shared.
  const clients: [string, RunningApp][] = [
    ['HTTP/1.1', await mesh.startApp('web', 'steady-client.ts', ['--url', `http://${server}:8080/echo`, '--concurrency', '4', '--pause-ms', '5', '--bytes', '8192', '--duration-ms', ms, '--report-ms', report])],
    ['HTTP/2', await mesh.startApp('grpcish', 'steady-client.ts', ['--url', `http://${server}:8081/echo`, '--h2', '--concurrency', '8', '--pause-ms', '5', '--bytes', '2048', '--duration-ms', ms, '--report-ms', report])],
    ['TCP', await mesh.startApp('tcp', 'steady-client.ts', ['--tcp', `${server}:9000`, '--concurrency', '2', '--pause-ms', '10', '--bytes', '32768', '--duration-ms', ms, '--report-ms', report])],
  ];
  const results: Record<string, Done> = {};
  for (const [name, app] of clients) {
    results[name] = (await app.waitForLine((l) => l.done === true, SECONDS * 1000 + 120_000)) as unknown as Done;
    // A failure mid-soak shows in the progress lines too: the first one that had any.
    const firstBad = app.lines.find((l) => l.progress === true && (l.failed as number) > 0);
    t.equal(firstBad, undefined, `${name}: no progress report showed a failure`);
  }
  for (const s of Object.values(samplers)) s.stop();
  for (const [name, d] of Object.entries(results)) {
    t.ok(d.sent > 0, `${name}: ${d.sent} exchanges`);
    t.equal(d.failed, 0, `${name}: none failed`);
    t.equal(d.ok, d.sent, `${name}: every one checked byte-exact`);
    t.equal(d.bytesReceived, d.bytesSent, `${name}: ${d.bytesSent} bytes each way`);
    t.same(d.errors, {}, `${name}: no errors`);
  }

  const summary: Record<string, unknown> = { seconds: SECONDS, warmupMs: WARMUP_MS, exchanges: Object.fromEntries(Object.entries(results).map(([k, d]) => [k, { sent: d.sent, bytesEachWay: d.bytesSent, latencyMs: d.latencyMs }])) };
  for (const [node, s] of Object.entries(samplers)) {
    const steady = s.samples.filter((x) => x.at >= WARMUP_MS);
    t.ok(steady.length >= 10, `${node}: ${steady.length} readings after warm-up`);
    const mid = steady[Math.floor(steady.length / 2)]?.at ?? 0;
    const firstMax = Math.max(...steady.filter((x) => x.at < mid).map((x) => x.rssBytes));
    const secondMax = Math.max(...steady.filter((x) => x.at >= mid).map((x) => x.rssBytes));
    const slope = slopeMiBPerMin(steady);
    // Generous: GC timing alone moves RSS by tens of MiB; a leak keeps climbing past any margin.
    const margin = Math.max(48 * MiB, firstMax * 0.15);
    t.ok(secondMax <= firstMax + margin, `${node}: RSS after warm-up, first half max ${mib(firstMax)} MiB, second half max ${mib(secondMax)} MiB (margin ${mib(margin)})`);
    const heaps = steady.filter((x) => x.extra !== undefined);
    const heapFirst = Math.max(...heaps.filter((x) => x.at < mid).map((x) => x.extra ?? 0));
    const heapSecond = Math.max(...heaps.filter((x) => x.at >= mid).map((x) => x.extra ?? 0));
    t.ok(heapSecond <= heapFirst + Math.max(32 * MiB, heapFirst * 0.25), `${node}: V8 heaps after warm-up, first half max ${mib(heapFirst)} MiB, second half max ${mib(heapSecond)} MiB`);
    const fds = steady.map((x) => x.fds);
    t.ok(Math.max(...fds.slice(Math.floor(fds.length / 2))) <= Math.max(...fds.slice(0, Math.floor(fds.length / 2))) + 32, `${node}: open descriptors flat (${Math.min(...fds)}–${Math.max(...fds)})`);
    summary[node] = {
      idleRssMiB: mib((node === 'a' ? idle.a : idle.b)?.rssBytes ?? 0), firstHalfMaxMiB: mib(firstMax), secondHalfMaxMiB: mib(secondMax),
      heapFirstHalfMaxMiB: mib(heapFirst), heapSecondHalfMaxMiB: mib(heapSecond), heapSlopeMiBPerMin: Math.round(slopeMiBPerMin(heaps.map((x) => ({ ...x, rssBytes: x.extra ?? 0 }))) * 100) / 100,
      peakMiB: mib(s.maxRss), slopeMiBPerMin: Math.round(slope * 100) / 100, fds: [Math.min(...fds), Math.max(...fds)],
    };
    // The slope is only meaningful over a long soak; over 45 s GC noise dominates it.
    if (SECONDS >= 300) t.ok(slope < 2, `${node}: RSS slope after warm-up ${slope.toFixed(2)} MiB/min`);
  }
  t.comment(JSON.stringify(summary));
});
