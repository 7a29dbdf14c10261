// The connections' header and idle timeouts as deadline queues: one queue per bound per thread,
// one Node timer per queue, and no timer object per connection. Every entry of a queue has the
// same bound and is (re)armed at the current time, so appending keeps the queue in deadline
// order: arming, re-arming and disarming are O(1) link changes with no allocation, and the queue's
// one timer only ever waits for its front. What this replaced: two `setTimeout` objects per
// HTTP/1 connection (a Node Timeout is ~180 bytes of heap with its fields and heap numbers, and
// `refresh()` keeps the duration it was made with, so one per bound), held by every idle
// keep-alive connection for its whole life.
//
// An entry is in at most one queue at a time, which is what an HTTP/1 connection needs: the
// header timeout runs while a head is awaited, the idle timeout while nothing is, never both.
// The entry's links live on the entry itself (the connection object), not in a node allocated
// per entry.
//
// Never early: the deadline is taken from a monotonic clock (`performance.now()`), and when the
// timer wakes before the front's deadline (libuv's loop time lags the real clock, or the front
// was re-armed since) it sleeps again for what is left.

/** What the queue needs on an entry: its links and deadline (the queue's alone) and what to call at expiry. */
export interface DeadlineEntry {
  /** The queue's fields; nobody else reads or writes them. Start as null / null / null / 0. */
  dqQueue: DeadlineQueue | null;
  dqPrev: DeadlineEntry | null;
  dqNext: DeadlineEntry | null;
  dqAt: number;
  /** The bound passed: called once, after the entry left the queue. */
  deadlineExpired(): void;
}

/** Monotonic milliseconds (the clock the deadlines are on). */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

export class DeadlineQueue {
  readonly ms: number;
  readonly #now: Clock;
  #head: DeadlineEntry | null = null;
  #tail: DeadlineEntry | null = null;
  #size = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  /** Inside #wake: it schedules the timer for the front once the expired entries are out. */
  #waking = false;

  constructor(ms: number, now: Clock = monotonic) {
    this.ms = ms;
    this.#now = now;
  }

  /** Entries waiting (for tests and diagnostics). */
  get size(): number {
    return this.#size;
  }

  /** Starts (or restarts) `e`'s bound from now; takes it out of any queue it was in. */
  arm(e: DeadlineEntry): void {
    if (e.dqQueue !== null) e.dqQueue.disarm(e);
    e.dqAt = this.#now() + this.ms;
    e.dqQueue = this;
    e.dqPrev = this.#tail;
    e.dqNext = null;
    if (this.#tail === null) this.#head = e;
    else this.#tail.dqNext = e;
    this.#tail = e;
    this.#size++;
    // A queue with a timer waits for an earlier deadline than this one, the tail's.
    if (this.#timer === undefined && !this.#waking) this.#schedule(this.ms);
  }

  /** Takes `e` out of this queue (nothing when it is not in it). */
  disarm(e: DeadlineEntry): void {
    if (e.dqQueue !== this) return;
    const prev = e.dqPrev;
    const next = e.dqNext;
    if (prev === null) this.#head = next;
    else prev.dqNext = next;
    if (next === null) this.#tail = prev;
    else next.dqPrev = prev;
    e.dqQueue = null;
    e.dqPrev = null;
    e.dqNext = null;
    this.#size--;
    // An empty queue keeps no timer: an idle agent with no connections is not woken for nothing.
    if (this.#head === null && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(this.#wake, ms);
    this.#timer.unref();
  }

  readonly #wake = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    // Expired entries leave before their callback runs, so a callback may arm or disarm anything
    // (itself included) and the loop reads the front afresh each time.
    this.#waking = true;
    try {
      let e = this.#head;
      while (e !== null && e.dqAt <= now) {
        this.disarm(e);
        e.deadlineExpired();
        e = this.#head;
      }
    } finally {
      this.#waking = false;
      const front = this.#head;
      if (front !== null) this.#schedule(Math.max(1, Math.ceil(front.dqAt - now)));
    }
  };
}

/** One queue per bound on this thread (connections of every front with that bound share it). */
const queues = new Map<number, DeadlineQueue>();
export function deadlineQueue(ms: number): DeadlineQueue {
  let q = queues.get(ms);
  if (q === undefined) queues.set(ms, (q = new DeadlineQueue(ms)));
  return q;
}
