// The agent's memory as one admin section (/config_dump/memory): the process's resident set and
// every V8 heap in it — the main thread's and each proxy worker's. RSS alone cannot tell a leak of
// JavaScript objects from native buffers or a heap V8 has merely grown; the heaps can.
import type { Worker } from 'node:worker_threads';

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

function workerHeap(w: Worker): Promise<HeapReading | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), WORKER_TIMEOUT_MS);
    timer.unref();
  });
  const asked = w.getHeapStatistics().then(
    (h) => ({ usedBytes: h.used_heap_size, totalBytes: h.total_heap_size, externalBytes: h.external_memory }),
    // A worker that exited has no heap to report (and one exiting may never answer: the timeout).
    () => null,
  );
  return Promise.race([asked, late]).finally(() => clearTimeout(timer));
}

export async function memoryDump(workers: readonly Worker[]): Promise<MemoryDump> {
  const m = process.memoryUsage();
  const heaps = await Promise.all(workers.map(workerHeap));
  const main = { usedBytes: m.heapUsed, totalBytes: m.heapTotal, externalBytes: m.external };
  return {
    rssBytes: m.rss, main, workers: heaps,
    heapUsedBytes: heaps.reduce((n, h) => n + (h?.usedBytes ?? 0), main.usedBytes),
    externalBytes: heaps.reduce((n, h) => n + (h?.externalBytes ?? 0), main.externalBytes),
  };
}
