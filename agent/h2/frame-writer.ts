// Outgoing bytes of one connection, batched: frames are serialised into a slab (control frames,
// frame headers, HPACK blocks — copied, they are small) or appended by reference (DATA payloads —
// not copied until the flush), and everything queued during one event-loop turn goes to the
// socket in one write (one TLS record run, one syscall) from a single setImmediate per turn: a
// small flush as a corked burst of its chunks, a large one (JOIN_MIN and up: a bulk stream's
// DATA) joined into one reused buffer of out-buffers.ts, so that the TLS socket does not join
// them into a fresh allocation of its own; while a joined write is in flight the next turn's
// bytes wait here, not in the socket's queue (#flushTurn). A payload appended by reference must
// stay unchanged until it is flushed (copied into a joined buffer or handed to the socket). A
// payload that is only lent for the call (appendBorrowed: a socket's reused read buffer) is
// copied at once into a slab lent by out-buffers.ts, the frame headers around it too, and that
// slab goes back to the pool only from the callback of the write that took its bytes (or right
// after a join copied them): a read then costs one copy into warm memory instead of a fresh
// backing store per read, which is what drove a bulk stream's full collections. The flush function and
// the write callback are bound once per writer: no closure per frame or per flush.
import { FRAME_HEADER_LENGTH } from './constants.ts';
import { JOIN_MIN, outBuffers } from './out-buffers.ts';

/** What the writer needs of a socket (net.Socket and tls.TLSSocket qualify). */
export interface ByteSink {
  /** `cb` runs once the socket is done with `chunk` (written, or failed). */
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

// Under Buffer.poolSize / 2, so a slab is a slice of Node's shared pool (cheap to get), and
// dropped at every flush: an idle connection holds no output buffer (10 000 idle connections
// must fit the agent's memory budget).
const SLAB = 4000;
const NONE = Buffer.alloc(0);
/**
 * Slab size for borrowed payloads: one size, so that slabs given back are lent again (sized to
 * each turn, they missed the pool: a fresh 1.5 MiB buffer per flush, measured).
 */
const BORROW_SLAB = 256 * 1024;
/** A flush of borrowed slabs above this is not joined (the pool keeps nothing larger). */
const JOIN_MAX = 2 * 1024 * 1024;

export class FrameWriter {
  #sink: ByteSink | undefined;
  #slab: Buffer = NONE;
  /** Start of the slab region not yet handed out, and the write position in it. */
  #start = 0;
  #pos = 0;
  #chunks: Buffer[] = [];
  #scheduled = false;
  #immediate: NodeJS.Immediate | undefined = undefined;
  /** Octets queued and not yet given to the socket. */
  queued = 0;
  readonly #flushBound: () => void;
  /** The current slab is lent by out-buffers.ts (it is in #held too). */
  #pooled = false;
  /** Pooled slabs holding bytes of #chunks: given back once those bytes are written or joined. */
  #held: Buffer[] = [];
  /** Buffers the socket is writing, one entry per write with a callback, oldest first (writes complete in order). */
  readonly #lent: Array<Buffer | Buffer[]> = [];
  readonly #writtenBound: (err?: Error | null) => void;

  constructor(sink?: ByteSink) {
    this.#sink = sink;
    this.#flushBound = () => this.#flushTurn();
    this.#writtenBound = (err?: Error | null) => {
      const b = this.#lent.shift();
      if (Array.isArray(b)) for (let i = 0; i < b.length; i++) outBuffers.give(b[i]);
      else if (b !== undefined) outBuffers.give(b);
      // What was held behind the joined write goes now, joined again if large (see #flushTurn).
      if (err == null && this.#lent.length === 0 && this.queued > 0) this.flush();
    };
  }

  setSink(sink: ByteSink): void {
    this.#sink = sink;
  }

  /** Room for `n` octets at the returned offset of `slab`; the caller fills them and calls commit(n). */
  reserve(n: number): number {
    if (this.#pos + n > this.#slab.length) {
      this.#cut();
      if (this.#pooled) {
        // Frames around borrowed payloads stay in pooled slabs: one contiguous region per turn.
        this.#takeSlab(n);
      } else {
        this.#slab = Buffer.allocUnsafe(Math.max(SLAB, n));
        this.#start = 0;
        this.#pos = 0;
      }
    }
    return this.#pos;
  }

  /** A pooled slab with room for `n` becomes the current one. */
  #takeSlab(n: number): void {
    const slab = outBuffers.take(Math.max(n, BORROW_SLAB));
    this.#held.push(slab);
    this.#slab = slab;
    this.#pooled = true;
    this.#start = 0;
    this.#pos = 0;
  }

