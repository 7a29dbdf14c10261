// The benchmark harness works end to end: `bench/run.ts --smoke` (about a minute) builds the
// testbed, runs every workload once against every configuration, and writes results JSON, a README
// and charts. Asserts only that rows exist with counts — never a speed.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchResults } from '../../bench/results.ts';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (network namespaces)');
} else {
  const out = await mkdtemp(join(tmpdir(), 'weft-bench-smoke-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));

  t.test('--smoke writes results with a row per workload and configuration', async (t) => {
    const child = spawn(process.execPath, [RUN, '--smoke', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-8000); });
    const timer = setTimeout(() => child.kill('SIGTERM'), 240_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    t.equal(code, 0, `bench/run.ts --smoke exits 0; stderr tail:\n${err}`);

    const files = await readdir(out);
    const json = files.find((f) => f.endsWith('.json'));
    t.ok(json, 'a results file');
    if (json === undefined) return;
    const r = JSON.parse(await readFile(join(out, json), 'utf8')) as BenchResults;
    t.ok(r.configs.length >= 3, 'no mesh, Weft and HAProxy at least');
    for (const w of r.workloads) {
      for (const c of r.configs) {
        const runs = r.runs.filter((x) => x.workload === w.id && x.config === c.id);
        t.equal(runs.length, r.rounds, `${w.id} × ${c.id}: one row per round`);
        for (const x of runs) {
          t.equal(x.error, undefined, `${w.id} × ${c.id} ran`);
          if (w.kind === 'http') t.ok((x.load?.count ?? 0) > 0, `${w.id} × ${c.id}: requests counted`);
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
