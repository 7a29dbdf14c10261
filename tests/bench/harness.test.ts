// The bench harness's pure parts, without a testbed: HAProxy configs, /proc readings, CPU profile
// ranking, workload profiles, load-cli flags, the targets and the README renderer (fed a synthetic
// results file).
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientConfig, serverConfig } from '../../bench/haproxy.ts';
import { cpuMicros, ProcessWatch, rssMiB } from '../../bench/proc-stats.ts';
import { hotFunctions } from '../../bench/cpu-profile.ts';
import { renderReport } from '../../bench/readme.ts';
import { configsOf, loadSummary, median, rssPerThousand, type BenchResults } from '../../bench/results.ts';
import { statusOf, targets } from '../../bench/targets.ts';
import { appliesTo, profile, requestPath } from '../../bench/workloads.ts';
import { loadArgs, type RunRecord } from '../../bench/runner.ts';

const ports = [{ port: 8080, outbound: 15101, inbound: 15102 }];

t.test('HAProxy configs: TLS 1.3, client certificates required and verified, same thread count', async (t) => {
  const c = clientConfig({ threads: 2, serverNodeIp: '172.31.0.12', ports, ca: '/x/ca.crt', cert: '/x/n1.pem', serverName: 'n2.haproxy.bench' });
  t.match(c, /nbthread 2/);
  t.match(c, /ssl-default-server-options ssl-min-ver TLSv1\.3/);
  t.match(c, /bind 0\.0\.0\.0:15101\n/);
  t.match(c, /server peer 172\.31\.0\.12:15102 ssl crt \/x\/n1\.pem ca-file \/x\/ca\.crt verify required verifyhost n2\.haproxy\.bench/);
  const s = serverConfig({ threads: 2, bindIp: '172.31.0.12', serverPodIp: '10.244.2.13', ports, ca: '/x/ca.crt', cert: '/x/n2.pem' });
  t.match(s, /bind 172\.31\.0\.12:15102 ssl crt \/x\/n2\.pem ca-file \/x\/ca\.crt verify required/);
  t.match(s, /server app 10\.244\.2\.13:8080\n/);
  t.match(s, /mode tcp/);
});

t.test('/proc readings of this process', async (t) => {
  t.ok((rssMiB(process.pid) ?? 0) > 1, 'RSS in MiB');
  const before = cpuMicros(process.pid) ?? NaN;
  const watch = new ProcessWatch([{ name: 'me', pid: process.pid }], 10);
  const end = Date.now() + 100;
  while (Date.now() < end) { /* burn a little CPU */ }
  const [u] = watch.stop();
  t.ok(u.cpuUs > 0 && u.cpuUs < 5e6, `CPU ${u.cpuUs} µs during the watch`);
  t.ok((cpuMicros(process.pid) ?? 0) >= before);
  t.ok(u.rssMaxMiB >= u.rssStartMiB);
  t.equal(rssMiB(2 ** 22 + 1), undefined, 'a missing process reads as undefined');
});

t.test('CPU profiles: self time summed across files, idle left out, window respected', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-prof-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const frame = (functionName: string) => ({ functionName, url: '', scriptId: '0', lineNumber: -1, columnNumber: -1 });
  const prof = {
    startTime: 1_000,
    nodes: [{ id: 1, callFrame: frame('(root)') }, { id: 2, callFrame: frame('hot') }, { id: 3, callFrame: frame('(idle)') }, { id: 4, callFrame: frame('cold') }],
    // Samples at 1100, 1200, 1300, 1400, 1500 µs; each owns the gap to the next one.
    samples: [2, 2, 3, 4, 2],
    timeDeltas: [100, 100, 100, 100, 100],
  };
  await writeFile(join(dir, 'a.cpuprofile'), JSON.stringify(prof));
  await writeFile(join(dir, 'b.cpuprofile'), JSON.stringify(prof));
  const all = await hotFunctions(dir, 5);
  t.equal(all.files, 2);
  t.same(all.top.map((f) => f.name), ['hot', 'cold']);
  t.equal(all.top[0].percent, 66.7);
  const windowed = await hotFunctions(dir, 5, { fromUs: 1_350, toUs: 1_450 });
  t.same(windowed.top.map((f) => f.name), ['cold']);
});

/** A synthetic short-profile results file: every workload × configuration × 3 rounds, with the
 * same numbers per configuration so every ratio and target is known in advance. */
