// A/B comparison of two agent builds on one testbed, rounds interleaved (A B, B A, …), so a
// change to the data path is judged against its baseline under the same machine noise. Each
// variant's turn restarts both agents from its bundle; no mesh and HAProxy run once per round as
// the references. Optionally CPU-profiles variants at the end (closed loop on the L7 path).
// Needs root. Typical use, from the repository root after `node scripts/build.ts`:
//   cp dist/agent.mjs dist/agent-base.mjs   # (on the baseline commit; the chunks it loads, dist/agent-*-HASH.mjs,
//                                           # have content-hashed names, so later builds add theirs beside them)
//   node bench/ab.ts --base dist/agent-base.mjs --rounds 3 [--rates 1000,0] [--duration 8] [--only weft-l7]
//     [--profile a,b] [--top 30]
// or one build, two settings: node bench/ab.ts --env-a WEFT_X=1 --env-b WEFT_X=2
import { cp, mkdir } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AGENT_BUNDLE, type Mesh } from '../tests/testbed/mesh.ts';
import { openBed } from './bed.ts';
import { restartAgents } from './agent-env.ts';
import { ensureBundles } from './bundles.ts';
import { CLIENT_NODE, SERVER_NODE, configurations, type BenchContext, type Configuration } from './configurations.ts';
import { hotFunctions, monotonicUs } from './cpu-profile.ts';
import { ensureHaproxy } from './haproxy.ts';
import { runOnce, type RunRecord } from './runner.ts';
import type { HttpWorkload } from './workloads.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    rates: { type: 'string', default: '1000,0' },
    profile: { type: 'string' },
    'env-a': { type: 'string', multiple: true, default: [] },
    'env-b': { type: 'string', multiple: true, default: [] },
    top: { type: 'string', default: '25' },
    only: { type: 'string' },
  },
  strict: true,
});
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const envOf = (kv: string[]): Record<string, string> => Object.fromEntries(kv.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
// A: the baseline bundle (--base, default the current one) with --env-a; B: dist/agent.mjs with --env-b.
const variants = [
  { id: 'a', bundle: values.base === undefined ? AGENT_BUNDLE : resolve(ROOT, values.base), env: envOf(values['env-a']) },
  { id: 'b', bundle: AGENT_BUNDLE, env: envOf(values['env-b']) },
];
const rounds = Math.max(1, Number(values.rounds));
const durationS = Number(values.duration);
const workloads: HttpWorkload[] = values.rates.split(',').map((r) => ({
  kind: 'http', id: Number(r) === 0 ? 'max' : `${r}rps`, title: '', protocol: 'h1', rate: Number(r), durationS, warmupS: 2, connections: 16, newConnection: false, bytes: 1024,
}));
const log = (m: string): void => { process.stderr.write(`ab: ${m}\n`); };

async function useVariant(mesh: Mesh, bundle: string, env: Record<string, string> = {}): Promise<void> {
  await restartAgents(mesh, env, bundle);
  await new Promise((r) => setTimeout(r, 500));
}

async function check(ctx: BenchContext, c: Configuration): Promise<void> {
  const probe: HttpWorkload = { kind: 'http', id: 'check', title: '', protocol: 'h1', rate: 50, durationS: 0.5, warmupS: 0, connections: 2, newConnection: false, bytes: 16 };
  for (let i = 0; i < 20; i++) {
    const r = await runOnce(ctx, c, probe, 0);
    if (r.error === undefined && r.load !== undefined && r.load.errors === 0 && r.load.count > 0) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${c.id} carries no traffic`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};
const r2 = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : '—');

function table(rows: { variant: string; rec: RunRecord }[]): string {
  const out: string[] = ['| workload | config | variant | req/s | p50 ms | p99 ms | p99 per round | CPU µs/req n1 / n2 | max RSS MiB n1 / n2 | errors |', '|---|---|---|--:|--:|--:|---|---|---|--:|'];
  const keys = new Map<string, { variant: string; rec: RunRecord }[]>();
  for (const r of rows) {
    const k = `${r.rec.workload}|${r.rec.config}|${r.variant}`;
    keys.set(k, [...(keys.get(k) ?? []), r]);
  }
  for (const [k, rs] of keys) {
    const [w, c, v] = k.split('|');
    const ok = rs.map((r) => r.rec).filter((r) => r.load !== undefined);
    const per = (i: number, f: (p: { cpuUs: number; rssMaxMiB: number }, n: number) => number): string => r2(median(ok.filter((r) => r.proxies[i] !== undefined).map((r) => f(r.proxies[i], r.requests))));
    out.push(`| ${w} | ${c} | ${v} | ${r2(median(ok.map((r) => r.load!.achievedRps)))} | ${r2(median(ok.map((r) => r.load!.p50)))} | ${r2(median(ok.map((r) => r.load!.p99)))} | ${ok.map((r) => r2(r.load!.p99)).join(', ')} | ${per(0, (p, n) => p.cpuUs / n)} / ${per(1, (p, n) => p.cpuUs / n)} | ${per(0, (p) => p.rssMaxMiB)} / ${per(1, (p) => p.rssMaxMiB)} | ${ok.reduce((a, r) => a + r.load!.errors, 0)} |`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  ensureBundles(log);
  ensureHaproxy();
  // Rows that need their own agent settings (the telemetry-cost rows) are left out: each variant's
  // turn restarts the agents with that variant's settings. One mesh (iptables) is what it swaps.
  const only = values.only?.split(',');
  const configs = configurations().filter((c) => c.agentEnv === undefined && c.site === 'iptables' && (only === undefined || only.includes(c.id)));
  const bed = await openBed('bench-ab', configs);
  const { ctx } = bed;
  const { dir } = ctx;
  const mesh = ctx.sites.get('iptables')?.mesh;
  if (mesh === undefined) throw new Error('no iptables mesh');
  try {
    const weft = configs.filter((c) => c.meshed);
    const refs = configs.filter((c) => !c.meshed);
    const rows: { variant: string; rec: RunRecord }[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? variants : [...variants].reverse();
      for (const v of order) {
        await useVariant(mesh, v.bundle, v.env);
        for (const c of weft) await check(ctx, c);
        for (const w of workloads) {
          for (const c of weft) {
            const rec = await runOnce(ctx, c, w, round);
            rows.push({ variant: v.id, rec });
            log(`round ${round} ${v.id} ${w.id} ${c.id}: ${rec.error ?? `${rec.load?.achievedRps} req/s p50 ${rec.load?.p50} p99 ${rec.load?.p99} cpu ${rec.proxies.map((p) => Math.round(p.cpuUs / rec.requests)).join('/')} µs/req rss ${rec.proxies.map((p) => Math.round(p.rssMaxMiB)).join('/')}`}`);
          }
        }
      }
      for (const w of workloads) {
        for (const c of refs) {
          const rec = await runOnce(ctx, c, w, round);
          rows.push({ variant: '-', rec });
          log(`round ${round} ${w.id} ${c.id}: ${rec.error ?? `${rec.load?.achievedRps} req/s p50 ${rec.load?.p50} p99 ${rec.load?.p99}`}`);
        }
      }
    }
    rows.sort((x, y) => `${x.rec.workload}${x.rec.config}${x.variant}`.localeCompare(`${y.rec.workload}${y.rec.config}${y.variant}`));
    process.stdout.write(`${table(rows)}\n`);
    const l7 = configs.find((c) => c.id === 'weft-l7');
    const profiled = l7 === undefined ? [] : variants.filter((v) => (values.profile ?? '').split(',').includes(v.id));
    for (const pv of profiled) {
      if (l7 === undefined) break;
      const profDir = (n: string): string => join(dir, `cpu-prof-${pv.id}`, n);
      for (const n of [CLIENT_NODE, SERVER_NODE]) await mkdir(profDir(n), { recursive: true });
      await restartAgents(mesh, (n) => ({ ...pv.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir(n)}` }), pv.bundle);
      await check(ctx, l7);
      const fromUs = monotonicUs();
      const rec = await runOnce(ctx, l7, { ...workloads[workloads.length - 1], rate: 0, warmupS: 1 }, 0);
      const window = { fromUs: fromUs + 1_500_000, toUs: monotonicUs() };
      log(`profile run: ${rec.load?.achievedRps} req/s`);
      for (const n of [CLIENT_NODE, SERVER_NODE]) await mesh.stopAgent(n);
      for (const n of [CLIENT_NODE, SERVER_NODE]) {
        const h = await hotFunctions(profDir(n), Number(values.top), window);
        process.stdout.write(`\n${pv.id} ${n}: ${h.files} files, ${h.totalMs} ms non-idle, weft ${h.weftPercent}%\n`);
        for (const f of h.top) process.stdout.write(`  ${f.percent}%\t${f.selfMs} ms\t${f.name}\t${f.location}\n`);
      }
      const keep = join(os.tmpdir(), `weft-ab-prof-${Date.now()}`);
      await mkdir(keep, { recursive: true });
      for (const n of [CLIENT_NODE, SERVER_NODE]) await cp(profDir(n), join(keep, n), { recursive: true });
      process.stdout.write(`profiles kept in ${keep}\n`);
    }
  } finally {
    await bed.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ab: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