  get slab(): Buffer {
    return this.#slab;
  }

  commit(n: number): void {
    this.#pos += n;
    this.queued += n;
    this.#schedule();
  }

  /** Appends `buf` by reference (it must not change until flushed). */
  append(buf: Buffer): void {
    if (buf.length === 0) return;
    if (buf.length <= 256) {
      const at = this.reserve(buf.length);
      buf.copy(this.#slab, at);
      this.commit(buf.length);
      return;
    }
    this.#cut();
    this.#chunks.push(buf);
    this.queued += buf.length;
    this.#schedule();
  }

  /**
   * Appends a copy of `buf`, which is only lent for this call (its owner reuses it on return):
   * copied into a pooled slab, never held by reference.
   */
  appendBorrowed(buf: Buffer): void {
    const n = buf.length;
    if (n <= 256) {
      this.append(buf);
      return;
    }
    if (!this.#pooled || this.#pos + n > this.#slab.length) {
      this.#cut();
      this.#takeSlab(n);
    }
    buf.copy(this.#slab, this.#pos);
    this.commit(n);
  }

  /** Writes a 9-octet frame header (RFC 9113 §4.1). */
  header(length: number, type: number, flags: number, streamId: number): void {
    const at = this.reserve(FRAME_HEADER_LENGTH);
    const s = this.#slab;
    s[at] = length >>> 16;
    s[at + 1] = (length >>> 8) & 0xff;
    s[at + 2] = length & 0xff;
    s[at + 3] = type;
    s[at + 4] = flags;
    s.writeUInt32BE(streamId & 0x7fffffff, at + 5);
    this.commit(FRAME_HEADER_LENGTH);
  }

  /**
   * The per-turn flush, held while a joined write is still in flight (its callback flushes
   * instead): a TLS socket completes a write on a later turn, and a second write queued behind it
   * would reach the socket as a writev, which TLS joins into a fresh allocation — what joining
   * here avoids. The bytes go no later than they would from the socket's own queue.
   */
  #flushTurn(): void {
    if (this.#lent.length > 0) {
      this.#scheduled = false;
      this.#immediate = undefined;
      return;
    }
    this.flush();
  }

  /** Everything queued, now, even behind a write in flight (GOAWAY, the connection's end, tests). */
  flush(): void {
    this.#scheduled = false;
    if (this.#immediate !== undefined) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
    this.#cut();
    this.#release();
    const chunks = this.#chunks;
    if (chunks.length === 0 || this.#sink === undefined) return;
    this.#chunks = [];
    const total = this.queued;
    this.queued = 0;
    const held = this.#held;
    if (held.length > 0) this.#held = [];
    const sink = this.#sink;
    if (chunks.length === 1) {
      if (held.length === 0) {
        sink.write(chunks[0]);
      } else {
        this.#lent.push(held);
        sink.write(chunks[0], this.#writtenBound);
      }
      return;
    }
    if (total >= JOIN_MIN && (held.length === 0 || total <= JOIN_MAX)) {
      const out = outBuffers.take(total);
      let at = 0;
      for (let i = 0; i < chunks.length; i++) at += chunks[i].copy(out, at);
      // Copied: the slabs' bytes are no longer needed.
      for (let i = 0; i < held.length; i++) outBuffers.give(held[i]);
      this.#lent.push(out);
      sink.write(out.subarray(0, at), this.#writtenBound);
      return;
    }
    sink.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) sink.write(chunks[i]);
    if (held.length === 0) {
      sink.write(chunks[last]);
    } else {
      // Writes complete in order: the last one's callback means the socket is done with them all.
      this.#lent.push(held);
      sink.write(chunks[last], this.#writtenBound);
    }
    sink.uncork();
  }

  /** Everything queued as one Buffer, without a socket (tests, fuzzing). */
  take(): Buffer {
    this.#cut();
    this.#release();
    const out = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.queued = 0;
    for (const b of this.#held) outBuffers.give(b);
    this.#held = [];
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#scheduled = false;
    return out;
  }

  /** Lets go of the slab (all of it handed out by #cut): the next reserve takes a new one. */
  #release(): void {
    this.#pooled = false;
    this.#slab = NONE;
    this.#start = 0;
    this.#pos = 0;
  }

  #cut(): void {
    if (this.#pos > this.#start) {
      this.#chunks.push(this.#slab.subarray(this.#start, this.#pos));
      this.#start = this.#pos;
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#sink === undefined) return;
    this.#scheduled = true;
    this.#immediate = setImmediate(this.#flushBound);
  }
}
