// Memory the agent no longer uses, given back to the kernel now and then (WEFT_MEMORY_RECLAIM_MS).
// Two kinds stay resident after a busy spell, and neither goes back by itself while the agent is
// quiet, because nothing then allocates enough to make V8 or glibc act:
//   - V8's heap: the young generation grown to its cap (16 MiB) and old-space pages of what a ramp
//     left behind. A memory-reducing collection (V8's "last resort": full GCs until nothing more is
//     freed, then the new space shrunk to its minimum and empty pages released) gives them back.
//     It stops the main thread for tens of ms (65 ms with 18 MB live on a bare process), so it runs
//     only once the event loop was quiet for a whole interval (under QUIET_ELU busy), and only when
//     the heap or external memory (ArrayBuffers a burst's closed sockets left to the next GC) has
//     grown by MIN_GROWTH since the last one: an idle agent is not collected again and
//     again, and a busy one never.
//   - glibc's heap: free() returns memory to the kernel only from an arena's top; free chunks in
//     the middle keep their pages until malloc_trim(0) (socket reads are malloc'd at 64 KiB and
//     shrunk to what was read; TLS and handles come and go between them). Trimmed on the same
//     quiet intervals: it takes 2–16 ms (measured with 10 000 connections held), a stall that
//     under load would land in the latency tail once an interval, and a busy agent reuses those
//     pages anyway.
// Measured on an inline agent (bench/agent-memory.ts; gdb-driven, docs/design-notes.md issue 19):
// idle, anon RSS 20.4 -> 16.4 MiB (collection) -> 15.7 (trim); holding 10 000 idle HTTP/1.1
// connections 95.0 -> 81.8 -> 59.7 MiB. A collection reaches one isolate: each proxy worker thread
// (WEFT_WORKERS > 1) starts its own reclaim with no trim (agent/worker.ts); the main thread's trim
// covers every thread's arena.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Busy fraction of the last interval under which the event loop counts as quiet. */
export const QUIET_ELU = 0.02;
/** Heap growth (bytes) since the last reducing collection that makes another worth its pause. */
export const MIN_GROWTH = 4 * 1024 * 1024;

export interface ReclaimInput {
  /** Event-loop utilization over the last interval (0..1). */
  elu: number;
  /** V8's total heap size now, and right after the last reducing collection (0: none yet). */
  heapTotal: number;
  heapAfterLast: number;
  /** External memory (ArrayBuffer backing stores) now, and right after the last collection. A
   * burst's closed sockets and sessions leave theirs to the next GC while V8 may shrink the heap
   * by itself, so heap growth alone missed them (10 000 tunnels: 5 MiB kept on an idle agent). */
  external?: number;
  externalAfterLast?: number;
}

/** Whether the last interval was quiet enough to pause in: nothing reclaims on a busy one. */
function isQuiet(elu: number): boolean {
  return elu < QUIET_ELU;
}

/** Whether this tick runs the memory-reducing collection (a quiet interval, and the heap grew). */
export function shouldCollect(i: ReclaimInput): boolean {
  return isQuiet(i.elu) && (i.heapTotal - i.heapAfterLast >= MIN_GROWTH || (i.external ?? 0) - (i.externalAfterLast ?? 0) >= MIN_GROWTH);
}

export interface ReclaimStats {
  ticks: number;
  /** Memory-reducing collections run, and the last one's pause (ms). */
  collections: number;
  lastCollectionMs: number;
  /** Trims that gave memory back, and the last trim's duration (ms). */
  trimsReleased: number;
  lastTrimMs: number;
}

/** The agent's reclaims (/config_dump/memory shows them). */
export const reclaimStats: ReclaimStats = { ticks: 0, collections: 0, lastCollectionMs: 0, trimsReleased: 0, lastTrimMs: 0 };

export interface ReclaimDeps {
  trim: () => boolean;
  /** The memory-reducing collection; undefined where it cannot be had. */
  collect: (() => void) | undefined;
  heapTotal: () => number;
  /** External memory now (optional: without it, heap growth alone decides). */
  external?: () => number;
  /** Event-loop utilization since the previous call (the first call: since start). */
  elu: () => number;
}

/** One tick: on a quiet interval, the collection when the heap grew, then the trim. */
export function reclaimTick(d: ReclaimDeps, state: { heapAfterLast: number; externalAfterLast?: number }, stats: ReclaimStats): void {
  stats.ticks++;
  const elu = d.elu();
  if (!isQuiet(elu)) return;
  if (d.collect !== undefined && shouldCollect({ elu, heapTotal: d.heapTotal(), heapAfterLast: state.heapAfterLast, external: d.external?.(), externalAfterLast: state.externalAfterLast })) {
    const t0 = performance.now();
    d.collect();
    stats.lastCollectionMs = performance.now() - t0;
    stats.collections++;
    state.heapAfterLast = d.heapTotal();
    state.externalAfterLast = d.external?.();
  }
  const t1 = performance.now();
  if (d.trim()) stats.trimsReleased++;
  stats.lastTrimMs = performance.now() - t1;
}

/** V8's gc(), without exposing it on globalThis: the flag is on only while a fresh context reads it. */
export function memoryReducingGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (o: { type: string; execution: string; flavor: string }) => void;
    setFlagsFromString('--no-expose-gc');
    return typeof gc === 'function' ? () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }) : undefined;
  } catch {
    return undefined;
  }
}

/** Ticks every `intervalMs` (0: never) on an unref'd timer; returns a stop. */
export function startMemoryReclaim(intervalMs: number, trim: () => boolean, stats: ReclaimStats = reclaimStats): () => void {
  if (intervalMs <= 0) return () => undefined;
  let last = performance.eventLoopUtilization();
  const deps: ReclaimDeps = {
    trim,
    collect: memoryReducingGc(),
    heapTotal: () => getHeapStatistics().total_heap_size,
    external: () => getHeapStatistics().external_memory,
    elu: () => {
      const now = performance.eventLoopUtilization();
      const u = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return u;
    },
  };
  const state = { heapAfterLast: 0, externalAfterLast: 0 };
  const timer = setInterval(() => reclaimTick(deps, state, stats), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
