// A/B comparison of two agent builds on one testbed, rounds interleaved (A B, B A, …), so a
// change to the data path is judged against its baseline under the same machine noise. Each
// variant's turn restarts both agents from its bundle; no mesh and both HAProxy pairs (TCP: the
// opaque anchor; HTTP mode with h2 + mTLS between the nodes: the L7 anchor) run once per round as
// the references, so the issue-19 rows (HTTP/1.1, HTTP/2, gRPC unary at 1000 req/s and closed loop,
// against the HAProxy L7 pair) get before and after in one run. Optionally CPU-profiles variants at
// the end (closed loop on the L7 path, or --profile-rate). Needs root. Typical use, from the repository root after
// `node scripts/build.ts`:
//   cp dist/agent.mjs dist/agent-base.mjs   # (on the baseline commit; the chunks it loads, dist/agent-*-HASH.mjs,
//                                           # have content-hashed names, so later builds add theirs beside them)
//   node bench/ab.ts --base dist/agent-base.mjs --rounds 3 [--rates 1000,0] [--protocols h1,h2,grpc] [--duration 8]
//     [--b dist/agent-x.mjs] [--only weft-l7] [--json FILE] [--profile a,b] [--profile-rate 1000] [--top 30] [--bulk MiB] [--bulk-up MiB] [--newconn 200,500]
// --only picks the Weft rows; the references always run. --json saves every run record and the
// idle readings. One build, two settings: node bench/ab.ts --env-a WEFT_X=1 --env-b WEFT_X=2
// --bulk adds one TCP stream of that many MiB (server → client; HAProxy L7 cannot carry it),
// --bulk-up one client → server (the upload: the agents' other read paths), and
// --newconn the HTTP/1.1 new-connection-per-request shape at those rates (short connections: on
// the opaque rows, one HBONE tunnel each); --protocols '' leaves only those.
import { cp, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AGENT_BUNDLE, type Mesh } from '../tests/testbed/mesh.ts';
import { openBed } from './bed.ts';
import { envFrom, restartAgents } from './agent-env.ts';
import { ensureBundles } from './bundles.ts';
import { CLIENT_NODE, SERVER_NODE, HAPROXY_L7, configurations, type BenchContext, type Configuration } from './configurations.ts';
import { hotFunctions, monotonicUs } from './cpu-profile.ts';
import { ensureHaproxy } from './haproxy.ts';
import { rssMiB } from './proc-stats.ts';
import { loadSummary } from './results.ts';
import { runOnce, type RunRecord } from './runner.ts';
import { appliesTo, bulk, bulkUp, multiplexed, newConnection, type HttpWorkload, type Protocol, type Workload } from './workloads.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    // Variant b's bundle (default dist/agent.mjs): pins a build while later builds replace dist/agent.mjs.
    b: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    rates: { type: 'string', default: '1000,0' },
    protocols: { type: 'string', default: 'h1' },
    json: { type: 'string' },
    profile: { type: 'string' },
    'env-a': { type: 'string', multiple: true, default: [] },
    'env-b': { type: 'string', multiple: true, default: [] },
    top: { type: 'string', default: '25' },
    'profile-rate': { type: 'string', default: '0' },
    only: { type: 'string' },
    bulk: { type: 'string' },
    'bulk-up': { type: 'string' },
    newconn: { type: 'string' },
  },
  strict: true,
});
const ROOT = fileURLToPath(new URL('../', import.meta.url));
// A: the baseline bundle (--base, default the current one) with --env-a; B: --b (default dist/agent.mjs) with --env-b.
const variants = [
  { id: 'a', bundle: values.base === undefined ? AGENT_BUNDLE : resolve(ROOT, values.base), env: envFrom(values['env-a']) },
  { id: 'b', bundle: values.b === undefined ? AGENT_BUNDLE : resolve(ROOT, values.b), env: envFrom(values['env-b']) },
];
const rounds = Math.max(1, Number(values.rounds));
const durationS = Number(values.duration);
const PROTOCOLS: readonly Protocol[] = ['h1', 'h2', 'grpc'];
const protocols = values.protocols.split(',').map((p) => p.trim()).filter((p) => p !== '');
for (const p of protocols) if (!(PROTOCOLS as readonly string[]).includes(p)) throw new Error(`--protocols: ${JSON.stringify(p)} is not one of ${PROTOCOLS.join(', ')}`);
// The suite's shapes (bench/workloads.ts): HTTP/1.1 over 16 keep-alive connections; HTTP/2 and gRPC
// over 4 connections, 16 streams in flight when closed loop.
const httpWorkloads: HttpWorkload[] = (protocols as Protocol[]).flatMap((protocol) => values.rates.split(',').map((r): HttpWorkload => {
  const rate = Number(r);
  const id = `${protocol}-${rate === 0 ? 'max' : `${rate}rps`}`;
  if (protocol !== 'h1') return { ...multiplexed(protocol, rate, { durationS, warmupS: 2 }), id };
  return { kind: 'http', id, title: '', protocol, rate, durationS, warmupS: 2, connections: 16, newConnection: false, bytes: 1024 };
}));
const MiB = 1 << 20;
for (const r of (values.newconn ?? '').split(',').filter((x) => x.trim() !== '')) httpWorkloads.push(newConnection(Number(r), { durationS, warmupS: 2 }));
const workloads: Workload[] = [
  ...httpWorkloads,
  ...(values.bulk === undefined ? [] : [bulk(Number(values.bulk) * MiB)]),
  ...(values['bulk-up'] === undefined ? [] : [bulkUp(Number(values['bulk-up']) * MiB)]),
];
const log = (m: string): void => { process.stderr.write(`ab: ${m}\n`); };

