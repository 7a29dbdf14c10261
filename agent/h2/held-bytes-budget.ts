// A budget of held bytes per key (the agent keys it by source workload identity): DATA an
// HTTP/2 connection received and handed to its reader, which has not consumed it yet. Connection
// credit goes back on receipt (connection.ts #admitData), so a stalled reader holds at most its
// stream window — but one workload can open thousands of streams, each a stream window held
// (4 MiB × 5120 ≈ 20 GiB at the agent's defaults). Every connection of a key reports what it
// holds here; once the key holds more than the budget, each of its connections lowers the stream
// window it announces (SETTINGS_INITIAL_WINDOW_SIZE, RFC 9113 §6.9.2: the peer moves every open
// stream's window by the difference, down to negative), so a stalled stream takes no more than
// the small window, new streams start small, and streams whose readers keep up still flow. When
// the readers drain below half the budget (hysteresis: no SETTINGS ping-pong at the edge) the
// full window comes back. No stream or connection is cut. Why not reset the stream holding the
// most (Envoy's overload manager): docs/design-notes.md ("Held bytes per workload").
//
// One budget per proxy worker (connections never move between workers); the limit given is that
// worker's share, as with the other per-workload limits (agent/proxy/workload-limits.ts).

/** What an account asks of each connection it covers (H2Connection). */
export interface HeldBytesConnection {
  /** Announce `window` as SETTINGS_INITIAL_WINDOW_SIZE; null: the connection's own window again. */
  limitStreamWindow(window: number | null): void;
}

/**
 * The stream window a throttled key's connections announce: the protocol's own default (65 535,
 * what every HTTP/2 stream starts with before SETTINGS). Small enough that the bytes a key can
 * still add past its budget stay a small slack per stream (1/64 of the 4 MiB client window), big
 * enough that a stream whose reader keeps up still moves a window per round trip.
 */
export const THROTTLED_STREAM_WINDOW = 65_535;

/**
 * The least time a key stays throttled. Each throttle and each restore is one SETTINGS frame per
 * connection of the key, and a peer counts SETTINGS against its control-frame flood limit (ours:
 * 1000 PING + SETTINGS per second, agent/h2/limits.ts); a reader that drains half a small budget
 * in a millisecond would otherwise make the pair go back and forth that often. At most 2 SETTINGS
 * per connection per 50 ms: 40 a second.
 */
export const MIN_THROTTLE_MS = 50;

export interface HeldBytesBudgetOptions {
  /** Bytes one key may hold before its connections are throttled; 0 or Infinity: no budget. */
  limit: number;
  /** The stream window announced while throttled (default THROTTLED_STREAM_WINDOW). */
  throttledWindow?: number;
  /** A key went over its budget (counted for the metrics; rare: once per throttle). */
  onThrottle?: (key: string) => void;
  /** Clock for the least throttle time (tests). */
  now?: () => number;
}

export class HeldBytesAccount {
  readonly key: string;
  /** Bytes held now by every connection of the key together. */
  held = 0;
  /** Over budget: its connections announce the throttled window until it drains below half. */
  throttled = false;
  /** Times the key went over its budget. */
  throttles = 0;
  readonly #conns = new Set<HeldBytesConnection>();
  readonly #budget: HeldBytesBudget;
  /** When the current throttle began. */
  #since = 0;
  /** A restore put off until MIN_THROTTLE_MS have passed. */
  #timer: NodeJS.Timeout | undefined = undefined;

  constructor(key: string, budget: HeldBytesBudget) {
    this.key = key;
    this.#budget = budget;
  }

  /** `n` more bytes held (negative: consumed, or dropped with a closed stream). Per DATA frame: no allocation. */
  add(n: number): void {
    this.held += n;
    if (n > 0) {
      if (!this.throttled && this.held > this.#budget.limit) this.#throttle(true);
    } else if (this.throttled && this.held <= this.#budget.resumeAt && this.#timer === undefined) {
      const wait = this.#since + MIN_THROTTLE_MS - this.#budget.now();
      if (wait <= 0) this.#throttle(false);
      else {
        this.#timer = setTimeout(this.#recheck, wait);
        this.#timer.unref();
      }
    }
  }

  readonly #recheck = (): void => {
    this.#timer = undefined;
    if (this.throttled && this.held <= this.#budget.resumeAt) this.#throttle(false);
  };

  /** A connection of this key: it is told the throttled window at once if the key is over budget. */
  attach(c: HeldBytesConnection): void {
    this.#conns.add(c);
    if (this.throttled) c.limitStreamWindow(this.#budget.throttledWindow);
  }

  /** The connection ended (having given back what it held): the account goes with its last one. */
  detach(c: HeldBytesConnection): void {
    this.#conns.delete(c);
    if (this.#conns.size > 0 || this.held > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#budget.forget(this);
  }

  get connections(): number {
    return this.#conns.size;
  }

  #throttle(on: boolean): void {
    this.throttled = on;
    const w = on ? this.#budget.throttledWindow : null;
    if (on) {
      this.#since = this.#budget.now();
      this.throttles++;
      this.#budget.onThrottle?.(this.key);
    }
    for (const c of this.#conns) c.limitStreamWindow(w);
  }
}

export class HeldBytesBudget {
  /** Bytes per key (Infinity: no budget, accounts still count for the metrics). */
  readonly limit: number;
  /** Below this a throttled key gets its full window back: half the budget. */
  readonly resumeAt: number;
  readonly throttledWindow: number;
  readonly onThrottle: ((key: string) => void) | undefined;
  readonly now: () => number;
  readonly #accounts = new Map<string, HeldBytesAccount>();

  constructor(o: HeldBytesBudgetOptions) {
    this.limit = o.limit > 0 ? o.limit : Number.POSITIVE_INFINITY;
    this.resumeAt = this.limit / 2;
    this.throttledWindow = o.throttledWindow ?? THROTTLED_STREAM_WINDOW;
    this.onThrottle = o.onThrottle;
    this.now = o.now ?? Date.now;
  }

  /** The account of `key`, made on first use; give it to each connection of the key (H2Connection.attachHeldBytes). */
  account(key: string): HeldBytesAccount {
    let a = this.#accounts.get(key);
    if (a === undefined) {
      a = new HeldBytesAccount(key, this);
      this.#accounts.set(key, a);
    }
    return a;
  }

  /** Accounts with a live connection (bounded by the keys with sessions open). */
  accounts(): IterableIterator<HeldBytesAccount> {
    return this.#accounts.values();
  }

  forget(a: HeldBytesAccount): void {
    if (this.#accounts.get(a.key) === a) this.#accounts.delete(a.key);
  }
}
