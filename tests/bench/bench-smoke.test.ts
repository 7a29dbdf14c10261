// The benchmark harness works end to end: `bench/run.ts --smoke` (a few minutes) builds the
// testbeds, runs every workload once against every configuration, and writes results JSON, a README
// and charts. Asserts only that rows exist with counts — never a speed.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResults } from '../../bench/results.ts';
import { appliesTo } from '../../bench/workloads.ts';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (network namespaces)');
} else {
  const out = await mkdtemp(join(tmpdir(), 'weft-bench-smoke-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));

  t.test('--smoke writes results with a row per workload and configuration', async (t) => {
    const child = spawn(process.execPath, [RUN, '--smoke', '--name', 'bench-smoke', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-8000); });
    // Two testbeds (iptables and eBPF), six configurations, eight workloads: ~3 minutes on a busy 2-core machine.
    const timer = setTimeout(() => child.kill('SIGTERM'), 420_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    t.equal(code, 0, `bench/run.ts --smoke exits 0; stderr tail:\n${err}`);

    const files = await readdir(out);
    const json = files.find((f) => f.endsWith('.json'));
    t.ok(json, 'a results file');
    if (json === undefined) return;
    const r = JSON.parse(await readFile(join(out, json), 'utf8')) as BenchResults;
    t.ok(r.configs.length >= 3, 'no mesh, Weft and HAProxy at least');
    t.ok(r.configs.some((c) => c.id === 'weft-l7-ebpf') && r.configs.some((c) => c.id === 'weft-opaque-ebpf'), 'eBPF rows in the same run');
    for (const w of r.workloads) {
      for (const c of r.configs) {
        const runs = r.runs.filter((x) => x.workload === w.id && x.config === c.id);
        const applies = appliesTo(w, c.id);
        t.equal(runs.length, applies ? (w.kind === 'idle' ? (w.rounds ?? r.rounds) : r.rounds) : 0, `${w.id} × ${c.id}: one row per round`);
        for (const x of runs) {
          t.equal(x.error, undefined, `${w.id} × ${c.id} ran`);
          if (w.kind === 'http') t.ok((x.load?.count ?? 0) > 0 && x.load?.errors === 0, `${w.id} × ${c.id}: requests counted, none failed`);
          else if (w.kind === 'idle') t.equal(x.idle?.open, w.connections, `${w.id} × ${c.id}: every connection held`);
          else t.ok((x.bulk?.bytes ?? 0) > 0, `${w.id} × ${c.id}: bytes moved`);
          if (c.id !== 'no-mesh') t.ok(x.proxies.length === 2 && x.proxies.every((p) => Number.isFinite(p.cpuUs)), `${w.id} × ${c.id}: two proxies measured`);
        }
      }
    }
    const readme = await readFile(join(out, 'README.md'), 'utf8');
    t.match(readme, /### Targets/);
    t.ok(files.filter((f) => f.endsWith('.svg')).length >= r.workloads.length, 'a chart per workload');
  });
}
