// Copies of lent DATA for one socket's writes. When the peer session reads its TLS socket into one
// reused buffer (lent-reads.ts, H2Connection.dataLent), a tunnel cannot write the views it is
// handed: the next read overwrites them while the write still waits in the socket. It copies each
// into a pooled slab (out-buffers.ts) instead. Copies made one after another lie side by side in
// the slab, so a turn's pieces (two or more per 16 KiB DATA frame, up to 32 TLS reads per turn)
// become one run, written once (`take`) rather than one socket write per piece. A socket completes
// its writes in the order they were made, so one callback per tunnel, counting completions against
// a queue of slabs, knows when a slab is no longer read: once every write of it is done it goes
// back to the pool (a steady stream takes the same slab straight back; an idle tunnel holds none).
// Nothing is allocated per piece.
import { outBuffers } from '../../h2/out-buffers.ts';

/** Slab size: a turn's pieces (libuv hands over up to 32 reads at once) fill a few of these. */
const SLAB = 256 * 1024;

export class LentCopies {
  /** Slabs in write order, the one being filled last, and the writes of each not yet completed. */
  readonly #slabs: Buffer[] = [];
  readonly #pending: number[] = [];
  /** Octets used of the last slab; the run not yet taken starts at #runStart. */
  #used = 0;
  #runStart = 0;
  /** A write failed (the socket is gone): nothing is given back any more. */
  #failed = false;

  /**
   * Copies `data` after the run not yet taken. Returns that run first (to be written before this
   * copy, with `written` as its callback) when `data` does not fit the rest of its slab, else
   * undefined.
   */
  append(data: Buffer): Buffer | undefined {
    const n = data.length;
    let last = this.#slabs.length - 1;
    let before: Buffer | undefined;
    if (last < 0 || this.#used + n > this.#slabs[last].length) {
      before = this.take();
      this.#slabs.push(outBuffers.take(Math.max(SLAB, n)));
      this.#pending.push(0);
      this.#used = 0;
      this.#runStart = 0;
      last++;
    }
    data.copy(this.#slabs[last], this.#used);
    this.#used += n;
    return before;
  }

  /** Octets copied and not yet taken. */
  get runBytes(): number {
    return this.#used - this.#runStart;
  }

  /** The run copied since the last take, to be written with `written` as its callback; undefined when empty. */
  take(): Buffer | undefined {
    const last = this.#slabs.length - 1;
    if (last < 0 || this.#used === this.#runStart) return undefined;
    const run = this.#slabs[last].subarray(this.#runStart, this.#used);
    this.#runStart = this.#used;
    this.#pending[last]++;
    return run;
  }

  /** Slabs held: in flight, or being filled (tests). */
  get slabs(): number {
    return this.#slabs.length;
  }

  /** The callback of every write of a run: completions come in write order. */
  readonly written = (err?: Error | null): void => {
    if (this.#failed) return;
    if (err !== undefined && err !== null) {
      // The socket is being torn down: its queued writes fail; the slabs are left to the collector.
      this.#failed = true;
      this.#slabs.length = 0;
      this.#pending.length = 0;
      return;
    }
    if (--this.#pending[0] > 0) return;
    if (this.#slabs.length === 1) {
      // The slab being filled, with nothing in flight and no run waiting: back to the pool, so an
      // idle tunnel holds none (10 000 idle tunnels each kept a 256 KiB slab with a page or two
      // touched: ~50 MiB of the source agent's RSS). A steady stream takes it straight back.
      if (this.#runStart === this.#used) {
        outBuffers.give(this.#slabs[0]);
        this.#slabs.length = 0;
        this.#pending.length = 0;
        this.#used = 0;
        this.#runStart = 0;
      }
      return;
    }
    outBuffers.give(this.#slabs.shift() as Buffer);
    this.#pending.shift();
  };

  /** The tunnel is done: a slab with nothing in flight goes back to the pool. */
  release(): void {
    if (this.#failed || this.#slabs.length !== 1 || this.#pending[0] !== 0) return;
    outBuffers.give(this.#slabs[0]);
    this.#slabs.length = 0;
    this.#pending.length = 0;
  }
}
