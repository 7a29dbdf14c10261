// What an agent keeps per request past a scavenge: two V8 heap snapshots of each agent a few
// seconds apart under steady load, and the objects alive in the second that were born after the
// first (snapshot ids only grow), grouped by constructor with their most common retainer. Under a
// constant rate what is in flight is a few dozen requests; a group that counts in the thousands is
// per-request state kept longer than a request (a ring, a map keyed by stream, a record kept until
// a flush). Between the two, V8's sampling heap profiler records by allocation stack what no
// scavenge freed (promoted, or still alive): where what `bench/gc-trace.ts` counts comes from —
// including what dies promoted, which no snapshot shows (an old object that died still roots the
// young objects it points to until a mark-compact). Also prints the built-in modules each agent
// loaded (process.moduleLoadList), to see whether node:http2 or node:http is on a path.
//   node bench/heap-diff.ts [--protocol h1|h2|grpc] [--rate 1000] [--gap 4] [--top 25] [--env WEFT_WORKERS=0 ...]
//     [--keep DIR]   (keep the .heapsnapshot files and the agents' logs there; DevTools' comparison view reads the snapshots)
// Needs root. Not a test: it prints a table. Writing a snapshot stops the agent for about a second;
// the load generator's latency figures of this run mean nothing.
import { mkdtemp, readFile, readdir, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AGENT_BUNDLE } from '../tests/testbed/mesh.ts';
import { envFrom, restartAgents } from './agent-env.ts';
import { openBed } from './bed.ts';
import { ensureBundles } from './bundles.ts';
import { CLIENT_NODE, SERVER_NODE, configurations } from './configurations.ts';
import { runOnce } from './runner.ts';
import { multiplexed, type HttpWorkload } from './workloads.ts';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'h1' },
    rate: { type: 'string', default: '1000' },
    gap: { type: 'string', default: '4' },
    top: { type: 'string', default: '25' },
    env: { type: 'string', multiple: true, default: [] },
    keep: { type: 'string' },
  },
  strict: true,
});
const log = (m: string): void => { process.stderr.write(`heap-diff: ${m}\n`); };
const agentEnv: Record<string, string> = envFrom(values.env);

/** The parts of a .heapsnapshot this reads (V8's JSON layout, described by its own meta). */
interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface Group { key: string; count: number; bytes: number; retainer: string }

/** Objects of `after` whose id is above every id of `before`, by type and name, most bytes first. */
export function newSurvivors(before: Snapshot, after: Snapshot): Group[] {
  const nf = after.snapshot.meta.node_fields.length;
  const idAt = after.snapshot.meta.node_fields.indexOf('id');
  const nameAt = after.snapshot.meta.node_fields.indexOf('name');
  const typeAt = after.snapshot.meta.node_fields.indexOf('type');
  const sizeAt = after.snapshot.meta.node_fields.indexOf('self_size');
  const ecAt = after.snapshot.meta.node_fields.indexOf('edge_count');
  const ef = after.snapshot.meta.edge_fields.length;
  const eTypeAt = after.snapshot.meta.edge_fields.indexOf('type');
  const eNameAt = after.snapshot.meta.edge_fields.indexOf('name_or_index');
  const eToAt = after.snapshot.meta.edge_fields.indexOf('to_node');
  const types = after.snapshot.meta.node_types[0];
  const eTypes = after.snapshot.meta.edge_types[0];
  let maxBefore = 0;
  const bnf = before.snapshot.meta.node_fields.length;
  const bIdAt = before.snapshot.meta.node_fields.indexOf('id');
  for (let i = 0; i < before.nodes.length; i += bnf) maxBefore = Math.max(maxBefore, before.nodes[i + bIdAt]);
  const n = after.nodes;
  const keyOf = (i: number): string => {
    const t = types[n[i + typeAt]];
    const name = t === 'string' || t === 'concatenated string' || t === 'sliced string' ? '' : after.strings[n[i + nameAt]].slice(0, 60);
    return `${t}:${name}`;
  };
  // One retainer per new object (the first non-weak edge to it), counted per group.
  const retainers = new Map<number, string>();
  let e = 0;
  for (let i = 0; i < n.length; i += nf) {
    const from = keyOf(i);
    for (let k = 0; k < n[i + ecAt]; k++, e += ef) {
      const et = eTypes[after.edges[e + eTypeAt]];
      if (et === 'weak' || et === 'shortcut') continue;
      const to = after.edges[e + eToAt];
      if (n[to + idAt] <= maxBefore || retainers.has(to)) continue;
      const en = et === 'element' || et === 'hidden' ? `[${et}]` : after.strings[after.edges[e + eNameAt]];
      retainers.set(to, `${from}.${String(en).slice(0, 40)}`);
    }
  }
  const groups = new Map<string, Group & { by: Map<string, number> }>();
  for (let i = 0; i < n.length; i += nf) {
    if (n[i + idAt] <= maxBefore) continue;
    const key = keyOf(i);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, g = { key, count: 0, bytes: 0, retainer: '', by: new Map() });
    g.count++;
    g.bytes += n[i + sizeAt];
    const r = retainers.get(i) ?? '(none)';
    g.by.set(r, (g.by.get(r) ?? 0) + 1);
  }
  return [...groups.values()].map(({ by, ...g }) => {
    const top = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([r, c]) => `${r} ×${c}`).join('; ');
    return { ...g, retainer: top };
  }).sort((a, b) => b.bytes - a.bytes);
}