function syntheticResults(): BenchResults {
  const p = profile('short');
  const configs = [
    { id: 'no-mesh', label: 'no mesh', path: 'direct' },
    { id: 'weft-l7', label: 'Weft L7 · iptables', path: 'l7' },
    { id: 'weft-opaque', label: 'Weft opaque · iptables', path: 'hbone' },
    { id: 'weft-l7-ebpf', label: 'Weft L7 · eBPF', path: 'l7 ebpf' },
    { id: 'weft-opaque-ebpf', label: 'Weft opaque · eBPF', path: 'hbone ebpf' },
    { id: 'haproxy', label: 'HAProxy mTLS pair', path: 'haproxy' },
    { id: 'haproxy-l7', label: 'HAProxy L7 pair', path: 'haproxy http' },
  ];
  const p99: Record<string, number> = { 'no-mesh': 1, 'weft-l7': 1.2, 'weft-opaque': 1.2, 'weft-l7-ebpf': 1.5, 'weft-opaque-ebpf': 1.1, haproxy: 1.5, 'haproxy-l7': 1.3 };
  // CPU µs per request of every proxy process of a configuration, and closed-loop req/s.
  const cpu: Record<string, number> = { 'weft-l7-ebpf': 60, 'haproxy-l7': 50 };
  const closed: Record<string, number> = { haproxy: 10_000, 'haproxy-l7': 5_000 };
  const runs: RunRecord[] = [];
  for (const w of p.workloads) {
    for (const c of configs) {
      if (!appliesTo(w, c.id)) continue;
      for (const round of [1, 2, 3]) {
        const proxies = c.id === 'no-mesh' ? [] : ['n1', 'n2'].map((n) => ({ name: `${c.id.startsWith('haproxy') ? 'haproxy' : 'agent'} ${n}`, cpuUs: (cpu[c.id] ?? 40) * 12_000, rssStartMiB: 50, rssMaxMiB: 60 }));
        const base = { workload: w.id, config: c.id, round, startedAt: '', requests: 12_000, proxies };
        if (w.kind === 'bulk' && c.id === 'haproxy-l7') throw new Error('the bulk workload leaves the HTTP-mode pair out');
        if (w.kind === 'bulk') runs.push({ ...base, bulk: { ok: true, bytes: w.bytes, durationMs: 1000, gbps: c.id === 'haproxy' ? 4 : 3, errors: [] } });
        else if (w.kind === 'idle') {
          // 10 000 held: agents grow 40 → 80 MiB (4 MiB per 1000), HAProxy 15 → 35 MiB.
          const grow = c.id.startsWith('haproxy') ? [15, 35] : [40, 80];
          runs.push({
            ...base,
            idle: { target: w.connections, open: w.connections, failed: {}, closedEarly: 0, openMs: 5000, memory: proxies.map((q) => ({ name: q.name, beforeMiB: grow[0], heldMiB: grow[1] })) },
          });
        } else {
          runs.push({
            ...base,
            load: {
              transport: 'raw', connections: 16, rate: w.rate, achievedRps: w.rate || (closed[c.id] ?? 8_000), count: 10_000, errors: 0, errorCodes: {},
              totalSent: 12_000, newConnection: w.newConnection, p50: 0.5, p90: 0.8, p99: p99[c.id] + round / 100, p999: 3, max: 5, mean: 0.6, durationS: 10, cpuPerRequestUs: 20,
            },
          });
        }
      }
    }
  }
  return {
    date: '2026-11-25T00:00:00.000Z', profile: 'short', rounds: 3, workers: 2,
    machine: { cores: 2, cpuModel: 'x', memoryGiB: 4, kernel: '6', node: 'v24', haproxy: '2.6', shared: true, loadAverage: loadSummary([3, 9.96, 5]) },
    configs, workloads: p.workloads, idle: [{ config: 'weft-opaque', name: 'agent n1', rssMiB: 40 }, { config: 'weft-l7', name: 'agent n1', rssMiB: 40 }, { config: 'weft-l7', name: 'agent n2', rssMiB: 70 }, { config: 'haproxy-l7', name: 'haproxy n1', rssMiB: 15 }], runs, hotSpots: [], durationS: 600,
    caSigning: { date: '2026-11-24T10:00:00.000Z', file: 'ca-signing-x.json', data: { signingsPerSecond: 2500, n: 3000, loadAverage: 2.5 } },
    controlScale: {
      date: '2026-11-23T09:30:00.000Z', file: 'control-scale-x.json',
      data: { pods: 50_000, nodes: 1000, agents: 1000, propagationMs: { p50: 300, p99: 1200, max: 1300, samples: 10_000 }, controlRssMiB: { synced: 800, afterChanges: 850 }, agentSideKiBPerAgent: 200 },
    },
  };
}

