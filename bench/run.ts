// The benchmark: `npm run bench` (short profile, ~10 minutes), `npm run bench -- --full`, or
// `--smoke` (~1 minute, what tests/bench/bench-smoke.test.ts runs). One testbed with two nodes;
// every configuration (bench/configurations.ts) gets a client pod on n1 and a server pod on n2;
// each workload runs round by round, configurations interleaved, and the README reports medians.
// Needs root (network namespaces). Leaves nothing behind: the testbed, the mesh, HAProxy and the
// iptables rules go away in `finally`, and the testbed's own exit hooks cover a crash.
// The eBPF rows run on a second testbed whose agents redirect with tc eBPF (`--no-ebpf` leaves
// them out). The control figures come from bench/ca-signing.ts and bench/control-scale.ts: run by
// the profiles that say so, otherwise read from their newest saved results.
//   node bench/run.ts [--smoke|--full] [--quiet-machine] [--render results/X.json] [--out DIR] [--readme FILE] [--rounds N] [--no-profile | --profile-seconds S] [--no-ebpf]
//     [--name TESTBED] (default bench-run / bench-smoke; the eBPF testbed's is ebpf-<name>)
//     [--configs id,id,...]   (only these rows; no-mesh is always kept as the baseline; the smoke
//     profile leaves the telemetry-cost rows out unless they are named)
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureBundles } from './bundles.ts';
import { CLIENT_NODE, SERVER_NODE, configurations, siteOf, type BenchContext, type Configuration } from './configurations.ts';
import { hotFunctions, monotonicUs } from './cpu-profile.ts';
import { AgentEnvironments, restartAgents } from './agent-env.ts';
import { waitForQuietTicks } from './agent-quiet.ts';
import { openBed } from './bed.ts';
import { ensureHaproxy, findHaproxy } from './haproxy.ts';
import { TELEMETRY_ROWS } from './telemetry-configurations.ts';
import { latestSideResult } from './lib/side-results.ts';
import { ProcessWatch } from './proc-stats.ts';
import { writeReport } from './readme.ts';
import { loadSummary, type BenchResults, type CaSigningResult, type ControlScaleResult, type HotSpots, type IdleReading, type MachineInfo } from './results.ts';
import { runOnce, type RunRecord } from './runner.ts';
import { appliesTo, profile as pickProfile, type HttpWorkload, type Protocol } from './workloads.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    out: { type: 'string' },
    readme: { type: 'string' },
    rounds: { type: 'string' },
    'no-profile': { type: 'boolean', default: false },
    'profile-seconds': { type: 'string' },
    'no-ebpf': { type: 'boolean', default: false },
    name: { type: 'string' },
    configs: { type: 'string' },
    // Say so when nothing else ran: the README's "this run" line reports it.
    'quiet-machine': { type: 'boolean', default: false },
    // Re-render the README (tables, plots) from a saved results JSON, without running anything.
    render: { type: 'string' },
  },
  strict: true,
});

const prof = pickProfile(values.smoke ? 'smoke' : values.full ? 'full' : 'short');
if (values.rounds !== undefined) prof.rounds = Math.max(1, Number(values.rounds) || 1);
if (values['profile-seconds'] !== undefined) prof.profileS = Math.max(0, Number(values['profile-seconds']) || 0);
if (values['no-profile']) prof.profileS = 0;
const outDir = values.out ?? join(ROOT, 'bench/results');
const readmePath = values.readme ?? (values.out === undefined ? join(ROOT, 'bench/README.md') : join(outDir, 'README.md'));

const log = (msg: string): void => { process.stderr.write(`bench: ${msg}\n`); };

function machine(): MachineInfo {
  const ha = spawnSync(findHaproxy() ?? 'haproxy', ['-v'], { encoding: 'utf8' }).stdout ?? '';
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    haproxy: /HAProxy version (\S+)/.exec(ha)?.[1] ?? 'unknown',
    shared: !values['quiet-machine'],
  };
}

