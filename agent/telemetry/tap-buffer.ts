// The worker side of the live tap: a bounded batch of events, posted to the main thread on a
// short timer. Events are only offered while the shared flag says a tap is open; when the batch
// is full (the main thread is not keeping up) events are dropped and counted, never queued.

/** Index 0 of the shared Int32Array: how many tap consumers are connected. */
export const TAP_FLAG_CONSUMERS = 0;

export function newTapFlag(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

export interface TapBufferOptions {
  flag: Int32Array;
  /** Posts one batch to the main thread. */
  post(events: unknown[]): void;
  onDrop(n: number): void;
  maxBatch?: number;
  flushMs?: number;
}

export class TapBuffer {
  readonly #o: TapBufferOptions;
  readonly #max: number;
  #batch: unknown[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #flush = (): void => {
    this.#timer = null;
    if (this.#batch.length === 0) return;
    const b = this.#batch;
    this.#batch = [];
    this.#o.post(b);
  };

  constructor(o: TapBufferOptions) {
    this.#o = o;
    this.#max = o.maxBatch ?? 1024;
  }

  /** One shared-memory read; callers build the event only when this is true. */
  get active(): boolean {
    return Atomics.load(this.#o.flag, TAP_FLAG_CONSUMERS) > 0;
  }

  offer(event: unknown): void {
    if (this.#batch.length >= this.#max) {
      this.#o.onDrop(1);
      return;
    }
    this.#batch.push(event);
    if (this.#timer === null) {
      this.#timer = setTimeout(this.#flush, this.#o.flushMs ?? 50);
      this.#timer.unref();
    }
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#flush();
  }
}