t.test('README from synthetic results: tables, ratios, targets and a chart per workload', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
  t.equal(median([]), undefined);
  const r = syntheticResults();
  const rep = renderReport(r, '/repo/bench', '/repo/bench/results', 'r.json');
  const md = rep.md.join('\n');
  const row = (text: string, measured: string, status: string, date = '2026-11-25 00:00 UTC'): RegExp =>
    new RegExp(`\\| ${text.replace(/[()|.+*?[\]\\]/g, '\\$&')}\\s+\\| ${measured.replace(/[()|.+*?[\]\\]/g, '\\$&')}\\s+\\| ${status}\\s+\\| ${date}`);
  t.match(md, /\(results\/r\.json\)/, 'links relative to the README');
  // Issue 19: L7 rows against the HAProxy L7 pair (8000 vs 5000 req/s; 40 or 60 vs 50 µs; added p99 +0.2 or +0.5 vs +0.3 ms).
  for (const name of ['HTTP/1.1 1 KiB', 'HTTP/2', 'gRPC unary']) {
    t.match(md, row(`L7 closed-loop throughput ≥ 100% of the HAProxy L7 pair, ${name} (Weft L7 · iptables)`, '160% (8,000 vs 5,000 req/s)', 'pass'));
  }
  t.match(md, row('L7 closed-loop throughput ≥ 100% of the HAProxy L7 pair, HTTP/1.1 1 KiB (Weft L7 · eBPF)', '160% (8,000 vs 5,000 req/s)', 'pass'));
  t.notMatch(md, /HTTP\/2 \(Weft L7 · eBPF\)/, 'the eBPF rows did not run HTTP/2: no target row for them');
  t.match(md, row("L7 agent CPU per request ≤ HAProxy's per process at 1000 req/s, HTTP/1.1 1 KiB (Weft L7 · iptables)", 'agent n1 40 µs vs haproxy n1 50 µs, agent n2 40 µs vs haproxy n2 50 µs', 'pass'));
  t.match(md, row("L7 agent CPU per request ≤ HAProxy's per process at 1000 req/s, HTTP/1.1 1 KiB (Weft L7 · eBPF)", 'agent n1 60 µs vs haproxy n1 50 µs, agent n2 60 µs vs haproxy n2 50 µs', 'fail'));
  t.match(md, row("L7 added p99 at 1000 req/s ≤ 1.5 × HAProxy's, HTTP/1.1 1 KiB (Weft L7 · iptables)", '+0.2 ms vs +0.3 ms (limit +0.45 ms)', 'pass'));
  t.match(md, row("L7 added p99 at 1000 req/s ≤ 1.5 × HAProxy's, HTTP/1.1 1 KiB (Weft L7 · eBPF)", '+0.5 ms vs +0.3 ms (limit +0.45 ms)', 'fail'));
  t.match(md, row("L7 added p99 at 1000 req/s ≤ 1.5 × HAProxy's, gRPC unary (Weft L7 · iptables)", '+0.2 ms vs +0.3 ms (limit +0.45 ms)', 'pass'));
  t.match(md, row('agent RSS ≤ 64 MiB idle (Weft agents · iptables)', 'agent n1 40 MiB, agent n2 70 MiB', 'fail'));
  t.match(md, row('agent RSS ≤ 64 MiB idle (Weft agents · eBPF)', 'no idle reading', 'not measured'));
  t.match(md, row('agent RSS ≤ 96 MiB at 1000 req/s, HTTP/1.1 L7 (Weft agents · iptables)', 'agent n1 60 MiB, agent n2 60 MiB', 'pass'));
  t.match(md, row('opaque: one bulk TCP stream ≥ 90% of the HAProxy TCP pair (Weft opaque · eBPF)', '75% (3 vs 4 Gb/s)', 'fail'));
  t.match(md, row('agent RSS ≤ 150 MiB with 10,000 idle connections (Weft L7 · iptables)', 'agent n1 80 MiB, agent n2 80 MiB', 'pass'));
  // The per-protocol summary against the anchor.
  const l7 = md.slice(md.indexOf('### L7 against the HAProxy L7 pair'), md.indexOf('### Configurations'));
  t.match(l7, /\| HTTP\/2\s+\| HAProxy L7 pair\s+\| 5,000\s+\| 1\.00×\s+\| n1 50 \/ n2 50\s+\| \+0\.3\s+\| n1 15 \/ n2 n\/a\s+\| n1 60 \/ n2 60\s+\|/);
  t.match(l7, /\| HTTP\/1\.1 1 KiB\s+\| Weft L7 · iptables\s+\| 8,000\s+\| 1\.60×\s+\| n1 40 \/ n2 40\s+\| \+0\.2\s+\| n1 40 \/ n2 70\s+\| n1 60 \/ n2 60\s+\|/);
  t.match(l7, /\| gRPC unary\s+\| HAProxy mTLS pair\s+\| 10,000\s+\| 2\.00×/);
  // Both anchors in the workload tables.
  t.match(md, /\| configuration\s+\|\s+req\/s \| vs no mesh\s+\| vs HAProxy TCP\s+\| vs HAProxy L7\s+\|/);
  t.match(md, /\| Weft L7 · iptables\s+\|\s+8,000 \| 1\.00×\s+\| 0\.80×\s+\| 1\.60×\s+\|/);
  t.match(md, row('control: ≥ 2000 certificate signings/s per core (`bench/ca-signing.ts`)', '2,500/s on one core (3000 CSRs; machine load average 2.5)', 'pass', '2026-11-24 10:00 UTC'));
  t.match(md, row('control: a change reaches 1000 agents in < 1 s p99 (`bench/control-scale.ts`)', 'p99 1,200 ms, p50 300 ms (1000 agents, 50,000 pods, 10000 samples)', 'fail', '2026-11-23 09:30 UTC'));
  t.match(md, /control memory at 50,000 pods \/ 1000 agents \(no target; measured\)[^\n]*\| —\s+\|/);
  // The idle-connection table: 40 MiB over 10 000 connections is 4 MiB per 1000.
  t.match(md, /\| Weft opaque · eBPF\s+\| 10,000 \|\s+0 \|\s+0 \|\s+5 \| n1 40 \/ n2 40\s+\| n1 80 \/ n2 80\s+\| n1 4 \/ n2 4\s+\|/);
  t.match(md, /\| HAProxy mTLS pair\s+\| 10,000 \|[^\n]*\| n1 2 \/ n2 2\s+\|/);
  // Workloads that leave out the eBPF rows leave them out of their tables, not as empty rows.
  const h2 = md.slice(md.indexOf('### HTTP/2 (h2c)'), md.indexOf('### gRPC unary'));
  t.notMatch(h2, /eBPF/);
  t.match(h2, /\| Weft L7 · iptables/);
  t.match(md, /### p99 by offered rate/);
  t.match(md, /### Memory and CPU per proxy process/);
  t.match(md, /machine was shared/);
  t.match(md, /load average during the runs was 3–10 \(median 5, 3 samples\) on 2 cores/);
  t.equal(rep.svgs.size, r.workloads.length + 1, 'a chart per workload and the p99-by-rate chart');
  for (const svg of rep.svgs.values()) t.match(svg, /^<svg /);
});

t.test('targets: missing control results and partial idle runs are "not measured", not met', async (t) => {
  const r = syntheticResults();
  delete r.caSigning;
  delete r.controlScale;
  for (const x of r.runs) if (x.idle !== undefined && x.config === 'weft-l7') x.idle.open = 9000;
  const ts = targets(r);
  const ca = ts.find((x) => x.text.startsWith('control: ≥ 2000'));
  t.equal(ca?.met, undefined);
  t.match(ca?.measured ?? '', /no saved/);
  const held = ts.find((x) => x.text.includes('10,000 idle connections (Weft L7 · iptables)'));
  t.equal(held?.met, undefined, 'not every connection was held');
  t.match(held?.measured ?? '', /only 9000 held/);
  t.equal(statusOf(held!), 'not measured');
});

t.test('targets at 1000 req/s: not judged when the references miss the rate; a Weft row that misses it fails', async (t) => {
  const r = syntheticResults();
  const cpuTarget = "L7 agent CPU per request ≤ HAProxy's per process at 1000 req/s, HTTP/2 (Weft L7 · iptables)";
  const tailTarget = "L7 added p99 at 1000 req/s ≤ 1.5 × HAProxy's, HTTP/2 (Weft L7 · iptables)";
  // The baseline dropped requests in one round of HTTP/2 at 1000 req/s: the machine was saturated.
  const base = r.runs.find((x) => x.workload === 'h2-1000rps' && x.config === 'no-mesh' && x.round === 2)!;
  base.load = { ...base.load!, errors: 300 };
  for (const text of [cpuTarget, tailTarget]) {
    const x = targets(r).find((y) => y.text === text)!;
    t.equal(x.met, undefined, `${text}: not judged`);
    t.match(x.measured, /not judged: the machine did not carry 1000 req\/s \(no mesh 1,000 of 1000 req\/s, 300 errors\)/);
  }
  base.load = { ...base.load!, errors: 0 };
  // Now Weft alone reached only 600 req/s: its shortfall, a fail whatever its latency says.
  for (const x of r.runs.filter((y) => y.workload === 'h2-1000rps' && y.config === 'weft-l7')) x.load = { ...x.load!, achievedRps: 600 };
  for (const text of [cpuTarget, tailTarget]) {
    const x = targets(r).find((y) => y.text === text)!;
    t.equal(x.met, false, `${text}: fail`);
    t.match(x.measured, /carried only 600 of 1000 req\/s/);
  }
  t.equal(statusOf(targets(r).find((y) => y.text === tailTarget)!), 'fail');
});

t.test('RSS per 1000 connections and the configurations a workload ran against', async (t) => {
  const r = syntheticResults();
  const idle = r.runs.find((x) => x.idle !== undefined && x.config === 'haproxy')!;
  t.equal(rssPerThousand(idle, 'haproxy n1'), 2);
  t.equal(rssPerThousand(idle, 'nobody'), undefined);
  t.equal(rssPerThousand({ ...idle, idle: { ...idle.idle!, open: 0 } }, 'haproxy n1'), undefined, 'nothing held: no figure');
  t.same(configsOf(r, 'idle-10000').map((c) => c.id), ['weft-l7', 'weft-opaque', 'weft-l7-ebpf', 'weft-opaque-ebpf', 'haproxy', 'haproxy-l7']);
  t.same(configsOf(r, 'h2-1000rps').map((c) => c.id), ['no-mesh', 'weft-l7', 'weft-opaque', 'haproxy', 'haproxy-l7']);
  t.same(configsOf(r, 'tcp-bulk').map((c) => c.id), ['no-mesh', 'weft-l7', 'weft-opaque', 'weft-l7-ebpf', 'weft-opaque-ebpf', 'haproxy'], 'the HTTP-mode pair carries no raw TCP stream');
});

t.test('workload profiles: the issue\'s rates, sizes and protocols in --full, a subset in short', async (t) => {
  const full = profile('full').workloads;
  const rates = full.filter((w) => w.kind === 'http' && w.protocol === 'h1' && w.bytes === 1024 && !w.newConnection && w.rate > 0).map((w) => (w.kind === 'http' ? w.rate : 0));
  t.same(rates, [500, 1000, 2000, 5000]);
  t.ok(full.some((w) => w.kind === 'http' && w.bytes === 64 * 1024), '64 KiB bodies');
  t.ok(full.some((w) => w.kind === 'http' && w.newConnection), 'a new connection per request');
  for (const proto of ['h2', 'grpc'] as const) {
    t.ok(full.some((w) => w.kind === 'http' && w.protocol === proto && w.rate > 0), `${proto} at a fixed rate`);
    t.ok(full.some((w) => w.kind === 'http' && w.protocol === proto && w.rate === 0), `${proto} closed loop`);
  }
  t.ok(full.some((w) => w.kind === 'idle' && w.connections === 10_000), '10 000 idle connections');
  const issueRows = ['no-mesh', 'weft-l7', 'weft-opaque', 'haproxy'];
  t.ok(full.filter((w) => w.kind !== 'idle').every((w) => issueRows.every((c) => appliesTo(w, c))), 'every request workload against no mesh, Weft L7, Weft opaque and HAProxy in --full');
  t.ok(full.filter((w) => w.kind === 'http').every((w) => appliesTo(w, 'haproxy-l7')), 'every request workload against the HAProxy L7 pair too');
  for (const name of ['short', 'full']) {
    const ws = profile(name).workloads;
    for (const proto of ['h1', 'h2', 'grpc'] as const) {
      for (const rate of [1000, 0]) {
        t.ok(ws.some((w) => w.kind === 'http' && w.protocol === proto && w.rate === rate && w.bytes === 1024 && !w.newConnection && appliesTo(w, 'weft-l7') && appliesTo(w, 'haproxy-l7')), `${name}: ${proto} at ${rate || 'closed loop'} for the issue-19 targets`);
      }
    }
  }
  const short = profile('short');
  for (const w of short.workloads.filter((x) => x.configs === undefined)) {
    const f = full.find((x) => x.id === w.id);
    if (f !== undefined) t.ok(appliesTo(f, 'weft-l7-ebpf') && appliesTo(f, 'weft-l7-traced'), `${w.id}: --full keeps the eBPF and telemetry rows the short profile has`);
  }
  const ids = new Set(short.workloads.map((w) => w.id));
  for (const id of ['http-1000rps', 'http-max', 'tcp-bulk', 'idle-10000']) {
    const w = short.workloads.find((x) => x.id === id)!;
    t.ok(appliesTo(w, 'weft-l7-ebpf') && appliesTo(w, 'weft-opaque-ebpf'), `${id}: eBPF rows in the short profile`);
  }
  t.ok(ids.size === short.workloads.length, 'workload ids are unique');
  t.ok(new Set(full.map((w) => w.id)).size === full.length, 'full workload ids are unique');
  t.equal(short.workloads[0].kind, 'idle', 'memory per connection is measured first, on fresh proxies');
  t.throws(() => profile('huge'), RangeError);
});

t.test('load-cli flags per protocol', async (t) => {
  const short = profile('full').workloads.filter((w) => w.kind === 'http');
  const grpc = short.find((w) => w.kind === 'http' && w.protocol === 'grpc' && w.rate === 0)!;
  const h2 = short.find((w) => w.kind === 'http' && w.protocol === 'h2' && w.rate > 0)!;
  const big = short.find((w) => w.kind === 'http' && w.bytes === 64 * 1024)!;
  if (grpc.kind !== 'http' || h2.kind !== 'http' || big.kind !== 'http') throw new Error('unreachable');
  const g = loadArgs(grpc, '10.0.0.2', 9090);
  t.equal(g[1], 'http://10.0.0.2:9090/weft.test.Echo/Unary');
  t.match(g.join(' '), /--transport grpc --concurrency 16 --grpc-bytes 1024/);
  t.match(loadArgs(h2, '10.0.0.2', 8082).join(' '), /http:\/\/10\.0\.0\.2:8082\/chunked\/1024 .*--transport h2/);
  t.match(loadArgs(big, '10.0.0.2', 8080).join(' '), /\/bytes\/65536 .*--transport raw/);
  t.equal(requestPath(big), '/bytes/65536');
});

t.test('the generated block replaces only its own part of bench/README.md', async (t) => {
  const { spliceReadme } = await import('../../bench/readme.ts');
  const first = spliceReadme('# Benchmarks\n\n## Other bench\n\ntext\n', '## Suite\n\nv1\n');
  t.match(first, /^# Benchmarks\n\n<!-- bench\/run\.ts: generated from here[^\n]*\n## Suite\n\nv1\n<!-- bench\/run\.ts: generated up to here -->\n\n## Other bench\n\ntext\n$/);
  const second = spliceReadme(first, '## Suite\n\nv2');
  t.match(second, /v2/);
  t.notMatch(second, /v1/);
  t.match(second, /## Other bench\n\ntext\n$/);
  t.match(spliceReadme('', 'x'), /^# Benchmarks\n\n<!--[^\n]*\nx\n<!--[^\n]*-->\n$/);
});

t.test('side results: saved with date and load, the newest read back, broken files skipped', async (t) => {
  const { saveSideResult, latestSideResult } = await import('../../bench/lib/side-results.ts');
  const dir = await mkdtemp(join(tmpdir(), 'weft-side-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(await latestSideResult('ca-signing', dir), undefined, 'none yet');
  await saveSideResult('ca-signing', { signingsPerSecond: 1 }, dir, new Date('2026-11-24T10:00:00.000Z'));
  await saveSideResult('ca-signing', { signingsPerSecond: 2 }, dir, new Date('2026-11-25T10:00:00.000Z'));
  await saveSideResult('control-scale', { pods: 5 }, dir, new Date('2026-11-26T10:00:00.000Z'));
  await writeFile(join(dir, 'ca-signing-2026-11-27T10-00-00Z.json'), '{"date": "2026-11-27T1');
  const newest = await latestSideResult<{ signingsPerSecond: number; loadAverage: number }>('ca-signing', dir);
  t.equal(newest?.date, '2026-11-25T10:00:00.000Z', 'the truncated newer file is skipped');
  t.equal(newest?.file, 'ca-signing-2026-11-25T10-00-00Z.json');
  t.equal(newest?.data.signingsPerSecond, 2);
  t.ok(typeof newest?.data.loadAverage === 'number', 'the machine load is recorded');
});