async function wrapper(dir: string): Promise<string> {
  const file = join(dir, 'heap-diff-entry.mjs');
  // SIGUSR2 (SIGUSR1 would start the inspector): the first starts V8's sampling heap profiler,
  // keeping samples of objects no scavenge freed (includeObjectsCollectedByMajorGC: promoted ones
  // that a mark-compact freed later, by allocation stack), then takes snapshot 0; the second takes
  // snapshot 1 and writes the profile and the collections counted in between.
  await writeFile(file, `import v8 from 'node:v8';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { PerformanceObserver, constants } from 'node:perf_hooks';
const session = new Session();
session.connect();
let k = 0;
const gcs = { minor: 0, major: 0 };
new PerformanceObserver((list) => {
  if (k !== 1) return;
  for (const e of list.getEntries()) {
    if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
    else if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
  }
}).observe({ entryTypes: ['gc'] });
process.on('SIGUSR2', () => {
  const base = ${JSON.stringify(dir)} + '/' + process.env.WEFT_NODE_NAME + '-' + k;
  writeFileSync(base + '.modules.json', JSON.stringify(process.moduleLoadList));
  if (k === 1) {
    writeFileSync(base + '.gcs.json', JSON.stringify(gcs));
    session.post('HeapProfiler.stopSampling', (err, r) => { if (!err) writeFileSync(base + '.heapprofile', JSON.stringify(r.profile)); });
  }
  v8.writeHeapSnapshot(base + '.heapsnapshot');
  if (k === 0) session.post('HeapProfiler.startSampling', { samplingInterval: 2048, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
  k++;
});
await import(${JSON.stringify(pathToFileURL(AGENT_BUNDLE).href)});
`);
  return file;
}

interface ProfileNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: ProfileNode[] }

