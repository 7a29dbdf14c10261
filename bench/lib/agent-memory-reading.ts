// One reading of an agent's memory, as bench/agent-memory.ts and bench/burst-memory.ts take it:
// the kernel's figures from /proc/PID/status (VmRSS and its anonymous / file-backed split) and the
// agent's own from /config_dump/memory (V8 heaps, spaces, external memory, the reclaim counters).
import { readdirSync, readFileSync } from 'node:fs';
import type { Mesh } from '../../tests/testbed/mesh.ts';

const MiB = 1024 * 1024;

interface MemoryBody {
  heapUsedBytes: number;
  externalBytes: number;
  mainSpaces: Record<string, { sizeBytes: number; usedBytes: number }>;
  main: { totalBytes: number };
  workers: ({ totalBytes: number } | null)[];
  reclaim?: { ticks: number; collections: number; trimsReleased: number };
}

/** MiB, except the reclaim counters. */
export interface Reading {
  rss: number;
  anon: number;
  file: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  newSpace: number;
  oldSpace: number;
  /** Reducing collections and trims that released memory so far (absent in older builds). */
  collections?: number;
  trims?: number;
  /** Open file descriptors (sockets, mostly): whether what a burst opened has closed. */
  fds: number;
}

/** VmRSS, RssAnon and RssFile of a process, MiB (NaN when gone). */
export function procMemory(pid: number): Pick<Reading, 'rss' | 'anon' | 'file'> {
  let s = '';
  try {
    s = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // A process that exited reads NaN.
  }
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

export async function readAgent(mesh: Mesh, node: string): Promise<Reading> {
  const pid = mesh.agentPid(node) ?? -1;
  const p = procMemory(pid);
  const fds = openFds(pid);
  const m = ((await mesh.admin(node, '/config_dump/memory')).body as { memory: MemoryBody }).memory;
  const heapTotal = m.workers.reduce((n, w) => n + (w?.totalBytes ?? 0), m.main.totalBytes);
  const space = (k: string): number => (m.mainSpaces[k]?.sizeBytes ?? 0) / MiB;
  return {
    ...p, heapUsed: m.heapUsedBytes / MiB, heapTotal: heapTotal / MiB, external: m.externalBytes / MiB, newSpace: space('new_space'), oldSpace: space('old_space'),
    collections: m.reclaim?.collections, trims: m.reclaim?.trimsReleased, fds,
  };
}

export function formatReading(r: Reading): string {
  const reclaim = r.collections === undefined ? '' : ` reclaim ${r.collections} gc / ${r.trims} trim`;
  return `rss ${r.rss.toFixed(1)} (anon ${r.anon.toFixed(1)}, file ${r.file.toFixed(1)}) heap ${r.heapUsed.toFixed(1)}/${r.heapTotal.toFixed(1)} ext ${r.external.toFixed(1)} (main new space ${r.newSpace.toFixed(1)}, old space ${r.oldSpace.toFixed(1)})${reclaim} fds ${r.fds}`;
}
