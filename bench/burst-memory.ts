// Does an agent give back what a burst of connections took? Two builds side by side, the scenario
// a user sees: a fresh agent idles; 10 000 idle HTTP/1.1 connections come through the L7 port and
// are held; they close; the agent idles; 10 000 come through an opaque (WEFT_OPAQUE_PORTS) port;
// they close; it idles again. Both agents (client n1, server n2) are read at every step: VmRSS,
// anonymous / file-backed, the V8 heap and the reclaim counters (bench/lib/agent-memory-reading.ts),
// once 2 s after the close (what bench/run.ts's idle-connection rows used to start the next row
// from) and once after --quiet seconds with no traffic (what "idle" means to a user; the agent's
// reclaim needs one quiet WEFT_MEMORY_RECLAIM_MS interval). Agents restart for every variant and
// round; variants alternate order each round. Needs root; after `node scripts/build.ts`:
//   flock /tmp/weft-e2e.lock node bench/burst-memory.ts --base /tmp/s11base-dist/agent.mjs
//     [--b dist/agent.mjs] [--connections 10000] [--rounds 1] [--settle 12] [--quiet 25]
//     [--env K=V,K=V] (both variants; WEFT_WORKERS=0 unless given)
// --smaps DIR: each agent's /proc/PID/smaps at every step, as DIR/VARIANT-ROUND-NODE-STEP.smaps, for
// bench/lib/smaps-classes.ts (what kind of pages a step kept: glibc arenas, V8's, the binary's).
// --malloc-info (with --smaps): glibc's malloc_info XML of each agent beside them at the idle steps (gdb).
// --snapshot: a heap snapshot of variant b's agents when fresh and at the end (SIGUSR2; give
// --env NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR), for bench/lib/heap-classes.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { appPath, startApp, type RunningApp } from '../tests/apps/spawn-app.ts';
import { withTestbed } from '../tests/testbed/index.ts';
import { AGENT_BUNDLE, Mesh } from '../tests/testbed/mesh.ts';
import { envFrom } from './agent-env.ts';
import { nofile } from './configurations.ts';
import { formatReading, readAgent, type Reading } from './lib/agent-memory-reading.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' }, b: { type: 'string' }, connections: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '1' },
    settle: { type: 'string', default: '12' }, quiet: { type: 'string', default: '25' }, env: { type: 'string', default: '' },
    snapshot: { type: 'boolean', default: false }, smaps: { type: 'string' }, 'malloc-info': { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.base === undefined) throw new Error('--base BUNDLE: the build to compare against');
const ROOT = fileURLToPath(new URL('../', import.meta.url));
// Inline agents (WEFT_WORKERS=0 on this 2-core machine), as the suite runs them (bench/bed.ts).
const env = { WEFT_WORKERS: '0', ...envFrom(values.env.split(',').filter((kv) => kv !== '')) };
const variants = [
  { id: 'a', bundle: resolve(ROOT, values.base) },
  { id: 'b', bundle: values.b === undefined ? AGENT_BUNDLE : resolve(ROOT, values.b) },
];
const N = Number(values.connections);
const SETTLE = Number(values.settle);
const QUIET = Number(values.quiet);
const HOLD_CLI = fileURLToPath(new URL('./lib/hold-cli.ts', import.meta.url));
const NODES = ['n1', 'n2'] as const;
const PORTS = { l7: 8080, opaque: 8081 };
const STEPS = ['fresh idle', 'l7 held', 'l7 closed +2s', 'l7 closed quiet', 'opaque held', 'opaque closed +2s', 'opaque closed quiet'] as const;

const teardowns: Array<() => unknown> = [];
const host = { teardown: (fn: () => unknown) => { teardowns.push(fn); } };
const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