async function useVariant(mesh: Mesh, bundle: string, env: Record<string, string> = {}): Promise<void> {
  await restartAgents(mesh, env, bundle);
  await new Promise((r) => setTimeout(r, 500));
}

async function check(ctx: BenchContext, c: Configuration, protocol: Protocol = 'h1'): Promise<void> {
  const probe: HttpWorkload = { kind: 'http', id: 'check', title: '', protocol, rate: 50, durationS: 0.5, warmupS: 0, connections: 2, newConnection: false, bytes: 16 };
  for (let i = 0; i < 20; i++) {
    const r = await runOnce(ctx, c, probe, 0);
    if (r.error === undefined && r.load !== undefined && r.load.errors === 0 && r.load.count > 0) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${c.id} carries no ${protocol} traffic`);
}

/** Each workload's protocol once per configuration, so a broken path fails now, not in the table. */
async function checkAll(ctx: BenchContext, cs: Configuration[]): Promise<void> {
  const used = new Set(httpWorkloads.map((w) => w.protocol));
  if (used.size === 0) used.add('h1');
  for (const c of cs) for (const p of used) await check(ctx, c, p);
}

/** Agents' RSS after a restart and the checks, before any load: the "idle" figure, per variant. */
interface IdleRss {
  variant: string;
  round: number;
  rssMiB: (number | undefined)[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};
const r2 = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : '—');

const isBulk = (rec: RunRecord): boolean => workloads.find((w) => w.id === rec.workload)?.kind === 'bulk';

/** The bulk rows: throughput of one stream and the proxies' CPU per GiB moved. */
function bulkTable(rows: { variant: string; rec: RunRecord }[]): string {
  const out: string[] = ['| workload | config | variant | Gb/s | Gb/s per round | CPU ms/GiB n1 / n2 | errors |', '|---|---|---|--:|---|---|--:|'];
  const keys = new Map<string, RunRecord[]>();
  for (const r of rows) {
    if (!isBulk(r.rec)) continue;
    const k = `${r.rec.workload}|${r.rec.config}|${r.variant}`;
    keys.set(k, [...(keys.get(k) ?? []), r.rec]);
  }
  for (const [k, rs] of keys) {
    const [w, c, v] = k.split('|');
    const ok = rs.filter((r) => r.bulk?.ok === true);
    const cpu = (i: number): string => r2(median(ok.filter((r) => r.proxies[i] !== undefined).map((r) => r.proxies[i].cpuUs / 1000 / ((r.bulk?.bytes ?? 0) / (1 << 30)))));
    out.push(`| ${w} | ${c} | ${v} | ${r2(median(ok.map((r) => r.bulk!.gbps)))} | ${ok.map((r) => r2(r.bulk!.gbps)).join(', ')} | ${cpu(0)} / ${cpu(1)} | ${rs.length - ok.length} |`);
  }
  return out.length === 2 ? '' : `\n${out.join('\n')}\n`;
}

function table(rows: { variant: string; rec: RunRecord }[], idle: IdleRss[]): string {
  const out: string[] = [
    '| workload | config | variant | req/s | vs HAProxy L7 | p50 ms | p99 ms | added p99 ms | p99 per round | CPU µs/req n1 / n2 | RSS idle MiB n1 / n2 | max RSS MiB n1 / n2 | errors |',
    '|---|---|---|--:|--:|--:|--:|--:|---|---|---|---|--:|',
  ];
  const keys = new Map<string, { variant: string; rec: RunRecord }[]>();
  for (const r of rows) {
    if (isBulk(r.rec)) continue;
    const k = `${r.rec.workload}|${r.rec.config}|${r.variant}`;
    keys.set(k, [...(keys.get(k) ?? []), r]);
  }
  const okOf = (rs: { rec: RunRecord }[] | undefined): RunRecord[] => (rs ?? []).map((r) => r.rec).filter((r) => r.error === undefined && r.load !== undefined);
  // The references have variant '-': one run per round, whichever variant the round started with.
  const refMedian = (w: string, c: string, f: (r: RunRecord) => number): number => median(okOf(keys.get(`${w}|${c}|-`)).map(f));
  for (const [k, rs] of keys) {
    const [w, c, v] = k.split('|');
    const ok = okOf(rs);
    const per = (i: number, f: (p: { cpuUs: number; rssMaxMiB: number }, n: number) => number): string => r2(median(ok.filter((r) => r.proxies[i] !== undefined).map((r) => f(r.proxies[i], r.requests))));
    const rps = median(ok.map((r) => r.load!.achievedRps));
    const p99 = median(ok.map((r) => r.load!.p99));
    const idleOf = (i: number): string => r2(median(idle.filter((x) => x.variant === v).map((x) => x.rssMiB[i] ?? NaN).filter(Number.isFinite)));
    const rssIdle = v === '-' ? '—' : `${idleOf(0)} / ${idleOf(1)}`;
    const vsL7 = rps / refMedian(w, HAPROXY_L7, (r) => r.load!.achievedRps);
    out.push(`| ${w} | ${c} | ${v} | ${r2(rps)} | ${Number.isFinite(vsL7) ? `${Math.round(vsL7 * 100)}%` : '—'} | ${r2(median(ok.map((r) => r.load!.p50)))} | ${r2(p99)} | ${c === 'no-mesh' ? '—' : r2(p99 - refMedian(w, 'no-mesh', (r) => r.load!.p99))} | ${ok.map((r) => r2(r.load!.p99)).join(', ')} | ${per(0, (p, n) => p.cpuUs / n)} / ${per(1, (p, n) => p.cpuUs / n)} | ${rssIdle} | ${per(0, (p) => p.rssMaxMiB)} / ${per(1, (p) => p.rssMaxMiB)} | ${ok.reduce((a, r) => a + r.load!.errors, 0)} |`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  ensureBundles(log);
  ensureHaproxy();
  // Rows that need their own agent settings (the telemetry-cost rows) are left out: each variant's
  // turn restarts the agents with that variant's settings. One mesh (iptables) is what it swaps.
  // --only picks among the Weft rows; the references (no mesh, both HAProxy pairs) always run.
  const only = values.only?.split(',');
  const configs = configurations().filter((c) => c.agentEnv === undefined && c.site === 'iptables' && (!c.meshed || only === undefined || only.includes(c.id)));
  const bed = await openBed('bench-ab', configs);
  const { ctx } = bed;
  const { dir } = ctx;
  const mesh = ctx.sites.get('iptables')?.mesh;
  if (mesh === undefined) throw new Error('no iptables mesh');
  try {
    const weft = configs.filter((c) => c.meshed);
    const refs = configs.filter((c) => !c.meshed);
    const rows: { variant: string; rec: RunRecord }[] = [];
    const idle: IdleRss[] = [];
    // How busy the machine was: what tells a noisy comparison from a real difference.
    const load: number[] = [];
    const loadTimer = setInterval(() => load.push(os.loadavg()[0]), 5000);
    await checkAll(ctx, refs);
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? variants : [...variants].reverse();
      for (const v of order) {
        await useVariant(mesh, v.bundle, v.env);
        await checkAll(ctx, weft);
        await new Promise((r) => setTimeout(r, 1000));
        idle.push({ variant: v.id, round, rssMiB: [CLIENT_NODE, SERVER_NODE].map((n) => rssMiB(mesh.agentPid(n) ?? -1)) });
        for (const w of workloads) {
          for (const c of weft) {
            if (!appliesTo(w, c.id)) continue;
            const rec = await runOnce(ctx, c, w, round);
            rows.push({ variant: v.id, rec });
            log(`round ${round} ${v.id} ${w.id} ${c.id}: ${rec.error ?? (rec.bulk !== undefined ? `${rec.bulk.gbps} Gb/s ok ${rec.bulk.ok}` : `${rec.load?.achievedRps} req/s p50 ${rec.load?.p50} p99 ${rec.load?.p99} cpu ${rec.proxies.map((p) => Math.round(p.cpuUs / rec.requests)).join('/')} µs/req rss ${rec.proxies.map((p) => Math.round(p.rssMaxMiB)).join('/')}`)}`);
          }
        }
      }
      for (const w of workloads) {
        for (const c of refs) {
          if (!appliesTo(w, c.id)) continue;
          const rec = await runOnce(ctx, c, w, round);
          rows.push({ variant: '-', rec });
          log(`round ${round} ${w.id} ${c.id}: ${rec.error ?? (rec.bulk !== undefined ? `${rec.bulk.gbps} Gb/s ok ${rec.bulk.ok}` : `${rec.load?.achievedRps} req/s p50 ${rec.load?.p50} p99 ${rec.load?.p99}`)}`);
        }
      }
    }
    rows.sort((x, y) => `${x.rec.workload}${x.rec.config}${x.variant}`.localeCompare(`${y.rec.workload}${y.rec.config}${y.variant}`));
    clearInterval(loadTimer);
    const la = loadSummary(load);
    process.stdout.write(`${table(rows, idle)}\n${bulkTable(rows)}`);
    process.stdout.write(`1-minute load average during the runs: ${la === undefined ? 'n/a' : `${la.min}–${la.max} (median ${la.median}, ${la.samples} samples)`} on ${os.cpus().length} cores\n`);
    if (values.json !== undefined) {
      const file = resolve(values.json);
      await writeFile(file, JSON.stringify({ date: new Date().toISOString(), loadAverage: la, variants, workloads, idle, rows }, null, 1) + '\n');
      log(`wrote ${file}`);
    }
    const l7 = configs.find((c) => c.id === 'weft-l7');
    const profiled = l7 === undefined ? [] : variants.filter((v) => (values.profile ?? '').split(',').includes(v.id));
    for (const pv of profiled) {
      if (l7 === undefined) break;
      const profDir = (n: string): string => join(dir, `cpu-prof-${pv.id}`, n);
      for (const n of [CLIENT_NODE, SERVER_NODE]) await mkdir(profDir(n), { recursive: true });
      await restartAgents(mesh, (n) => ({ ...pv.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir(n)}` }), pv.bundle);
      await check(ctx, l7);
      const fromUs = monotonicUs();
      const last = httpWorkloads[httpWorkloads.length - 1] ?? { kind: 'http', id: 'h1-max', title: '', protocol: 'h1', rate: 0, durationS, warmupS: 2, connections: 16, newConnection: false, bytes: 1024 };
      // Closed loop by default; --profile-rate profiles an open-loop rate (where per-wakeup costs show).
      const rec = await runOnce(ctx, l7, { ...last, rate: Number(values['profile-rate']), warmupS: 1 }, 0);
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