/** The figures of the separate control scripts: run now when the profile says so, else the newest saved. */
async function controlFigures(): Promise<Pick<BenchResults, 'caSigning' | 'controlScale'>> {
  const script = async (file: string, args: string[], timeoutMs: number): Promise<void> => {
    log(`running bench/${file} ${args.join(' ')}`);
    const r = spawnSync(process.execPath, [...(file === 'control-scale.ts' ? ['--expose-gc'] : []), join(ROOT, 'bench', file), ...args], {
      encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.status !== 0) log(`bench/${file} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-1000)}; using its newest saved result`);
  };
  if (prof.runCaSigning) await script('ca-signing.ts', ['3000'], 120_000);
  if (prof.runControlScale) await script('control-scale.ts', ['--pods', '50000', '--nodes', '1000', '--agents', '1000', '--changes', '10'], 900_000);
  return {
    caSigning: await latestSideResult<CaSigningResult>('ca-signing'),
    controlScale: await latestSideResult<ControlScaleResult>('control-scale'),
  };
}

async function main(): Promise<void> {
  if (values.render !== undefined) {
    const file = resolve(values.render);
    const saved = JSON.parse(await readFile(file, 'utf8')) as BenchResults;
    if (values['quiet-machine']) saved.machine.shared = false;
    await writeReport(saved, readmePath, dirname(file), basename(file));
    log(`rendered ${readmePath} from ${file}`);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('the bench builds network namespaces: run it as root');
  const started = Date.now();
  ensureBundles(log);
  ensureHaproxy();
  const only = values.configs?.split(',').map((x) => x.trim());
  const wanted = (c: Configuration): boolean => {
    if (values['no-ebpf'] && c.site === 'ebpf') return false;
    return only === undefined ? prof.name !== 'smoke' || !TELEMETRY_ROWS.includes(c.id) : c.id === 'no-mesh' || only.includes(c.id);
  };
  const configs = configurations().filter(wanted);
  const agentEnvs = new AgentEnvironments();
  const bed = await openBed(values.name ?? (prof.name === 'smoke' ? 'bench-smoke' : 'bench-run'), configs);
  const { ctx } = bed;
  const { workers } = ctx;
  try {
    // The rows that restart the agents with settings of their own (telemetry off, tracing on) are
    // checked first, so the agents left running for the idle reading are the default ones every
    // other Weft row measures — not, as before, the last row's traced agents.
    const ownEnvFirst = [...configs].sort((a, b) => Number(b.agentEnv !== undefined) - Number(a.agentEnv !== undefined));
    await checkPaths(ctx, ownEnvFirst, ['h1', 'h2', 'grpc'], agentEnvs);
    // Idle: after the mesh has carried one check request per configuration and the agents have had
    // a quiet interval since (two reclaim ticks): an agent a second after traffic is not idle.
    const sites = [...new Set(configs.filter((c) => c.meshed).map((c) => c.site))];
    const quietS = await Promise.all(sites.map((s) => waitForQuietTicks(ctx.sites.get(s)!.mesh)));
    log(`idle reading after ${quietS.join(' / ')} s of quiet (${sites.join(' / ')})`);
    // Only the rows whose agents run now: the own-settings rows' agents have been replaced.
    const idleProcs = configs.filter((c) => c.agentEnv === undefined).flatMap((c) => c.proxies(ctx).map((p) => ({ config: c.id, ...p })));
    const idleWatch = new ProcessWatch(idleProcs);
    const idleMs = 3000;
    await new Promise((r) => setTimeout(r, idleMs));
    const idle: IdleReading[] = idleWatch.stop().map((u, i) => ({
      config: idleProcs[i].config, name: u.name, rssMiB: u.rssMaxMiB, cpuPercent: Math.round((u.cpuUs / (idleMs * 1000)) * 1000) / 10,
    }));

    const runs: RunRecord[] = [];
    const results: BenchResults = {
      date: new Date().toISOString(), profile: prof.name, rounds: prof.rounds, workers, agentWorkers: 'default', machine: machine(),
      configs: configs.map((c) => ({ id: c.id, label: c.label, path: c.path })), workloads: prof.workloads, idle, runs, hotSpots: [], durationS: 0,
    };
    // How busy the machine was: on a shared machine this is what tells a noisy run from a slow path.
    const load: number[] = [];
    const loadTimer = setInterval(() => load.push(os.loadavg()[0]), 5000);
    for (const w of prof.workloads) {
      const rounds = w.kind === 'idle' ? (w.rounds ?? prof.rounds) : prof.rounds;
      for (let round = 1; round <= rounds; round++) {
        for (const c of configs) {
          if (!appliesTo(w, c.id)) continue;
          await agentEnvs.use(ctx, c);
          const rec = await runOnce(ctx, c, w, round);
          runs.push(rec);
          log(`${w.id} round ${round} ${c.id}: ${summary(rec)}`);
        }
      }
    }
    clearInterval(loadTimer);
    results.machine.loadAverage = loadSummary(load);
    log(`agents restarted ${agentEnvs.restarts} times to switch settings between rows`);
    if (prof.profileS > 0) results.hotSpots = await profileAgents(ctx, configs, prof.profileS, agentEnvs);
    // After the data-plane runs, so the control scripts' CPU does not disturb them.
    Object.assign(results, await controlFigures());
    results.durationS = Math.round((Date.now() - started) / 1000);
    await mkdir(outDir, { recursive: true });
    const stamp = results.date.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
    await writeFile(join(outDir, `${stamp}.json`), JSON.stringify(results, null, 1) + '\n');
    await writeReport(results, readmePath, outDir, `${stamp}.json`);
    log(`wrote ${join(outDir, `${stamp}.json`)} and ${readmePath} in ${results.durationS} s`);
  } finally {
    await bed.close();
  }
}

function summary(r: RunRecord): string {
  if (r.error !== undefined) return `FAILED ${r.error.slice(0, 300)}`;
  if (r.bulk !== undefined) return `${r.bulk.gbps} Gb/s${r.bulk.ok ? '' : ' (not ok)'}`;
  if (r.idle !== undefined) {
    const mem = r.idle.memory.map((m) => `${m.name} ${m.beforeMiB.toFixed(1)} → ${m.heldMiB.toFixed(1)} MiB`).join(', ');
    return `${r.idle.open}/${r.idle.target} held in ${r.idle.openMs} ms, failed ${JSON.stringify(r.idle.failed)}; ${mem}`;
  }
  const l = r.load!;
  const cpu = r.proxies.map((p) => `${p.name} ${(p.cpuUs / Math.max(1, r.requests)).toFixed(1)} µs/req`).join(', ');
  return `${l.achievedRps} req/s p50 ${l.p50} p99 ${l.p99} ms errors ${l.errors}${cpu === '' ? '' : `; ${cpu}`}`;
}

/** One short request burst per configuration and protocol: a broken path fails the run now, not after minutes. */
async function checkPaths(ctx: BenchContext, configs: Configuration[], protocols: Protocol[], agentEnvs?: AgentEnvironments): Promise<void> {
  for (const c of configs) {
    await agentEnvs?.use(ctx, c);
    for (const protocol of protocols) {
      const probe: HttpWorkload = { kind: 'http', id: 'check', title: 'check', protocol, rate: 20, durationS: 0.5, warmupS: 0, connections: 2, newConnection: false, bytes: 16 };
      const r = await runOnce(ctx, c, probe, 0);
      if (r.error !== undefined || r.load === undefined || r.load.errors > 0 || r.load.count === 0) {
        throw new Error(`configuration ${c.id} does not carry ${protocol} traffic: ${r.error ?? JSON.stringify(r.load?.errorCodes)}`);
      }
    }
  }
}

/** Restarts both agents under --cpu-prof, drives the Weft path at full speed, and ranks self time. */
async function profileAgents(ctx: BenchContext, configs: Configuration[], seconds: number, agentEnvs: AgentEnvironments): Promise<HotSpots[]> {
  const weft = configs.find((c) => c.id === 'weft-l7');
  if (weft === undefined) return [];
  // Restarted below with the default settings (weft-l7's), whatever row ran last.
  agentEnvs.forget(weft.site);
  const { mesh } = siteOf(ctx, weft);
  const nodes = [CLIENT_NODE, SERVER_NODE];
  const profDir = (n: string): string => join(ctx.dir, 'cpu-prof', n);
  for (const n of nodes) await mkdir(profDir(n), { recursive: true });
  await restartAgents(mesh, (n) => ({ NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir(n)}` }));
  await checkPaths(ctx, [weft], ['h1']);
  const w: HttpWorkload = { kind: 'http', id: 'profile', title: 'profile', protocol: 'h1', rate: 0, durationS: seconds, warmupS: 1, connections: 16, newConnection: false, bytes: 1024 };
  const fromUs = monotonicUs();
  const rec = await runOnce(ctx, weft, w, 0);
  // The load-cli process starts in ~0.3 s and warms up for 1 s: count from then to the end.
  const window = { fromUs: fromUs + 1_500_000, toUs: monotonicUs() };
  log(`profile run: ${summary(rec)}`);
  // A clean stop is what makes V8 write the profiles.
  for (const n of nodes) await mesh.stopAgent(n);
  const out: HotSpots[] = [];
  for (const n of nodes) out.push({ node: n, workload: `closed loop ${seconds} s, 16 connections, 1 KiB`, ...(await hotFunctions(profDir(n), 5, window)) });
  return out;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
