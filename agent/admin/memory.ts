// The agent's memory as one admin section (/config_dump/memory): the process's resident set and
// every V8 heap in it — the main thread's and each proxy worker's. RSS alone cannot tell a leak of
// JavaScript objects from native buffers or a heap V8 has merely grown; the heaps can.
import { readFile } from 'node:fs/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Worker } from 'node:worker_threads';
import { reclaimStats, type ReclaimStats } from '../memory-reclaim.ts';
import type { ProxyThread } from '../proxy-thread.ts';

export interface HeapReading {
  usedBytes: number;
  totalBytes: number;
  /** Memory outside the heap that its objects keep alive (Buffers, ArrayBuffers). */
  externalBytes: number;
}

/** One V8 heap space of the main isolate: what it has reserved and what its live objects use. */
export interface HeapSpace {
  sizeBytes: number;
  usedBytes: number;
}

export interface MemoryDump {
  rssBytes: number;
  /**
   * The resident set split as the kernel counts it (Linux; null elsewhere): anonymous memory (every
   * heap, Buffers, native state) and file-backed pages — mostly the node binary's code and data,
   * shared with every other node process on the host and reclaimable, but counted in RSS.
   */
  rssAnonBytes: number | null;
  rssFileBytes: number | null;
  /** The main isolate's heap by space (new_space is the young generation, code_space the compiled code). */
  mainSpaces: Record<string, HeapSpace>;
  /** Sum of every isolate's external memory: what Buffers held by JavaScript keep. */
  externalBytes: number;
  main: HeapReading;
  workers: (HeapReading | null)[];
  /** Sum of every heap's used bytes. */
  heapUsedBytes: number;
  /** The periodic reclaim (WEFT_MEMORY_RECLAIM_MS, agent/memory-reclaim.ts): ticks, collections, trims, their last durations. */
  reclaim: ReclaimStats;
}

/** How long a worker may take to answer; a busy one is reported as null rather than hold the dump. */
const WORKER_TIMEOUT_MS = 2000;

/** A worker thread's heap, or null when it has exited or does not answer within `timeoutMs`. */
export function workerHeap(w: Worker, timeoutMs: number): Promise<HeapReading | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
    timer.unref();
  });
  const asked = w.getHeapStatistics().then(
    (h) => ({ usedBytes: h.used_heap_size, totalBytes: h.total_heap_size, externalBytes: h.external_memory }),
    // A worker that exited has no heap to report (and one exiting may never answer: the timeout).
    () => null,
  );
  return Promise.race([asked, late]).finally(() => clearTimeout(timer));
}

/** `workers`: the proxies; an inline one has no heap of its own (it is in `main`) and reads null. */
export async function memoryDump(workers: readonly Pick<ProxyThread, 'heap'>[]): Promise<MemoryDump> {
  const m = process.memoryUsage();
  const [heaps, split] = await Promise.all([Promise.all(workers.map((w) => w.heap(WORKER_TIMEOUT_MS))), rssSplit()]);
  const main = { usedBytes: m.heapUsed, totalBytes: m.heapTotal, externalBytes: m.external };
  const mainSpaces: Record<string, HeapSpace> = {};
  for (const s of getHeapSpaceStatistics()) mainSpaces[s.space_name] = { sizeBytes: s.space_size, usedBytes: s.space_used_size };
  return {
    rssBytes: m.rss, ...split, mainSpaces, main, workers: heaps,
    heapUsedBytes: heaps.reduce((n, h) => n + (h?.usedBytes ?? 0), main.usedBytes),
    externalBytes: heaps.reduce((n, h) => n + (h?.externalBytes ?? 0), main.externalBytes),
    reclaim: { ...reclaimStats },
  };
}

/** RssAnon and RssFile from /proc/self/status; null where there is no such file. */
async function rssSplit(): Promise<{ rssAnonBytes: number | null; rssFileBytes: number | null }> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const kib = (key: string): number | null => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status);
    return m === null ? null : Number(m[1]) * 1024;
  };
  return { rssAnonBytes: kib('RssAnon'), rssFileBytes: kib('RssFile') };
}
