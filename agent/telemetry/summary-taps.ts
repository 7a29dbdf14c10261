// Live taps that control holds on this agent through the config stream (the dashboard's tap view:
// in a cluster control cannot reach the agents' admin sockets). Each tap has control's filter;
// matching events are batched and sent every flushMs. A batch is capped and the stream's
// backlog bounded: when control is slow the events are dropped and the count travels with the
// next batch, so a stalled dashboard never grows the agent or holds up the proxy.
import type { StreamTapFilter, TapEventsMessage } from '../../control/api/summary.ts';
import { TAP_BATCH_MAX } from '../../control/api/summary.ts';
import { matchesTap, type TapEvent, type TapFilter } from './tap-events.ts';

export interface SummaryTapsOptions {
  /** Sends one message on the stream; false when it is not open or too far behind. */
  send(msg: TapEventsMessage): boolean;
  /** How many stream taps are open (the workers produce events only while someone taps). */
  onCount(n: number): void;
  flushMs?: number;
  /** Taps open at once; control opens one per dashboard viewer, so this bounds viewers too. */
  maxTaps?: number;
}

interface StreamTap {
  filter: TapFilter;
  batch: TapEvent[];
  dropped: number;
}

export class SummaryTaps {
  readonly #o: SummaryTapsOptions;
  readonly #taps = new Map<string, StreamTap>();
  #timer: NodeJS.Timeout | null = null;
  /** Events dropped for stream taps, all time. */
  dropped = 0;

  constructor(o: SummaryTapsOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#taps.size;
  }

  start(tapId: string, filter: StreamTapFilter): void {
    if (!this.#taps.has(tapId) && this.#taps.size >= (this.#o.maxTaps ?? 32)) return;
    this.#taps.set(tapId, { filter: { ...filter }, batch: [], dropped: 0 });
    this.#changed();
  }

  stop(tapId: string): void {
    if (this.#taps.delete(tapId)) this.#changed();
  }

  /** The stream broke: control forgot its taps, and will ask again on the new stream. */
  stopAll(): void {
    if (this.#taps.size === 0) return;
    this.#taps.clear();
    this.#changed();
  }

  publish(events: readonly TapEvent[]): void {
    if (this.#taps.size === 0) return;
    for (const tap of this.#taps.values()) {
      for (const e of events) {
        if (!matchesTap(tap.filter, e)) continue;
        if (tap.batch.length >= TAP_BATCH_MAX) {
          tap.dropped++;
          this.dropped++;
        } else {
          tap.batch.push(e);
        }
      }
    }
  }

  #changed(): void {
    this.#o.onCount(this.#taps.size);
    if (this.#taps.size > 0 && this.#timer === null) {
      this.#timer = setInterval(() => this.flush(), this.#o.flushMs ?? 250);
      this.#timer.unref();
    } else if (this.#taps.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  flush(): void {
    for (const [tapId, tap] of this.#taps) {
      if (tap.batch.length === 0 && tap.dropped === 0) continue;
      const msg: TapEventsMessage = { type: 'tap-events', tapId, events: tap.batch as unknown as Array<Record<string, unknown>>, dropped: tap.dropped };
      if (this.#o.send(msg)) {
        tap.dropped = 0;
      } else {
        tap.dropped += tap.batch.length;
        this.dropped += tap.batch.length;
      }
      tap.batch = [];
    }
  }

  close(): void {
    this.#taps.clear();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
