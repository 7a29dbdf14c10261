// Sends the golden-metrics summary to control every few seconds, and once right after each
// snapshot (a fresh stream gets a baseline at once). One send at a time: a collect that takes
// longer than the interval skips ticks rather than piling up requests to the workers.
import type { Logger } from '../../common/log.ts';
import type { SummaryMessage } from '../../control/api/summary.ts';
import { buildSummary, type SummaryInput } from './summary.ts';

export interface SummarySenderOptions {
  intervalMs: number;
  /** Everything but the timestamps. */
  gather(): Promise<Omit<SummaryInput, 'startedAt' | 'at'>>;
  /** False when the stream is not synced or too far behind; the next tick tries again. */
  send(msg: SummaryMessage): boolean;
  log: Logger;
  startedAt?: number;
}

export class SummarySender {
  readonly #o: SummarySenderOptions;
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | null = null;
  #busy = false;
  sent = 0;
  skipped = 0;

  constructor(o: SummarySenderOptions) {
    this.#o = o;
    this.#startedAt = o.startedAt ?? Date.now();
  }

  start(): void {
    if (this.#timer !== null || this.#o.intervalMs <= 0) return;
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs);
    this.#timer.unref();
  }

  async tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const parts = await this.#o.gather();
      const msg = buildSummary({ ...parts, startedAt: this.#startedAt, at: Date.now() });
      if (this.#o.send(msg)) this.sent++;
      else this.skipped++;
    } catch (err) {
      this.#o.log.warn('summary for control failed; the next one carries the same counters', { err });
    } finally {
      this.#busy = false;
    }
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
