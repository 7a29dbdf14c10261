// Unit: the README's "what telemetry costs" table from synthetic results: medians per row, the
// default − off and traced − default differences, and nothing when the run lacks a row.
import t from 'tap';
import type { BenchResults } from '../../bench/results.ts';
import type { RunRecord } from '../../bench/runner.ts';
import { telemetryCostSection } from '../../bench/telemetry-cost.ts';
import type { Workload } from '../../bench/workloads.ts';

const workloads: Workload[] = [
  { kind: 'http', id: 'http-1000rps', title: '1000', rate: 1000, durationS: 10, warmupS: 2, connections: 16, newConnection: false, path: '/' },
  { kind: 'http', id: 'http-max', title: 'max', rate: 0, durationS: 10, warmupS: 2, connections: 16, newConnection: false, path: '/' },
  { kind: 'bulk', id: 'tcp-bulk', title: 'bulk', bytes: 1 },
];
// p99 ms, req/s (closed loop) and CPU µs per request per agent, per configuration.
const figures: Record<string, { p99: number; rps: number; cpu: number }> = {
  'weft-l7-notel': { p99: 2, rps: 5000, cpu: 100 },
  'weft-l7': { p99: 2.5, rps: 4500, cpu: 110 },
  'weft-l7-traced': { p99: 3, rps: 4000, cpu: 150 },
};

function results(ids: string[]): BenchResults {
  const runs: RunRecord[] = [];
  for (const w of workloads) {
    if (w.kind !== 'http') continue;
    for (const id of ids) {
      const f = figures[id];
      for (const round of [1, 2, 3]) {
        // Round 2 is the median; rounds 1 and 3 sit either side of it.
        const k = round - 2;
        const requests = 10_000;
        runs.push({
          workload: w.id, config: id, round, startedAt: '', requests,
          proxies: ['n1', 'n2'].map((n) => ({ name: `agent ${n}`, cpuUs: (f.cpu + k) * requests, rssStartMiB: 50, rssMaxMiB: 60 })),
          load: {
            transport: 'raw', connections: 16, rate: w.rate, achievedRps: w.rate || f.rps + k, count: requests, errors: 0, errorCodes: {},
            totalSent: requests, newConnection: false, p50: 1, p90: 1.5, p99: f.p99 + k / 10, p999: 4, max: 5, mean: 1, durationS: 10, cpuPerRequestUs: 0,
          },
        });
      }
    }
  }
  return {
    date: '', profile: 'short', rounds: 3, workers: 2,
    machine: { cores: 2, cpuModel: 'x', memoryGiB: 4, kernel: '6', node: 'v24', haproxy: '2.6', shared: true },
    configs: ids.map((id) => ({ id, label: id, path: id })), workloads, idle: [], runs, hotSpots: [], durationS: 1,
  };
}

t.test('the three L7 rows side by side, with the cost of each layer', async (t) => {
  const md = telemetryCostSection(results(['weft-l7-notel', 'weft-l7', 'weft-l7-traced'])).join('\n');
  t.match(md, /### What telemetry costs/);
  t.match(md, /\| 1000 req\/s\s+\| p99 ms\s+\| 2\s+\| 2\.5\s+\| 3\s+\| \+0\.5 ms \(\+25\.0%\)\s+\| \+0\.5 ms \(\+20\.0%\)/);
  t.match(md, /\| 1000 req\/s\s+\| agents CPU µs\/req \(n1 \+ n2\)\s+\| 200\s+\| 220\s+\| 300\s+\| \+20 µs \(\+10\.0%\)\s+\| \+80 µs \(\+36\.4%\)/);
  t.match(md, /\| closed loop\s+\| req\/s\s+\| 5,000\s+\| 4,500\s+\| 4,000\s+\| -500 \(-10\.0%\)\s+\| -500 \(-11\.1%\)/);
  t.notMatch(md, /bulk/, 'only HTTP workloads');
});

t.test('a run without the rows has no such section', async (t) => {
  t.same(telemetryCostSection(results(['weft-l7'])), []);
});
