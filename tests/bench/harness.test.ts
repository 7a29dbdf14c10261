// The bench harness's pure parts, without a testbed: HAProxy configs, /proc readings, CPU profile
// ranking and the README renderer (fed a small synthetic results file).
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientConfig, serverConfig } from '../../bench/haproxy.ts';
import { cpuMicros, ProcessWatch, rssMiB } from '../../bench/proc-stats.ts';
import { hotFunctions } from '../../bench/cpu-profile.ts';
import { renderReport } from '../../bench/readme.ts';
import { median, type BenchResults } from '../../bench/results.ts';
import { profile } from '../../bench/workloads.ts';
import type { RunRecord } from '../../bench/runner.ts';

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

t.test('README from synthetic results: tables, ratios, targets and a chart per workload', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
  t.equal(median([]), undefined);
  const p = profile('short');
  const configs = [
    { id: 'no-mesh', label: 'no mesh', path: 'direct' },
    { id: 'weft-l7', label: 'Weft L7 (HTTP)', path: 'l7' },
    { id: 'weft-opaque', label: 'Weft opaque TCP', path: 'hbone' },
    { id: 'haproxy', label: 'HAProxy mTLS pair', path: 'haproxy' },
  ];
  const p99 = { 'no-mesh': 1, 'weft-l7': 1.2, 'weft-opaque': 1.2, haproxy: 1.5 } as Record<string, number>;
  const runs: RunRecord[] = [];
  for (const w of p.workloads) {
    for (const c of configs) {
      for (const round of [1, 2, 3]) {
        const proxies = c.id === 'no-mesh' ? [] : ['n1', 'n2'].map((n) => ({ name: `${c.id === 'haproxy' ? 'haproxy' : 'agent'} ${n}`, cpuUs: 40 * 12_000, rssStartMiB: 50, rssMaxMiB: 60 }));
        const base = { workload: w.id, config: c.id, round, startedAt: '', requests: 12_000, proxies };
        if (w.kind === 'bulk') runs.push({ ...base, bulk: { ok: true, bytes: w.bytes, durationMs: 1000, gbps: c.id === 'haproxy' ? 4 : 3, errors: [] } });
        else {
          runs.push({
            ...base,
            load: {
              transport: 'raw', connections: 16, rate: w.rate, achievedRps: w.rate || (c.id === 'haproxy' ? 10_000 : 8_000), count: 10_000, errors: 0, errorCodes: {},
              totalSent: 12_000, newConnection: w.newConnection, p50: 0.5, p90: 0.8, p99: p99[c.id] + round / 100, p999: 3, max: 5, mean: 0.6, durationS: 10, cpuPerRequestUs: 20,
            },
          });
        }
      }
    }
  }
  const r: BenchResults = {
    date: '2026-11-25T00:00:00.000Z', profile: 'short', rounds: 3, workers: 2,
    machine: { cores: 2, cpuModel: 'x', memoryGiB: 4, kernel: '6', node: 'v24', haproxy: '2.6', shared: true },
    configs, workloads: p.workloads, idle: [{ config: 'weft-opaque', name: 'agent n1', rssMiB: 40 }], runs, hotSpots: [], durationS: 600,
  };
  const rep = renderReport(r, '/repo/bench', '/repo/bench/results', 'r.json');
  const md = rep.md.join('\n');
  t.match(md, /\(results\/r\.json\)/, 'links relative to the README');
  t.match(md, /added p99 at 1000 req\/s, HTTP 1 KiB ≤ \+0\.3 ms \(L7 path\)\s+\| \+0\.2 ms\s+\| met/);
  t.match(md, /L7 added p99 at 1000 req\/s ≤ 2× HAProxy's added p99 \(issue 4\)\s+\| \+0\.2 ms vs \+0\.5 ms\s+\| met/);
  t.match(md, /L7 ≥ 50% of HAProxy throughput \(HTTP req\/s, closed loop\)\s+\| 80%\s+\| met/);
  t.match(md, /CPU per request per agent ≤ 50 µs \(at 1000 req\/s\)\s+\| agent n1 40 µs, agent n2 40 µs\s+\| met/);
  t.match(md, /opaque ≥ 75% of HAProxy throughput \(HTTP req\/s, closed loop\)\s+\| 80%\s+\| met/);
  t.match(md, /opaque ≥ 75% of HAProxy throughput \(one bulk TCP stream\)\s+\| 75%\s+\| met/);
  t.match(md, /machine was shared/);
  t.equal(rep.svgs.size, p.workloads.length);
  for (const svg of rep.svgs.values()) t.match(svg, /^<svg /);
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
