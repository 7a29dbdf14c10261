// Where a proxy's CPU per request goes between user space and the kernel, and which system calls
// it makes per request: the Weft L7 agents and the HAProxy L7 pair side by side on one testbed,
// one workload (HTTP/1.1 at a fixed rate by default). Each configuration runs twice: untraced, for
// the user/system split of its CPU time (/proc/PID/stat utime and stime), then under `strace -f -c`
// for the counts (strace slows the process, so that run's CPU time is not reported). Needs root
// and strace; after `node scripts/build.ts`:
//   node bench/syscalls.ts [--rate 1000] [--duration 8] [--protocol h1] [--configs weft-l7,haproxy-l7]
//     [--env WEFT_WORKERS=0]   (the agents' settings)
//     [--perf]   (also a third run under `perf record -e cpu-clock -g` per process: where the CPU time
//                 goes by object (the node binary, OpenSSL, libc, the kernel, JIT code) and by symbol;
//                 the agents then run with --perf-basic-prof so JIT frames have names)
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { envFrom, restartAgents } from './agent-env.ts';
import { openBed } from './bed.ts';
import { ensureBundles } from './bundles.ts';
import { configurations, type BenchContext, type Configuration } from './configurations.ts';
import { ensureHaproxy } from './haproxy.ts';
import { clockTicks, type WatchedProcess } from './proc-stats.ts';
import { runOnce } from './runner.ts';
import { multiplexed, type HttpWorkload, type Protocol } from './workloads.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '8' },
    protocol: { type: 'string', default: 'h1' },
    configs: { type: 'string', default: 'weft-l7,haproxy-l7' },
    env: { type: 'string', multiple: true, default: ['WEFT_WORKERS=0'] },
    perf: { type: 'boolean', default: false },
    'perf-top': { type: 'string', default: '40' },
  },
  strict: true,
});
const log = (m: string): void => { process.stderr.write(`syscalls: ${m}\n`); };

/** utime and stime of a process (all its threads), in µs. */
function userSys(pid: number): { user: number; sys: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const us = 1e6 / clockTicks();
  return { user: Number(f[11]) * us, sys: Number(f[12]) * us };
}

/** strace -c's summary table: calls per syscall name. */
function parseSummary(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    // "% time     seconds  usecs/call     calls    errors syscall"; the errors column may be empty.
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m !== null && m[2] !== 'total') out.set(m[2], (out.get(m[2]) ?? 0) + Number(m[1]));
  }
  return out;
}

