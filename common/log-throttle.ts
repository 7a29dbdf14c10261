// A log line per key at most once per interval: for events that can happen thousands of times a
// second (a workload over its limit), where one line per event would make the log the outage.
// The next line for a key says how many were left out in between; the metric has the exact count.
import type { Fields, Logger } from './log.ts';

export interface LogThrottleOptions {
  intervalMs: number;
  /** Keys remembered at most; past it the oldest are forgotten (their next event logs at once). */
  maxKeys?: number;
  now?: () => number;
}

interface Entry {
  at: number;
  suppressed: number;
}

export class LogThrottle {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, Entry>();

  constructor(log: Logger, o: LogThrottleOptions) {
    this.#log = log;
    this.#intervalMs = o.intervalMs;
    this.#maxKeys = o.maxKeys ?? 1024;
    this.#now = o.now ?? Date.now;
  }

  /** Logs `msg` at warn unless `key` logged within the interval; then it only counts. */
  warn(key: string, msg: string, fields: () => Fields): void {
    const now = this.#now();
    const e = this.#keys.get(key);
    if (e !== undefined && now - e.at < this.#intervalMs) {
      e.suppressed++;
      return;
    }
    const suppressed = e?.suppressed ?? 0;
    // Re-insert so the map's order is oldest-first and trimming drops the stalest key.
    this.#keys.delete(key);
    this.#keys.set(key, { at: now, suppressed: 0 });
    if (this.#keys.size > this.#maxKeys) this.#keys.delete(this.#keys.keys().next().value as string);
    this.#log.warn(msg, suppressed > 0 ? { ...fields(), suppressedSinceLast: suppressed } : fields());
  }
}
