// The agent's V8 heaps grow less between full collections than V8 would choose. V8 sizes the next
// old-generation limit as live size times a factor it picks from GC speed (up to 4 for small,
// quickly collected heaps like a proxy worker's), so a worker at steady load carried several times
// its live objects as garbage. The flag is process-wide and read at every limit computation, so
// setting it on the main thread, before the workers start, covers every isolate.
import { setFlagsFromString } from 'node:v8';

export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.floor(percent)}`);
}

/**
 * V8 counts every ArrayBuffer's backing store (each socket read's buffer, each TLS read's 16 KiB
 * of cleartext) as external memory, and by default starts a full collection whenever that has
 * grown by a fixed soft limit since the last one, however small the heap: one bulk stream through
 * a tunnel made 60–90 mark-compacts per GiB with an old generation of 10–16 MB. With this flag
 * external memory is weighed with the heap against the global limit (which --heap-growing-percent
 * bounds) instead. Node refuses it in NODE_OPTIONS, and it is read at every limit check, so the
 * agent sets it here, on the main thread before the workers start (docs/design-notes.md, session 12).
 */
export function accountExternalMemoryInHeapLimit(): void {
  setFlagsFromString('--external-memory-accounted-in-global-limit');
}
