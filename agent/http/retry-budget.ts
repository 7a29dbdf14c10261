// A retry budget (Finagle/linkerd2-proxy style): retries may add at most `ratio` of the recent
// request volume plus `minPerSecond` retries a second, over a sliding window of `windowMs`. Under
// a full outage every request fails, retries are soon refused, and the load on the failing
// service stays within (1 + ratio) × the offered load — retries never amplify an outage.
export interface RetryBudgetOptions {
  now: () => number;
  ratio?: number;
  minPerSecond?: number;
  windowMs?: number;
}

const BUCKETS = 10;

export class RetryBudget {
  readonly #now: () => number;
  readonly #ratio: number;
  readonly #minPerSecond: number;
  readonly #windowMs: number;
  readonly #bucketMs: number;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #bucketStart = 0;
  #current = 0;
  /** Retries refused because the budget was spent. */
  exhausted = 0;
  granted = 0;

  constructor(opts: RetryBudgetOptions) {
    this.#now = opts.now;
    this.#ratio = opts.ratio ?? 0.2;
    this.#minPerSecond = opts.minPerSecond ?? 10;
    this.#windowMs = opts.windowMs ?? 10_000;
    this.#bucketMs = this.#windowMs / BUCKETS;
    this.#bucketStart = this.#now();
  }

  #advance(): void {
    const now = this.#now();
    let steps = Math.floor((now - this.#bucketStart) / this.#bucketMs);
    if (steps <= 0) return;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.#current = (this.#current + 1) % BUCKETS;
      this.#requests[this.#current] = 0;
      this.#retries[this.#current] = 0;
    }
    this.#bucketStart = now - ((now - this.#bucketStart) % this.#bucketMs);
  }

  /** Every original request (not a retry) deposits into the budget. */
  deposit(): void {
    this.#advance();
    this.#requests[this.#current]++;
  }

  /** Takes one retry from the budget; false (and counted) when it is spent. */
  tryWithdraw(): boolean {
    this.#advance();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.#requests[i];
      retries += this.#retries[i];
    }
    const allowed = requests * this.#ratio + (this.#minPerSecond * this.#windowMs) / 1000;
    if (retries + 1 > allowed) {
      this.exhausted++;
      return false;
    }
    this.#retries[this.#current]++;
    this.granted++;
    return true;
  }
}
