// Where an agent's memory goes, two agent environments side by side: idle, and then holding N idle
// HTTP/1.1 connections from a client pod to a server pod on the other node, once on a port the
// agents sniff (L7: the captured socket idle in keep-alive, and a pooled HTTP/2 stream between the
// agents) and once on a WEFT_OPAQUE_PORTS port (the captured socket plus an HBONE tunnel stream).
// Each reading: VmRSS, anonymous and file-backed RSS (/proc/PID/status) and the agent's own heap
// figures (/config_dump/memory); per connection = (held − idle) / held. Agents are restarted for
// every phase so no phase starts from a heap another grew. The mechanism of the full bench's idle
// row (bench/lib/hold-cli.ts), without the rest of it. Needs root; after `node scripts/build.ts`:
//   node bench/agent-memory.ts --env-a WEFT_WORKERS=2 --env-b WEFT_WORKERS=1 [--connections 10000]
//     [--rounds 2] [--settle 10] [--phases idle,l7,opaque] [--base dist-base/agent.mjs]
// --base: variant a runs that build (a baseline built as for bench/ab.ts), b runs dist/agent.mjs.
// --env-a / --env-b: K=V,K=V for the agents of each variant (NODE_OPTIONS too, e.g.
// NODE_OPTIONS=--max-semi-space-size=1). Variants alternate order every round (the machine's load
// drifts).
// --heapsnapshot: after each held reading of variant b, SIGUSR2 to both agents and a wait for the
// file (give variant b NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR): where the
// per-connection bytes of the JS heap are, by constructor, in DevTools or bench/lib/heap-classes.ts.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { appPath, startApp, type RunningApp } from '../tests/apps/spawn-app.ts';
import { withTestbed } from '../tests/testbed/index.ts';
import { AGENT_BUNDLE, Mesh } from '../tests/testbed/mesh.ts';
import { nofile } from './configurations.ts';
import { formatReading, readAgent, type Reading } from './lib/agent-memory-reading.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' }, settle: { type: 'string', default: '10' }, connections: { type: 'string', default: '10000' },
    phases: { type: 'string', default: 'idle,l7,opaque' }, base: { type: 'string' }, 'env-a': { type: 'string', default: '' }, 'env-b': { type: 'string', default: '' },
    heapsnapshot: { type: 'boolean', default: false },
  },
  strict: true,
});
const envOf = (spec: string): Record<string, string> => Object.fromEntries(spec.split(',').filter((kv) => kv !== '').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const variants = [
  { id: 'a', spec: `${values.base ?? 'dist/agent.mjs'} ${values['env-a']}`, env: envOf(values['env-a']), bundle: values.base === undefined ? AGENT_BUNDLE : resolve(ROOT, values.base) },
  { id: 'b', spec: `dist/agent.mjs ${values['env-b']}`, env: envOf(values['env-b']), bundle: AGENT_BUNDLE },
];
const phases = values.phases.split(',') as Array<'idle' | 'l7' | 'opaque'>;
const N = Number(values.connections);
const HOLD_CLI = fileURLToPath(new URL('./lib/hold-cli.ts', import.meta.url));
const NODES = ['n1', 'n2'] as const;
const L7_PORT = 8080;
const OPAQUE_PORT = 8081;

const MiB = 1024 * 1024;
const read = readAgent;
const fmt = formatReading;
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

const teardowns: Array<() => unknown> = [];
const host = { teardown: (fn: () => unknown) => { teardowns.push(fn); } };
const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

try {
  const tb = await withTestbed(host, { name: 'agent-mem', nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] }, { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] }] });
  const server = tb.pod('server');
  const launchIn = (netns: string) => (cmd: string, a: string[]) => tb.spawn(netns, 'prlimit', [`--nofile=${nofile()}:${nofile()}`, cmd, ...a]);
  const apps: RunningApp[] = [];
  teardowns.push(() => Promise.all(apps.map((a) => a.stop(1000))));
  for (const port of [L7_PORT, OPAQUE_PORT]) apps.push(await startApp(appPath('http-server.ts'), ['--port', String(port), '--name', 'mem', '--keep-alive', '600000'], 15_000, launchIn(server.netns)));
  const mesh = await Mesh.start(tb, {
    cluster: { meshedNamespaces: ['demo'], services: [] },
    agentEnv: { WEFT_OPAQUE_PORTS: String(OPAQUE_PORT), WEFT_MAX_CONNECTIONS_PER_WORKLOAD: '65536' },
  });
  teardowns.push(() => mesh.stop());
  const out = new Map<string, Reading[]>();
  const push = (k: string, r: Reading): void => { out.set(k, [...(out.get(k) ?? []), r]); };
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      for (const phase of phases) {
        for (const n of NODES) await mesh.stopAgent(n);
        for (const n of NODES) await mesh.startAgent(n, v.env, { bundle: v.bundle });
        await Promise.all(NODES.map((n) => mesh.waitReady(n)));
        await sleep(Number(values.settle));
        const idle = await Promise.all(NODES.map((n) => read(mesh, n)));
        if (phase === 'idle') {
          NODES.forEach((n, i) => { push(`${v.id} idle ${n}`, idle[i]); process.stderr.write(`round ${round + 1} ${v.id} idle ${n}: ${fmt(idle[i])}\n`); });
          continue;
        }
        NODES.forEach((n, i) => { process.stderr.write(`round ${round + 1} ${v.id} ${phase} ${n} before: ${fmt(idle[i])}\n`); });
        const url = `http://${server.ip}:${phase === 'l7' ? L7_PORT : OPAQUE_PORT}/`;
        const hold = await startApp(HOLD_CLI, ['--url', url, '--connections', String(N), '--parallel', '200', '--timeout', '60000'], 15_000, launchIn(tb.pod('client').netns));
        try {
          const est = await hold.waitForLine((l) => l.established === true, 600_000) as { open: number; failed: Record<string, number> };
          await sleep(Number(values.settle));
          const held = await Promise.all(NODES.map((n) => read(mesh, n)));
          NODES.forEach((n, i) => {
            const per = ((held[i].rss - idle[i].rss) * MiB) / Math.max(1, est.open);
            const perAnon = ((held[i].anon - idle[i].anon) * MiB) / Math.max(1, est.open);
            push(`${v.id} ${phase} ${n}`, held[i]);
            process.stderr.write(`round ${round + 1} ${v.id} ${phase} ${n}: ${est.open} held (failed ${JSON.stringify(est.failed)}): ${fmt(held[i])}; +${(held[i].rss - idle[i].rss).toFixed(1)} MiB = ${(per / 1024).toFixed(2)} KiB/conn (anon ${(perAnon / 1024).toFixed(2)}), heap +${(held[i].heapUsed - idle[i].heapUsed).toFixed(1)}\n`);
          });
          if (values.heapsnapshot && v.id === 'b') {
            for (const n of NODES) process.kill(mesh.agentPid(n) ?? -1, 'SIGUSR2');
            await sleep(30);
          }
        } finally {
          await hold.stop(5000);
        }
      }
    }
  }
  for (const [k, rs] of out) process.stdout.write(`${k} [${variants.find((v) => v.id === k[0])?.spec}]: median rss ${median(rs.map((r) => r.rss)).toFixed(1)} MiB, anon ${median(rs.map((r) => r.anon)).toFixed(1)}, heap used ${median(rs.map((r) => r.heapUsed)).toFixed(1)} MiB, heap total ${median(rs.map((r) => r.heapTotal)).toFixed(1)}, external ${median(rs.map((r) => r.external)).toFixed(1)} (n=${rs.length})\n`);
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
