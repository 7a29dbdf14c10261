// The C heap's free pages, given back now and then (WEFT_MALLOC_TRIM_MS). glibc's free() returns
// memory to the kernel only from the top of an arena; free chunks in the middle keep their pages
// resident until malloc_trim. A connection ramp leaves many such holes: socket reads are malloc'd
// at 64 KiB and shrunk to what was read, TLS and handles come and go between them. Measured on an
// inline agent holding 10 000 idle HTTP/1.1 connections (bench/agent-memory.ts, docs/design-notes.md
// issue 19): one malloc_trim(0) took RSS from 148 to 130 MiB. The pages come back zeroed on the
// next use, a minor fault each; at one trim per interval that is noise. One call trims every
// arena, so only the main thread runs it, whatever the proxy layout.

export interface MallocTrimStats {
  /** Trims run, and how many of them gave memory back. */
  runs: number;
  released: number;
  /** The last trim's duration (ms): it blocks the main thread while it walks the arenas. */
  lastMs: number;
}

/** The agent's trims (/config_dump/memory shows them). */
export const mallocTrimStats: MallocTrimStats = { runs: 0, released: 0, lastMs: 0 };

/** Runs `trim` every `intervalMs` (0: never) on an unref'd timer, counting into `stats`; returns a stop. */
export function startMallocTrim(intervalMs: number, trim: () => boolean, stats: MallocTrimStats = mallocTrimStats): { stats: MallocTrimStats; stop: () => void } {
  if (intervalMs <= 0) return { stats, stop: () => undefined };
  const timer = setInterval(() => {
    const t0 = performance.now();
    const released = trim();
    stats.lastMs = performance.now() - t0;
    stats.runs++;
    if (released) stats.released++;
  }, intervalMs);
  timer.unref();
  return { stats, stop: () => clearInterval(timer) };
}
