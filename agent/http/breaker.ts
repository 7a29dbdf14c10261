// Circuit breaking by consecutive-failure accrual (linkerd2-proxy's failure-accrual): an endpoint
// that fails `maxFailures` requests in a row is ejected for a backoff that doubles with every
// ejection in a row (with jitter, capped). When the backoff ends it is on probation: exactly one
// request — the probe — may go to it; success closes the breaker, failure ejects it again for
// longer. Ejection never takes more than `maxEjectedRatio` of a service's endpoints (and never the
// last one): a service with every endpoint failing still gets its requests tried, because an
// outage the app sees as errors beats one it sees as "no endpoints".
import type { LbEndpoint } from './balancer.ts';

export interface BreakerOptions {
  now: () => number;
  random: () => number;
  maxFailures?: number;
  baseEjectMs?: number;
  maxEjectMs?: number;
  maxEjectedRatio?: number;
  /** Where to count ejections/probes/recoveries (shared with the proxy's stats); default: own. */
  counters?: BreakerCounters;
}

type State = 'closed' | 'ejected' | 'probing';

interface EndpointHealth {
  state: State;
  consecutive: number;
  /** Ejections in a row without a success between them. */
  streak: number;
  until: number;
  probeInFlight: boolean;
}

export interface BreakerCounters {
  ejections: number;
  probes: number;
  recoveries: number;
  /** Ejections skipped because the service would have lost too many endpoints. */
  ejectionsCapped: number;
}

export class Breaker {
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #maxFailures: number;
  readonly #baseEjectMs: number;
  readonly #maxEjectMs: number;
  readonly #maxEjectedRatio: number;
  readonly #health = new Map<string, EndpointHealth>();
  readonly counters: BreakerCounters;

  constructor(opts: BreakerOptions) {
    this.#now = opts.now;
    this.#random = opts.random;
    this.#maxFailures = opts.maxFailures ?? 5;
    this.#baseEjectMs = opts.baseEjectMs ?? 1000;
    this.#maxEjectMs = opts.maxEjectMs ?? 60_000;
    this.#maxEjectedRatio = opts.maxEjectedRatio ?? 0.5;
    this.counters = opts.counters ?? { ejections: 0, probes: 0, recoveries: 0, ejectionsCapped: 0 };
  }

  #get(id: string): EndpointHealth {
    let h = this.#health.get(id);
    if (h === undefined) {
      h = { state: 'closed', consecutive: 0, streak: 0, until: 0, probeInFlight: false };
      this.#health.set(id, h);
    }
    return h;
  }

  /** Whether `id` may take a request now (ejected: no; probing: only if no probe is out). */
  #usable(h: EndpointHealth | undefined, now: number): boolean {
    if (h === undefined || h.state === 'closed') return true;
    if (h.state === 'ejected' && now >= h.until) {
      h.state = 'probing';
      h.probeInFlight = false;
    }
    return h.state === 'probing' && !h.probeInFlight;
  }

  /**
   * The endpoints that may take a request. Allocates only when something is ejected; with
   * everything unusable it returns the full list (fail open).
   */
  available<E extends LbEndpoint>(endpoints: readonly E[]): readonly E[] {
    if (this.#health.size === 0) return endpoints;
    const now = this.#now();
    let usable = 0;
    for (const e of endpoints) if (this.#usable(this.#health.get(e.id), now)) usable++;
    if (usable === endpoints.length || usable === 0) return endpoints;
    const out: E[] = [];
    for (const e of endpoints) if (this.#usable(this.#health.get(e.id), now)) out.push(e);
    return out;
  }

  /** A request is going to `id`; if it is on probation this request is its probe. */
  dispatched(id: string): void {
    const h = this.#health.get(id);
    if (h !== undefined && h.state === 'probing' && !h.probeInFlight) {
      h.probeInFlight = true;
      this.counters.probes++;
    }
  }

  success(id: string): void {
    const h = this.#health.get(id);
    if (h === undefined) return;
    if (h.state !== 'closed') this.counters.recoveries++;
    h.state = 'closed';
    h.consecutive = 0;
    h.streak = 0;
    h.probeInFlight = false;
  }

  /** A failure of a request to `id`; `peers` are the service's endpoints (for the ejection cap). */
  failure(id: string, peers: readonly LbEndpoint[]): void {
    const h = this.#get(id);
    const now = this.#now();
    if (h.state === 'probing') {
      this.#eject(h, now);
      return;
    }
    if (h.state === 'ejected') return;
    h.consecutive++;
    if (h.consecutive < this.#maxFailures) return;
    // The cap: count who is out already, this one included.
    let out = 1;
    for (const p of peers) {
      if (p.id === id) continue;
      const ph = this.#health.get(p.id);
      if (ph !== undefined && ph.state !== 'closed') out++;
    }
    if (out > Math.floor(peers.length * this.#maxEjectedRatio)) {
      this.counters.ejectionsCapped++;
      h.consecutive = 0;
      return;
    }
    this.#eject(h, now);
  }

  #eject(h: EndpointHealth, now: number): void {
    h.streak++;
    const backoff = Math.min(this.#maxEjectMs, this.#baseEjectMs * 2 ** (h.streak - 1));
    // ±25% jitter, so endpoints ejected together do not all come back in the same instant.
    h.until = now + backoff * (0.75 + 0.5 * this.#random());
    h.state = 'ejected';
    h.consecutive = 0;
    h.probeInFlight = false;
    this.counters.ejections++;
  }

  state(id: string): State {
    const h = this.#health.get(id);
    if (h === undefined) return 'closed';
    this.#usable(h, this.#now());
    return h.state;
  }

  prune(live: ReadonlySet<string>): void {
    for (const id of this.#health.keys()) if (!live.has(id)) this.#health.delete(id);
  }

  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [id, h] of this.#health) if (h.state !== 'closed' || h.consecutive > 0) out[id] = { state: h.state, consecutive: h.consecutive, streak: h.streak };
    return { counters: this.counters, endpoints: out };
  }
}
