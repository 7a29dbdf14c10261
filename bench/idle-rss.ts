// Idle RSS of the agent, two builds side by side: each variant's agents start on the same small
// testbed, sit idle, and their VmRSS is read from /proc (median of the rounds). With --otlp the
// agents also export (traces, metrics and logs) to an OTLP receiver in n1's namespace, so the
// cost of loading the OpenTelemetry chunk shows. Needs root. From the repository root, after
// `node scripts/build.ts` and a baseline copied as for bench/ab.ts:
//   node bench/idle-rss.ts --base dist/agent-base.mjs [--rounds 3] [--settle 15] [--otlp]
// --env-a / --env-b (K=V,K=V) give each variant its own agent environment instead, e.g. one build
// with workers against the proxy inline:
//   node bench/idle-rss.ts --env-a WEFT_WORKERS=2 --env-b WEFT_WORKERS=1
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { withTestbed } from '../tests/testbed/index.ts';
import { AGENT_BUNDLE, Mesh } from '../tests/testbed/mesh.ts';
import { otlpReceiverOnNode } from '../tests/e2e/helpers.ts';

const { values } = parseArgs({ options: { base: { type: 'string' }, rounds: { type: 'string', default: '3' }, settle: { type: 'string', default: '15' }, otlp: { type: 'boolean', default: false }, 'env-a': { type: 'string', default: '' }, 'env-b': { type: 'string', default: '' } }, strict: true });
const envOf = (spec: string): Record<string, string> => Object.fromEntries(spec.split(',').filter((kv) => kv !== '').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const variants = [
  { id: 'a', bundle: values.base === undefined ? AGENT_BUNDLE : resolve(ROOT, values.base), env: envOf(values['env-a']) },
  { id: 'b', bundle: AGENT_BUNDLE, env: envOf(values['env-b']) },
];
const teardowns: Array<() => unknown> = [];
const host = { teardown: (fn: () => unknown) => { teardowns.push(fn); } };

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]) / 1024;
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

try {
  const tb = await withTestbed(host, { name: 'idle-rss', nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] }, { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] }] });
  const rx = values.otlp ? await otlpReceiverOnNode(tb, 'n1') : undefined;
  if (rx !== undefined) teardowns.push(() => rx.stop());
  const env: Record<string, string> = rx === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: rx.endpoint, WEFT_ACCESS_LOG: 'true' };
  const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'], services: [] }, agentEnv: env });
  teardowns.push(() => mesh.stop());
  const out: Record<string, { n1: number[]; n2: number[] }> = { a: { n1: [], n2: [] }, b: { n1: [], n2: [] } };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
      for (const n of ['n1', 'n2']) await mesh.stopAgent(n);
      for (const n of ['n1', 'n2']) await mesh.startAgent(n, v.env, { bundle: v.bundle });
      await Promise.all(['n1', 'n2'].map((n) => mesh.waitReady(n)));
      await new Promise((res) => setTimeout(res, Number(values.settle) * 1000));
      for (const n of ['n1', 'n2'] as const) out[v.id][n].push(rssMiB(mesh.agentPid(n) ?? -1));
      process.stderr.write(`idle-rss: round ${r + 1} ${v.id}: n1 ${out[v.id].n1.at(-1)?.toFixed(1)} MiB, n2 ${out[v.id].n2.at(-1)?.toFixed(1)} MiB\n`);
    }
  }
  for (const v of variants) process.stdout.write(`${v.id} (${v.bundle}${Object.keys(v.env).length > 0 ? ` ${values[`env-${v.id}` as 'env-a']}` : ''}): idle RSS median n1 ${median(out[v.id].n1).toFixed(1)} MiB, n2 ${median(out[v.id].n2).toFixed(1)} MiB${values.otlp ? ' (OTLP export on)' : ''}\n`);
} finally {
  for (const fn of teardowns.reverse()) await fn();
}
