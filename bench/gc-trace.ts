// Where an L7 latency tail comes from when it is not CPU: the agents' garbage collector. Restarts
// both agents with V8's --trace-gc (set at start-up from a small wrapper module, since NODE_OPTIONS
// refuses that flag), drives one configuration at a fixed rate, and reads the trace per isolate:
// scavenges, mark-compacts and their pauses, and how much each request left behind for the old
// generation (bytes that survived scavenges; only a mark-compact frees them, and its pause is what
// lands in the p99). With --base, a second build runs the same way, rounds interleaved.
//   node bench/gc-trace.ts [--config weft-l7] [--rate 1000] [--duration 10] [--rounds 2] [--base dist/agent-base.mjs]
//     [--protocol h1|h2|grpc]   (HTTP/1.1 over 16 connections; h2 and gRPC unary over 4, as bench/ab.ts)
//     [--env WEFT_WORKERS=0 ...]   (extra agent environment for every variant)
//     [--v8 --no-allocation-site-pretenuring ...]   (further V8 flags for the agents' main isolate)
//     [--logs DIR]   (keep each agent's log there)
//   With --v8=--trace-gc-nvp the table also has V8's own promoted= (what scavenges copied); the
//   heap-growth column counts that plus what was allocated straight into the old generation.
// Needs root. Not a test: it prints a table.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AGENT_BUNDLE } from '../tests/testbed/mesh.ts';
import { envFrom, restartAgents } from './agent-env.ts';
import { openBed } from './bed.ts';
import { ensureBundles } from './bundles.ts';
import { CLIENT_NODE, SERVER_NODE, configurations } from './configurations.ts';
import { ensureHaproxy } from './haproxy.ts';
import { runOnce } from './runner.ts';
import { multiplexed, type HttpWorkload } from './workloads.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'weft-l7' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
    base: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    v8: { type: 'string', multiple: true, default: [] },
    logs: { type: 'string' },
    protocol: { type: 'string', default: 'h1' },
  },
  strict: true,
});
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const log = (m: string): void => { process.stderr.write(`gc-trace: ${m}\n`); };
const agentEnv: Record<string, string> = envFrom(values.env);

/** One isolate's collections, read from --trace-gc lines. */
export interface IsolateGc {
  isolate: string;
  scavenges: number;
  markCompacts: number;
  /** Pause of each mark-compact (ms, the atomic part V8 reports first). */
  markCompactPausesMs: number[];
  scavengePausesMs: number[];
  /** Heap growth across scavenges: what they promoted plus what was allocated straight into the old generation (MB). */
  promotedMB: number;
  /** With --v8=--trace-gc-nvp only: what scavenges copied into the old generation (V8's own promoted=, MB). */
  copiedMB?: number;
}

// --trace-gc-nvp prints this instead of the line above: sizes in bytes, the kind as gc=s / gc=mc / gc=ms.
const NVP = /^\[(\d+:0x[0-9a-f]+)(?::\d+)?\]\s+(\d+) ms: pause=([\d.]+) .*?\bgc=(s|mc|ms)\b.*?\bend_object_size=(\d+)\b.*?\bpromoted=(\d+)/;

const LINE = /^\[(\d+:0x[0-9a-f]+)\]\s+(\d+) ms: (Scavenge|Mark-Compact|Minor Mark-Sweep)\b[^,]*?([\d.]+) \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/;

/** Parses a --trace-gc log; `fromMs` skips start-up (each isolate's clock starts at its own birth). */
export function parseGcTrace(text: string, fromMs = 0): IsolateGc[] {
  const by = new Map<string, IsolateGc & { lastAfter: number | undefined }>();
  for (const line of text.split('\n')) {
    let m = LINE.exec(line);
    let copied = -1;
    if (m === null) {
      const n = NVP.exec(line);
      if (n === null) continue;
      const kind = n[4] === 'mc' ? 'Mark-Compact' : n[4] === 'ms' ? 'Minor Mark-Sweep' : 'Scavenge';
      copied = kind === 'Mark-Compact' ? -1 : Number(n[6]) / (1024 * 1024);
      m = [line, n[1], n[2], kind, '', String(Number(n[5]) / (1024 * 1024)), n[3]] as unknown as RegExpExecArray;
    }
    const [, isolate, at, kind, , after, pause] = m;
    let g = by.get(isolate);
    if (g === undefined) {
      g = { isolate, scavenges: 0, markCompacts: 0, markCompactPausesMs: [], scavengePausesMs: [], promotedMB: 0, lastAfter: undefined };
      by.set(isolate, g);
    }
    const afterMB = Number(after);
    if (Number(at) >= fromMs) {
      if (kind === 'Mark-Compact') {
        g.markCompacts++;
        g.markCompactPausesMs.push(Number(pause));
      } else {
        g.scavenges++;
        g.scavengePausesMs.push(Number(pause));
        if (g.lastAfter !== undefined) g.promotedMB += Math.max(0, afterMB - g.lastAfter);
        if (copied >= 0) g.copiedMB = (g.copiedMB ?? 0) + copied;
      }
    }
    g.lastAfter = afterMB;
  }
  return [...by.values()].map(({ lastAfter: _, ...g }) => g);
}

