// The agent's V8 heaps grow less between full collections than V8 would choose. V8 sizes the next
// old-generation limit as live size times a factor it picks from GC speed (up to 4 for small,
// quickly collected heaps like a proxy worker's), so a worker at steady load carried several times
// its live objects as garbage. The flag is process-wide and read at every limit computation, so
// setting it on the main thread, before the workers start, covers every isolate.
import { setFlagsFromString } from 'node:v8';

export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${Math.floor(percent)}`);
}