/** Runs `run` with `strace -f -c` attached to each process; the calls it counted, per process. */
async function traced<T>(procs: WatchedProcess[], run: () => Promise<T>): Promise<{ result: T; calls: Map<string, number>[] }> {
  const tracers = procs.map((p) => {
    const child = spawn('strace', ['-f', '-c', '-p', String(p.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    return { child, done: new Promise<string>((res) => child.once('close', () => res(err))) };
  });
  // strace needs a moment to attach to every thread.
  await new Promise((r) => setTimeout(r, 500));
  let result: T;
  try {
    result = await run();
  } finally {
    for (const t of tracers) t.child.kill('SIGINT');
  }
  const texts = await Promise.all(tracers.map((t) => t.done));
  return { result, calls: texts.map(parseSummary) };
}

/** Runs `run` under `perf record` per process; `perf report` by object and by symbol, per process. */
async function perfRecorded(ctx: BenchContext, tag: string, procs: WatchedProcess[], run: () => Promise<unknown>): Promise<string[]> {
  // Kept after the run (the bed's directory is not), for `perf report -i FILE -S SYMBOL -g caller`.
  const keep = join(os.tmpdir(), `weft-syscalls-perf-${Date.now()}`);
  mkdirSync(keep, { recursive: true });
  const files = procs.map((p) => join(keep, `${tag}-${p.name.replace(/\W+/g, '-')}.data`));
  const recorders = procs.map((p, i) => {
    const child = spawn('perf', ['record', '-F', '1999', '-e', 'cpu-clock', '-g', '-p', String(p.pid), '-o', files[i]], { stdio: 'ignore' });
    return { child, done: new Promise<void>((res) => child.once('close', () => res())) };
  });
  await new Promise((r) => setTimeout(r, 500));
  try {
    await run();
  } finally {
    for (const r of recorders) r.child.kill('SIGINT');
  }
  await Promise.all(recorders.map((r) => r.done));
  const out: string[] = [];
  procs.forEach((p, i) => {
    for (const sort of ['dso', 'dso,sym']) {
      const r = spawnSync('perf', ['report', '-i', files[i], '--stdio', '--no-children', '--sort', sort, '--percent-limit', '0.4'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const lines = r.stdout.split('\n').filter((l) => /^\s+[\d.]+%/.test(l)).slice(0, Number(values['perf-top']));
      out.push(`${tag} ${p.name} by ${sort}:`, ...lines, '');
    }
  });
  out.push(`perf data kept in ${keep}`, '');
  return out;
}

function workload(): HttpWorkload {
  const protocol = values.protocol as Protocol;
  const rate = Number(values.rate);
  const durationS = Number(values.duration);
  const id = `${protocol}-${rate === 0 ? 'max' : `${rate}rps`}`;
  if (protocol !== 'h1') return { ...multiplexed(protocol, rate, { durationS, warmupS: 2 }), id };
  return { kind: 'http', id, title: '', protocol, rate, durationS, warmupS: 2, connections: 16, newConnection: false, bytes: 1024 };
}

async function measure(ctx: BenchContext, c: Configuration, w: HttpWorkload): Promise<string[]> {
  const lines: string[] = [];
  const procs = c.proxies(ctx);
  const before = procs.map((p) => userSys(p.pid));
  const plain = await runOnce(ctx, c, w, 1);
  if (plain.error !== undefined) throw new Error(`${c.id}: ${plain.error}`);
  const after = procs.map((p) => userSys(p.pid));
  const n = plain.requests;
  const r1 = (x: number): string => String(Math.round(x * 10) / 10);
  procs.forEach((p, i) => {
    const u = (after[i].user - before[i].user) / n;
    const s = (after[i].sys - before[i].sys) / n;
    lines.push(`| ${c.id} | ${p.name} | ${r1(u)} | ${r1(s)} | ${r1(u + s)} |`);
  });
  const { result, calls } = await traced(procs, () => runOnce(ctx, c, w, 2));
  const m = result.requests;
  const names = new Set(calls.flatMap((cm) => [...cm.keys()]));
  const rows = [...names].map((name) => ({ name, per: calls.map((cm) => (cm.get(name) ?? 0) / m) }))
    .filter((r) => r.per.some((x) => x >= 0.01))
    .sort((a, b) => b.per.reduce((x, y) => x + y, 0) - a.per.reduce((x, y) => x + y, 0));
  lines.push('', `${c.id}: system calls per request (${m} requests; ${procs.map((p) => p.name).join(' / ')})`);
  for (const r of rows) lines.push(`  ${r.name.padEnd(16)} ${r.per.map((x) => x.toFixed(2)).join(' / ')}`);
  const total = procs.map((_, i) => [...calls[i].values()].reduce((a, b) => a + b, 0) / m);
  lines.push(`  ${'all'.padEnd(16)} ${total.map((x) => x.toFixed(2)).join(' / ')}`, '');
  if (values.perf) lines.push(...await perfRecorded(ctx, c.id, procs, () => runOnce(ctx, c, w, 3)));
  return lines;
}

async function main(): Promise<void> {
  if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace is not installed (apt-get install strace)');
  ensureBundles(log);
  ensureHaproxy();
  const ids = values.configs.split(',');
  const configs = configurations().filter((c) => c.agentEnv === undefined && c.site === 'iptables' && (c.id === 'no-mesh' || ids.includes(c.id)));
  const bed = await openBed('bench-sys', configs);
  try {
    const mesh = bed.ctx.sites.get('iptables')?.mesh;
    if (mesh === undefined) throw new Error('no iptables mesh');
    const env: Record<string, string> = envFrom(values.env);
    if (values.perf) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --perf-basic-prof`.trim();
    await restartAgents(mesh, env);
    const w = workload();
    const out: string[] = ['| config | process | user µs/req | system µs/req | CPU µs/req |', '|---|---|--:|--:|--:|'];
    const detail: string[] = [];
    for (const c of configs.filter((x) => x.id !== 'no-mesh')) {
      const l = await measure(bed.ctx, c, w);
      const split = l.indexOf('');
      out.push(...l.slice(0, split));
      detail.push(...l.slice(split));
      log(`${c.id} done`);
    }
    process.stdout.write(`${w.id}\n${out.join('\n')}\n${detail.join('\n')}\n`);
  } finally {
    await bed.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`syscalls: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
