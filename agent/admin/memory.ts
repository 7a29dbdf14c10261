// The agent's memory as one admin section (/config_dump/memory): the process's resident set and
// every V8 heap in it — the main thread's and each proxy worker's. RSS alone cannot tell a leak of
// JavaScript objects from native buffers or a heap V8 has merely grown; the heaps can.
import type { Worker } from 'node:worker_threads';

export interface HeapReading {
  usedBytes: number;
  totalBytes: number;
}

export interface MemoryDump {
  rssBytes: number;
  /** Buffers and other memory outside the V8 heaps, as the main thread's isolate sees it. */
  externalBytes: number;
  arrayBuffersBytes: number;
  main: HeapReading;
  workers: (HeapReading | null)[];
  /** Sum of every heap's used bytes. */
  heapUsedBytes: number;
}

export async function memoryDump(workers: readonly Worker[]): Promise<MemoryDump> {
  const m = process.memoryUsage();
  const heaps = await Promise.all(workers.map((w) => w.getHeapStatistics().then(
    (h) => ({ usedBytes: h.used_heap_size, totalBytes: h.total_heap_size }),
    // A worker that exited (or is exiting) has no heap to report.
    () => null,
  )));
  const main = { usedBytes: m.heapUsed, totalBytes: m.heapTotal };
  return {
    rssBytes: m.rss, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers, main, workers: heaps,
    heapUsedBytes: heaps.reduce((n, h) => n + (h?.usedBytes ?? 0), main.usedBytes),
  };
}
