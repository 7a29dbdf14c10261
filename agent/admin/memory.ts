// The agent's memory as one admin section (/config_dump/memory): the process's resident set and
// every V8 heap in it — the main thread's and each proxy worker's. RSS alone cannot tell a leak of
// JavaScript objects from native buffers or a heap V8 has merely grown; the heaps can.
import type { Worker } from 'node:worker_threads';
import type { ProxyThread } from '../proxy-thread.ts';

export interface HeapReading {
  usedBytes: number;
  totalBytes: number;
  /** Memory outside the heap that its objects keep alive (Buffers, ArrayBuffers). */
  externalBytes: number;
}

export interface MemoryDump {
  rssBytes: number;
  /** Sum of every isolate's external memory: what Buffers held by JavaScript keep. */
  externalBytes: number;
  main: HeapReading;
  workers: (HeapReading | null)[];
  /** Sum of every heap's used bytes. */
  heapUsedBytes: number;
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
  const heaps = await Promise.all(workers.map((w) => w.heap(WORKER_TIMEOUT_MS)));
  const main = { usedBytes: m.heapUsed, totalBytes: m.heapTotal, externalBytes: m.external };
  return {
    rssBytes: m.rss, main, workers: heaps,
    heapUsedBytes: heaps.reduce((n, h) => n + (h?.usedBytes ?? 0), main.usedBytes),
    externalBytes: heaps.reduce((n, h) => n + (h?.externalBytes ?? 0), main.externalBytes),
  };
}
