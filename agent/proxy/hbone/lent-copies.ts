// Copies of lent DATA for one socket's writes. When the peer session reads its TLS socket into one
// reused buffer (lent-reads.ts, H2Connection.dataLent), a tunnel cannot write the views it is
// handed: the next read overwrites them while the write still waits in the socket. It copies each
// into a pooled slab (out-buffers.ts) instead and writes a view of the slab. A socket completes its
// writes in the order they were made, so one callback per tunnel, counting completions against a
// queue of slabs, knows when a slab is no longer read: the slab being filled is rewound once every
// write of it is done (a steady stream reuses one slab), an older one goes back to the pool.
// Nothing is allocated per write.
import { outBuffers } from '../../h2/out-buffers.ts';

/** Slab size: a turn's pieces (libuv hands over up to 32 reads at once) fill a few of these. */
const SLAB = 256 * 1024;

export class LentCopies {
  /** Slabs in write order, the one being filled last, and the writes of each not yet completed. */
  readonly #slabs: Buffer[] = [];
  readonly #pending: number[] = [];
  /** Octets used of the last slab. */
  #used = 0;
  /** A write failed (the socket is gone): nothing is given back any more. */
  #failed = false;

  /** A copy of `data` in a slab; the caller writes exactly that view, with `written` as the write's callback. */
  copy(data: Buffer): Buffer {
    const n = data.length;
    let last = this.#slabs.length - 1;
    if (last < 0 || this.#used + n > this.#slabs[last].length) {
      this.#slabs.push(outBuffers.take(Math.max(SLAB, n)));
      this.#pending.push(0);
      this.#used = 0;
      last++;
    }
    const slab = this.#slabs[last];
    const at = this.#used;
    data.copy(slab, at);
    this.#used = at + n;
    this.#pending[last]++;
    return slab.subarray(at, at + n);
  }

  /** Slabs held: in flight, or being filled (tests). */
  get slabs(): number {
    return this.#slabs.length;
  }

  /** The callback of every write of a copy: completions come in write order. */
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
      // The slab being filled, with nothing in flight: rewind it.
      this.#used = 0;
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
