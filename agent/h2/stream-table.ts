// A connection's open streams by id, and the ids it closed lately, without a Map.
//
// Why not a Map: a connection lives long, so its Map is in V8's old generation, and so is every
// hash table the Map makes when it grows, shrinks or rehashes away deleted entries (V8 allocates
// a rehashed table where the old one lives). The table it leaves behind still points at the
// streams that were open then; the young-generation collector treats every old-to-young pointer
// as a root, dead table or not, so those streams — and each one's whole request (handler,
// exchange, timers, headers) — survive every scavenge and are promoted, until a mark-compact
// finds them dead. With a few streams in flight and one opened per request, the open-stream count
// swings around zero and the Map rehashes every few requests (a Map of 0–24 live objects swinging
// per burst promoted 6.1 MB against 0.5 MB without it; docs/design-notes.md, issue 19).
//
// Here the slots are preallocated arrays that are written in place: a closed stream's slot is
// cleared at once, and when the table doubles the arrays it leaves are cleared before they are
// dropped, so nothing dead ever points at a live request. Stream ids of one connection are
// sequential (odd from the client, even from the server), so `id >>> 1` masked by the capacity
// puts consecutive streams in consecutive slots: linear probing, backward-shift deletion.

const EMPTY = 0; // stream id 0 is the connection, never a stream

/**
 * Capacity above which a table that empties goes back to its initial size. A burst of 10 000
 * concurrent streams (HBONE tunnels on one session) doubles the table to 32 768 slots, ~384 KB
 * (an Int32Array and an array of pointers) that the session would keep for its whole life. Only at
 * size 0, and only from this size up: a connection whose streams swing around zero with a few in
 * flight never reallocates, and an empty table has nothing a dead array could point at.
 */
const SHRINK_FROM = 256;

export class StreamTable<V> {
  #ids: Int32Array;
  #vals: Array<V | undefined>;
  #mask: number;
  #size = 0;
  readonly #initial: number;

  constructor(capacity = 16) {
    let cap = 8;
    while (cap < capacity) cap *= 2;
    this.#initial = cap;
    this.#ids = new Int32Array(cap);
    this.#vals = new Array<V | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
  }

  /** Slots the table holds now (tests, memory accounting). */
  get capacity(): number {
    return this.#ids.length;
  }

  get size(): number {
    return this.#size;
  }

