// Output buffers a FrameWriter joins a large flush into, reused across flushes and connections.
// A flush of many frames written as several chunks makes the TLS socket join them itself
// (node's TLSWrap copies a writev into one fresh allocation before SSL_write): on a bulk stream
// that is a fresh 0.1–1 MiB block per event-loop turn, page faults on every new page and an
// mmap/munmap pair, measured at ~7 % of a tunnel's CPU (docs/design-notes.md). Joined here
// instead, the copy goes to warm memory and the socket gets one buffer, written as is.
//
// A buffer is lent for one write and given back from that write's callback, when the socket is
// done with it. The pool keeps a few (KEEP_BYTES in all) for the next flush and lets the rest go
// to the garbage collector; once nothing has been taken for TRIM_MS it lets the kept ones go too,
// so an idle agent holds none. A bulk stream's flushes are 0.1–2 MiB (what one turn read: libuv
// hands over up to 32 reads of 64 KiB), hence buffers of up to 2 MiB are kept.

/** Smallest buffer lent: a flush this size or more is joined; smaller ones go as chunks. */
export const JOIN_MIN = 16 * 1024;
const MIN_SIZE = 64 * 1024;
/** Largest buffer the pool keeps (larger flushes get one of their own, dropped after the write). */
const KEEP_MAX = 2 * 1024 * 1024;
/** Bytes the pool keeps in all. */
const KEEP_BYTES = 4 * 1024 * 1024;
/** Kept buffers are let go after this long without a take. */
const TRIM_MS = 5000;

export class OutBuffers {
  readonly #free: Buffer[] = [];
  #kept = 0;
  readonly #trimMs: number;
  #lastTake = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  readonly #trimBound: () => void;

  constructor(opts: { trimMs?: number } = {}) {
    this.#trimMs = opts.trimMs ?? TRIM_MS;
    this.#trimBound = () => this.#trim();
  }

  /** A buffer of at least `n` octets (a power of two, ≥ 64 KiB): one kept, or a new one. */
  take(n: number): Buffer {
    this.#lastTake = Date.now();
    const free = this.#free;
    for (let i = free.length - 1; i >= 0; i--) {
      const b = free[i];
      if (b.length < n) continue;
      free[i] = free[free.length - 1];
      free.pop();
      this.#kept -= b.length;
      return b;
    }
    let size = MIN_SIZE;
    while (size < n) size *= 2;
    // Not from Node's shared pool: this buffer is reused, never a slice of someone else's.
    return Buffer.allocUnsafeSlow(size);
  }

  /** `b` (from take) is no longer read by anyone: kept for the next take, or dropped. */
  give(b: Buffer): void {
    if (b.length > KEEP_MAX || this.#kept + b.length > KEEP_BYTES) return;
    this.#free.push(b);
    this.#kept += b.length;
    if (this.#timer === undefined) this.#arm(this.#trimMs);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(this.#trimBound, ms);
    this.#timer.unref();
  }

  #trim(): void {
    this.#timer = undefined;
    if (this.#free.length === 0) return;
    const idle = Date.now() - this.#lastTake;
    if (idle < this.#trimMs) {
      this.#arm(this.#trimMs - idle);
      return;
    }
    this.#free.length = 0;
    this.#kept = 0;
  }

  /** Octets held for reuse (tests, memory accounting). */
  get keptBytes(): number {
    return this.#kept;
  }
}

/** The process's pool, shared by every connection's writer. */
export const outBuffers = new OutBuffers();
