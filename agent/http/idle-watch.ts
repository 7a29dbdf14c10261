// The idle timeout of requests in flight (WEFT_HTTP_IDLE_TIMEOUT_MS, a route's idle timeout): one
// watch per duration, holding its requests in order of their last activity, with ONE timer.
//
// Why not a node timer per request: at an open-loop rate (1000 req/s, one or two requests in
// flight) a request's timer was usually the only one of its duration, so node made a TimersList,
// queued it and re-armed libuv's timer (binding.scheduleTimer) for almost every request, and took
// it all down again at clearTimeout — work a closed loop amortises, since its list never empties.
// Here a request joins and leaves a linked list (no allocation), activity moves it to the tail,
// and the watch's one timer, made once and refreshed, wakes when the oldest could be due: a watch
// of 300 s under steady traffic wakes every 300 s, finds the oldest request recent, and sleeps.
//
// A request expires when `ms` passed since its last activity, never earlier, and at most a timer
// tick later — as a refreshed timer of its own would.

/** What a watch holds: the request's links and last activity (the watch's own fields on the request object, so joining allocates nothing). */
export interface IdleWatched {
  idlePrev: IdleWatched | null;
  idleNext: IdleWatched | null;
  /** performance.now() of the last activity; -1: not watched. */
  idleAt: number;
  /** The idle timeout fired: the request is out of the watch already. */
  onIdle(): void;
}

/** A monotonic clock: Date.now() may step back (NTP), which would stretch a timeout. */
const now = (): number => performance.now();

export class IdleWatch {
  readonly ms: number;
  #head: IdleWatched | null = null;
  #tail: IdleWatched | null = null;
  #timer: NodeJS.Timeout | undefined = undefined;
  /** The timer is pending (a fired timer is refreshed, not remade). */
  #armed = false;

  constructor(ms: number) {
    this.ms = ms;
  }

  /** Starts watching `x` (not watched yet), active now. */
  add(x: IdleWatched): void {
    x.idleAt = now();
    this.#append(x);
    if (!this.#armed) this.#arm(this.ms);
  }

  /** Activity on `x`: its idle time starts over. No-op when `x` is not watched. */
  touch(x: IdleWatched): void {
    if (x.idleAt < 0) return;
    x.idleAt = now();
    if (this.#tail === x) return;
    this.#unlink(x);
    this.#append(x);
  }

  /** Stops watching `x` (done, or timed out otherwise). No-op when not watched. The timer stays: when it fires on an empty watch it just stops. */
  remove(x: IdleWatched): void {
    if (x.idleAt < 0) return;
    this.#unlink(x);
    x.idleAt = -1;
  }

  /** How many requests are watched (tests, diagnostics). */
  get size(): number {
    let n = 0;
    for (let x = this.#head; x !== null; x = x.idleNext) n++;
    return n;
  }

  #append(x: IdleWatched): void {
    x.idleNext = null;
    x.idlePrev = this.#tail;
    if (this.#tail === null) this.#head = x;
    else this.#tail.idleNext = x;
    this.#tail = x;
  }

  #unlink(x: IdleWatched): void {
    const p = x.idlePrev;
    const n = x.idleNext;
    if (p === null) this.#head = n;
    else p.idleNext = n;
    if (n === null) this.#tail = p;
    else n.idlePrev = p;
    x.idlePrev = null;
    x.idleNext = null;
  }

  #arm(ms: number): void {
    this.#armed = true;
    // Unref'd: a watch alone never keeps the agent up. A fired timer with the same delay is refreshed, not remade.
    const delay = Math.max(1, Math.ceil(ms));
    if (this.#timer !== undefined && this.#delay === delay) this.#timer.refresh();
    else {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = setTimeout(this.#fire, delay).unref();
      this.#delay = delay;
    }
  }

  #delay = 0;

  readonly #fire = (): void => {
    this.#armed = false;
    const t = now();
    // Oldest activity first: expire from the head while due; the first one not due sets the next wake.
    for (let x = this.#head; x !== null; x = this.#head) {
      const left = x.idleAt + this.ms - t;
      if (left > 0) {
        this.#arm(left);
        return;
      }
      this.#unlink(x);
      x.idleAt = -1;
      x.onIdle();
    }
  };
}

/** One watch per idle duration, for the whole agent (worker): like node's own timer lists, by duration. */
const watches = new Map<number, IdleWatch>();

/** The watch of `ms` (> 0). */
export function idleWatch(ms: number): IdleWatch {
  let w = watches.get(ms);
  if (w === undefined) watches.set(ms, (w = new IdleWatch(ms)));
  return w;
}