async function wrapper(dir: string, bundle: string): Promise<string> {
  const file = join(dir, `trace-gc-${Math.random().toString(36).slice(2)}.mjs`);
  // Flags are process-wide: set on the main thread before the proxy workers start, they cover those too.
  await writeFile(file, `import v8 from 'node:v8';\nimport { isMainThread } from 'node:worker_threads';\nif (isMainThread) v8.setFlagsFromString(${JSON.stringify(['--trace-gc', ...values.v8].join(' '))});\nawait import(${JSON.stringify(pathToFileURL(bundle).href)});\n`);
  return file;
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const r1 = (x: number): string => String(Math.round(x * 10) / 10);

async function main(): Promise<void> {
  ensureBundles(log);
  ensureHaproxy();
  const config = configurations().find((c) => c.id === values.config);
  if (config === undefined || config.site !== 'iptables' || config.agentEnv !== undefined) throw new Error(`--config must be a Weft configuration on the iptables testbed, not ${values.config}`);
  const noMesh = configurations().filter((c) => c.id === 'no-mesh');
  const tmp = await mkdtemp(join(os.tmpdir(), 'weft-gc-trace-'));
  const variants = [{ id: 'this build', bundle: AGENT_BUNDLE }];
  if (values.base !== undefined) variants.unshift({ id: 'base', bundle: resolve(ROOT, values.base) });
  const wrapped = await Promise.all(variants.map(async (v) => ({ ...v, entry: await wrapper(tmp, v.bundle) })));
  const bed = await openBed('bench-gctrace', [...noMesh, config]);
  const mesh = bed.ctx.sites.get('iptables')?.mesh;
  const w: HttpWorkload = values.protocol === 'h1'
    ? { kind: 'http', id: `${values.rate}rps`, title: '', protocol: 'h1', rate: Number(values.rate), durationS: Number(values.duration), warmupS: 2, connections: 16, newConnection: false, bytes: 1024 }
    : multiplexed(values.protocol as 'h2' | 'grpc', Number(values.rate), { durationS: Number(values.duration), warmupS: 2 });
  const rows: string[] = ['| variant | round | req/s | p99 ms | isolate | scavenges | mark-compacts | mark-compact pause max ms | scavenge pause p99 ms | promoted MB | promoted KB per request | copied by scavenges, B per request (nvp) |', '|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|'];
  try {
    if (mesh === undefined) throw new Error('no iptables mesh');
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const v of round % 2 === 1 ? wrapped : [...wrapped].reverse()) {
        await restartAgents(mesh, agentEnv, v.entry);
        // Start-up collections (bundle parse, first sync) are not the workload's: skip them.
        const skipMs = 1000;
        const rec = await runOnce(bed.ctx, config, w, round);
        const requests = rec.requests;
        if (values.logs !== undefined) for (const n of [CLIENT_NODE, SERVER_NODE]) await writeFile(join(resolve(values.logs), `${v.id.replaceAll(' ', '-')}-r${round}-${n}.log`), mesh.agentLog(n));
        for (const n of [CLIENT_NODE, SERVER_NODE]) {
          const gcs = parseGcTrace(mesh.agentLog(n), skipMs).filter((g) => g.scavenges > 3);
          const promoted = gcs.reduce((a, g) => a + g.promotedMB, 0);
          for (const g of gcs) {
            rows.push(`| ${v.id} | ${round} | ${r1(rec.load?.achievedRps ?? 0)} | ${r1(rec.load?.p99 ?? 0)} | ${n} ${g.isolate} | ${g.scavenges} | ${g.markCompacts} | ${r1(Math.max(0, ...g.markCompactPausesMs))} | ${r1(pct(g.scavengePausesMs, 99))} | ${r1(g.promotedMB)} | ${requests > 0 ? r1((g.promotedMB * 1024) / requests) : '—'} | ${g.copiedMB === undefined || requests === 0 ? '—' : Math.round((g.copiedMB * 1024 * 1024) / requests)} |`);
          }
          log(`${v.id} round ${round} ${n}: ${requests} requests, ${r1(promoted)} MB promoted (${requests > 0 ? r1((promoted * 1024) / requests) : '—'} KB per request), p99 ${rec.load?.p99} ms`);
        }
      }
    }
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    await bed.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`gc-trace: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
