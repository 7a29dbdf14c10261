// Timeouts by the thousand as deadline queues: one queue per bound per thread, one Node timer
// per queue, and no timer object per waiter. Two users: the HTTP/1 connections' header and idle
// timeouts (agent/proxy/outbound-h1.ts) and the L7 requests' idle timeout (agent/http/exchange.ts).
// Every entry of a queue has the same bound and is (re)armed at the current time, so appending
// keeps the queue in deadline order: arming, re-arming and disarming are O(1) link changes with
// no allocation, and the queue's one timer only ever waits for its front. What this replaced:
//   - two `setTimeout` objects per HTTP/1 connection (a Node Timeout is ~180 bytes of heap with
//     its fields and heap numbers, and `refresh()` keeps the duration it was made with, so one
//     per bound), held by every idle keep-alive connection for its whole life;
//   - a `setTimeout` per request for its idle timeout: at an open-loop rate (1000 req/s, one or
//     two requests in flight) a request's timer was usually the only one of its duration, so
//     Node made a TimersList, queued it and re-armed libuv's timer for almost every request, and
//     took it all down at clearTimeout (3.5 % of the source agent's samples) — work a closed loop
//     amortises, since its list never empties. Hence the queue keeps its timer when it empties
//     (the timer fires once on nothing and stops) and refreshes a fired timer of the same delay
//     instead of making a new one.
//
// An entry is in at most one queue at a time, which is what both users need: an HTTP/1
// connection's header timeout runs while a head is awaited, its idle timeout while nothing is,
// never both. The entry's links live on the entry itself (the connection or exchange object),
// not in a node allocated per entry.
//
// Never early: the deadline is taken from a monotonic clock (`performance.now()`; Date.now() may
// step back), and when the timer wakes before the front's deadline (libuv's loop time lags the
// real clock, or the front was re-armed since) it sleeps again for what is left.

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
  /** The queue's one timer, kept between wakes (refreshed when the next delay is the same). */
  #timer: NodeJS.Timeout | undefined = undefined;
  #delay = 0;
  /** The timer is set to fire (false once it fired and nothing re-set it). */
  #pending = false;
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
    // Activity on the newest entry (a request's body chunks, one after another): it stays the tail.
    if (e === this.#tail) {
      e.dqAt = this.#now() + this.ms;
      return;
    }
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
    if (!this.#pending && !this.#waking) this.#schedule(this.ms);
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
    // An empty queue keeps its timer (see the top): it wakes once on nothing and stops, where
    // clearing it here and making another at the next arm would cost both for every request.
  }

  #schedule(ms: number): void {
    this.#pending = true;
    // Unref'd: a queue alone never keeps the agent up.
    if (this.#timer !== undefined && this.#delay === ms) this.#timer.refresh();
    else {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = setTimeout(this.#wake, ms);
      this.#timer.unref();
      this.#delay = ms;
    }
  }

  readonly #wake = (): void => {
    this.#pending = false;
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