try {
  const tb = await withTestbed(host, { name: 'burst-mem', nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] }, { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] }] });
  const server = tb.pod('server');
  const launchIn = (netns: string) => (cmd: string, a: string[]) => tb.spawn(netns, 'prlimit', [`--nofile=${nofile()}:${nofile()}`, cmd, ...a]);
  const apps: RunningApp[] = [];
  teardowns.push(() => Promise.all(apps.map((a) => a.stop(1000))));
  for (const port of Object.values(PORTS)) apps.push(await startApp(appPath('http-server.ts'), ['--port', String(port), '--name', 'mem', '--keep-alive', '600000'], 15_000, launchIn(server.netns)));
  const mesh = await Mesh.start(tb, {
    cluster: { meshedNamespaces: ['demo'], services: [] },
    agentEnv: { WEFT_OPAQUE_PORTS: String(PORTS.opaque), WEFT_MAX_CONNECTIONS_PER_WORKLOAD: '65536' },
  });
  teardowns.push(() => mesh.stop());
  const out = new Map<string, Reading[]>();
  const take = async (v: string, round: number, step: string): Promise<void> => {
    const rs = await Promise.all(NODES.map((n) => readAgent(mesh, n)));
    NODES.forEach((n, i) => {
      out.set(`${v} ${n} ${step}`, [...(out.get(`${v} ${n} ${step}`) ?? []), rs[i]]);
      process.stderr.write(`${new Date().toISOString().slice(11, 19)} round ${round} ${v} ${n} ${step}: ${formatReading(rs[i])}\n`);
    });
    if (values.smaps !== undefined) {
      mkdirSync(values.smaps, { recursive: true });
      // /proc files report size 0: copyFile would copy nothing.
      for (const n of NODES) {
        const pid = mesh.agentPid(n) ?? -1;
        const base = join(values.smaps, `${v}-${round}-${n}-${step.replaceAll(' ', '-')}`);
        writeFileSync(`${base}.smaps`, readFileSync(`/proc/${pid}/smaps`));
        // glibc's own account of its arenas (in use / free per arena), at the idle steps only:
        // gdb stops the agent for a second or two.
        if (values['malloc-info'] && (step.includes('quiet') || step === 'fresh idle')) {
          spawnSync('gdb', ['-p', String(pid), '-batch', '-ex', `set $f = (void*)fopen("${base}.malloc.xml","w")`, '-ex', 'call (int)malloc_info(0,$f)', '-ex', 'call (int)fclose($f)'], { stdio: 'ignore', timeout: 60_000 });
        }
      }
    }
    if (values.snapshot && v === 'b' && (step === 'fresh idle' || step === 'opaque closed quiet')) {
      for (const n of NODES) process.kill(mesh.agentPid(n) ?? -1, 'SIGUSR2');
      await sleep(20);
    }
  };
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const v of round % 2 === 1 ? variants : [...variants].reverse()) {
      for (const n of NODES) await mesh.stopAgent(n);
      for (const n of NODES) await mesh.startAgent(n, env, { bundle: v.bundle });
      await Promise.all(NODES.map((n) => mesh.waitReady(n)));
      await sleep(SETTLE);
      await take(v.id, round, 'fresh idle');
      for (const path of ['l7', 'opaque'] as const) {
        const hold = await startApp(HOLD_CLI, ['--url', `http://${server.ip}:${PORTS[path]}/`, '--connections', String(N), '--parallel', '200', '--timeout', '60000'], 15_000, launchIn(tb.pod('client').netns));
        try {
          const est = await hold.waitForLine((l) => l.established === true, 600_000) as { open: number; failed: Record<string, number> };
          process.stderr.write(`round ${round} ${v.id} ${path}: ${est.open} held, failed ${JSON.stringify(est.failed)}\n`);
          await sleep(5);
          await take(v.id, round, `${path} held`);
        } finally {
          await hold.stop(5000);
        }
        await sleep(2);
        await take(v.id, round, `${path} closed +2s`);
        await sleep(QUIET - 2);
        await take(v.id, round, `${path} closed quiet`);
      }
    }
  }
  process.stdout.write(`RSS in MiB (anonymous / file-backed), median of ${values.rounds} round(s); a = ${variants[0].bundle}, b = ${variants[1].bundle}; ${N} connections, quiet ${QUIET} s\n`);
  for (const n of NODES) {
    for (const step of STEPS) {
      const cell = (v: string): string => {
        const rs = out.get(`${v} ${n} ${step}`) ?? [];
        return rs.length === 0 ? '-' : `${median(rs.map((r) => r.rss)).toFixed(1)} (${median(rs.map((r) => r.anon)).toFixed(1)} / ${median(rs.map((r) => r.file)).toFixed(1)}) heap ${median(rs.map((r) => r.heapTotal)).toFixed(1)}`;
      };
      process.stdout.write(`${n} ${step.padEnd(20)} a ${cell('a').padEnd(36)} b ${cell('b')}\n`);
    }
  }
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