/** Self bytes per allocating function (with its caller), largest first. */
export function allocators(root: ProfileNode): Array<{ where: string; bytes: number }> {
  const by = new Map<string, number>();
  const walk = (n: ProfileNode, parent: string): void => {
    const here = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\//, '')}:${n.callFrame.lineNumber + 1}`;
    if (n.selfSize > 0) by.set(`${here} ← ${parent}`, (by.get(`${here} ← ${parent}`) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, here);
  };
  walk(root, '');
  return [...by.entries()].map(([where, bytes]) => ({ where, bytes })).sort((a, b) => b.bytes - a.bytes);
}

async function main(): Promise<void> {
  ensureBundles(log);
  const config = configurations().find((c) => c.id === 'weft-l7');
  if (config === undefined) throw new Error('no weft-l7 configuration');
  const noMesh = configurations().filter((c) => c.id === 'no-mesh');
  const tmp = await mkdtemp(join(os.tmpdir(), 'weft-heap-diff-'));
  const bed = await openBed('bench-heapdiff', [...noMesh, config]);
  const mesh = bed.ctx.sites.get('iptables')?.mesh;
  const gapS = Number(values.gap);
  const protocol = values.protocol;
  const rate = Number(values.rate);
  const durationS = 4 + 2 * gapS + 4;
  const w: HttpWorkload = protocol === 'h1'
    ? { kind: 'http', id: `${rate}rps`, title: '', protocol: 'h1', rate, durationS, warmupS: 2, connections: 16, newConnection: false, bytes: 1024 }
    : multiplexed(protocol as 'h2' | 'grpc', rate, { durationS, warmupS: 2 });
  try {
    if (mesh === undefined) throw new Error('no iptables mesh');
    await restartAgents(mesh, agentEnv, await wrapper(tmp));
    const run = runOnce(bed.ctx, config, w, 1);
    const pids = [CLIENT_NODE, SERVER_NODE].map((n) => mesh.agentPid(n));
    await sleep(6000);
    for (const p of pids) if (p !== undefined) process.kill(p, 'SIGUSR2');
    await sleep(gapS * 1000);
    for (const p of pids) if (p !== undefined) process.kill(p, 'SIGUSR2');
    const rec = await run;
    log(`${rec.requests} requests, ${rec.load?.achievedRps} req/s${rec.error === undefined ? '' : `, error ${rec.error}`}`);
    await sleep(2000);
    const files = await readdir(tmp);
    for (const node of [CLIENT_NODE, SERVER_NODE]) {
      if (!files.includes(`${node}-1.heapsnapshot`)) { log(`${node}: no second snapshot`); continue; }
      const [a, b] = await Promise.all([0, 1].map(async (k) => JSON.parse(await readFile(join(tmp, `${node}-${k}.heapsnapshot`), 'utf8')) as Snapshot));
      const groups = newSurvivors(a, b);
      const total = groups.reduce((s, g) => s + g.bytes, 0);
      const modules = JSON.parse(await readFile(join(tmp, `${node}-1.modules.json`), 'utf8')) as string[];
      process.stdout.write(`\n## ${node}: ${(total / 1024).toFixed(0)} KiB in ${groups.reduce((s, g) => s + g.count, 0)} objects born between the snapshots (${gapS} s at ${rate} req/s, ${protocol}) and still alive\n`);
      process.stdout.write(`built-in http modules loaded: ${modules.filter((m) => /NativeModule (_?http|internal\/http2)/.test(m)).join(', ') || 'none'}\n\n`);
      process.stdout.write('| type:name | count | KiB | most common retainers |\n|---|--:|--:|---|\n');
      for (const g of groups.slice(0, Number(values.top))) process.stdout.write(`| ${g.key} | ${g.count} | ${(g.bytes / 1024).toFixed(1)} | ${g.retainer.replaceAll('|', '\\|')} |\n`);
      if (files.includes(`${node}-1.heapprofile`) || (await readdir(tmp)).includes(`${node}-1.heapprofile`)) {
        const profile = JSON.parse(await readFile(join(tmp, `${node}-1.heapprofile`), 'utf8')) as { head: ProfileNode };
        const all = allocators(profile.head);
        const sum = all.reduce((s, a) => s + a.bytes, 0);
        const gcs = JSON.parse(await readFile(join(tmp, `${node}-1.gcs.json`), 'utf8').catch(() => '{}')) as { minor?: number; major?: number };
        process.stdout.write(`\nSampled allocations no scavenge freed: ${(sum / 1024).toFixed(0)} KiB, ${(sum / (rate * gapS)).toFixed(0)} B per request; ${gcs.minor ?? '?'} scavenges and ${gcs.major ?? '?'} mark-compacts in the window. A mark-compact frees the young generation too, and its dead young objects count here as well: with mark-compacts in the window this over-counts (bench/gc-trace.ts --v8=--trace-gc-nvp has V8's exact promoted bytes); the allocation sites are what to read.\n\n| allocated in ← called from | KiB |\n|---|--:|\n`);
        for (const a of all.slice(0, Number(values.top))) process.stdout.write(`| ${a.where.replaceAll('|', '\\|')} | ${(a.bytes / 1024).toFixed(1)} |\n`);
      }
    }
    if (values.keep !== undefined) {
      for (const node of [CLIENT_NODE, SERVER_NODE]) await writeFile(join(tmp, `${node}.log`), mesh.agentLog(node));
      await cp(tmp, values.keep, { recursive: true });
    }
  } finally {
    await bed.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`heap-diff: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