  get(id: number): V | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#vals[i];
  }

  has(id: number): boolean {
    return this.#find(id) >= 0;
  }

  /** Adds or replaces. `id` must be a stream id (1 … 2^31−1). */
  set(id: number, v: V): void {
    if (!Number.isInteger(id) || id <= 0 || id > 0x7fffffff) throw new RangeError(`not a stream id: ${id}`);
    const at = this.#find(id);
    if (at >= 0) {
      this.#vals[at] = v;
      return;
    }
    if ((this.#size + 1) * 2 > this.#ids.length) this.#grow();
    this.#put(id, v);
    this.#size++;
  }

  delete(id: number): boolean {
    let i = this.#find(id);
    if (i < 0) return false;
    const ids = this.#ids;
    const vals = this.#vals;
    const mask = this.#mask;
    ids[i] = EMPTY;
    vals[i] = undefined;
    this.#size--;
    if (this.#size === 0 && ids.length >= SHRINK_FROM && ids.length > this.#initial) {
      // Every slot is empty now (the one just cleared was the last): nothing to move or clear.
      this.#ids = new Int32Array(this.#initial);
      this.#vals = new Array<V | undefined>(this.#initial).fill(undefined);
      this.#mask = this.#initial - 1;
      return true;
    }
    // Backward shift: pull later members of the probe run into the hole when their home slot is
    // not cyclically within (hole, here], so every lookup still meets its id before an empty slot.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const id2 = ids[j];
      if (id2 === EMPTY) return true;
      const home = (id2 >>> 1) & mask;
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      ids[i] = id2;
      vals[i] = vals[j];
      ids[j] = EMPTY;
      vals[j] = undefined;
      i = j;
    }
  }

  /**
   * The values, ascending by stream id: a copy, so the caller may close streams while walking it.
   * A connection's streams all come from one side (push is off), so this is the order they opened.
   */
  values(): V[] {
    const ids: number[] = [];
    for (let i = 0; i < this.#ids.length; i++) if (this.#ids[i] !== EMPTY) ids.push(this.#ids[i]);
    ids.sort((a, b) => a - b);
    return ids.map((id) => this.#vals[this.#find(id)] as V);
  }

  #find(id: number): number {
    const ids = this.#ids;
    const mask = this.#mask;
    if (id <= 0) return -1;
    for (let i = (id >>> 1) & mask; ; i = (i + 1) & mask) {
      const here = ids[i];
      if (here === id) return i;
      if (here === EMPTY) return -1;
    }
  }

  #put(id: number, v: V): void {
    const ids = this.#ids;
    const mask = this.#mask;
    let i = (id >>> 1) & mask;
    while (ids[i] !== EMPTY) i = (i + 1) & mask;
    ids[i] = id;
    this.#vals[i] = v;
  }

  #grow(): void {
    const oldIds = this.#ids;
    const oldVals = this.#vals;
    const cap = oldIds.length * 2;
    this.#ids = new Int32Array(cap);
    this.#vals = new Array<V | undefined>(cap).fill(undefined);
    this.#mask = cap - 1;
    for (let i = 0; i < oldIds.length; i++) if (oldIds[i] !== EMPTY) this.#put(oldIds[i], oldVals[i] as V);
    // The dropped array may sit in the old generation: cleared, it points at nothing.
    oldVals.fill(undefined);
  }
}

/**
 * The last `capacity` streams closed and how each closed (a small code), oldest forgotten first.
 * Two typed arrays: nothing per stream is allocated, nothing in them is a pointer. They grow by
 * doubling up to `capacity` (an idle connection that served a few streams holds a few slots, not
 * 256), then the oldest slot is reused.
 */
export class ClosedStreams {
  readonly #capacity: number;
  #ids = new Int32Array(0);
  #by = new Uint8Array(0);
  /** Slots in use (≤ capacity) and where the next one goes. */
  #count = 0;
  #next = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  /** How `id` closed, or undefined when it is not (or no longer) remembered. */
  get(id: number): number | undefined {
    const i = this.#find(id);
    return i < 0 ? undefined : this.#by[i];
  }

  /** A stream that just left the open table: it cannot be here already, so no look-up. */
  add(id: number, by: number): void {
    if (this.#count === this.#ids.length && this.#count < this.#capacity) this.#grow();
    this.#ids[this.#next] = id;
    this.#by[this.#next] = by;
    this.#next = (this.#next + 1) % this.#ids.length;
    if (this.#count < this.#ids.length) this.#count++;
  }

  /** Records or updates (in place, keeping its age) how `id` closed. */
  set(id: number, by: number): void {
    const i = this.#find(id);
    if (i >= 0) this.#by[i] = by;
    else this.add(id, by);
  }

  /** Before the ring first wraps its slots are in order from 0, so growing is a copy. */
  #grow(): void {
    const n = Math.min(this.#capacity, Math.max(8, this.#ids.length * 2));
    const ids = new Int32Array(n);
    const by = new Uint8Array(n);
    ids.set(this.#ids);
    by.set(this.#by);
    this.#ids = ids;
    this.#by = by;
    this.#next = this.#count;
  }

  #find(id: number): number {
    if (id <= 0) return -1;
    const n = this.#ids.length;
    // Newest first: a frame on a closed stream is almost always for one that closed lately.
    for (let k = 1; k <= this.#count; k++) {
      const i = (this.#next - k + n) % n;
      if (this.#ids[i] === id) return i;
    }
    return -1;
  }
}
