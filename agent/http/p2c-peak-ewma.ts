// Power of two choices over peak-EWMA latency, weighted by pending requests (the linkerd2-proxy /
// Finagle balancer): pick two endpoints at random, send to the cheaper one, where
//   cost = rtt estimate × (pending + 1) ÷ warm-up factor.
// The estimate jumps up to any slower observation at once (peak) and decays toward faster ones
// with time constant `decayMs`; between observations it decays toward zero, so an endpoint that
// was slow a while ago gets tried again rather than starved forever. Endpoints nobody has measured
// start at `defaultRttMs`. New endpoints warm up: their cost is divided by a factor growing from
// 0.1 to 1 over `warmupMs`, so a fresh pod (cold caches, JIT) gets a trickle first, then its share.
import { registerLoadBalancer, type LbEndpoint, type LoadBalancer } from './balancer.ts';

export interface PeakEwmaOptions {
  now: () => number;
  random: () => number;
  decayMs?: number;
  defaultRttMs?: number;
  warmupMs?: number;
}

interface EndpointLoad {
  rttMs: number;
  /** When rttMs was last updated (ms). */
  stamp: number;
  pending: number;
  firstSeen: number;
}

const MIN_WARM = 0.1;

export class PeakEwmaBalancer implements LoadBalancer {
  readonly name = 'p2c-peak-ewma';
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #decayMs: number;
  readonly #defaultRttMs: number;
  readonly #warmupMs: number;
  readonly #loads = new Map<string, EndpointLoad>();

  constructor(opts: PeakEwmaOptions) {
    this.#now = opts.now;
    this.#random = opts.random;
    this.#decayMs = opts.decayMs ?? 10_000;
    this.#defaultRttMs = opts.defaultRttMs ?? 30;
    this.#warmupMs = opts.warmupMs ?? 10_000;
  }

  #load(id: string, now: number): EndpointLoad {
    let l = this.#loads.get(id);
    if (l === undefined) {
      l = { rttMs: this.#defaultRttMs, stamp: now, pending: 0, firstSeen: now };
      this.#loads.set(id, l);
    }
    return l;
  }

  /** The current cost of an endpoint (exported for tests and the admin dump). */
  cost(id: string, now = this.#now()): number {
    const l = this.#load(id, now);
    const rtt = l.rttMs * Math.exp(-Math.max(0, now - l.stamp) / this.#decayMs);
    const age = now - l.firstSeen;
    const warm = this.#warmupMs <= 0 || age >= this.#warmupMs ? 1 : Math.max(MIN_WARM, age / this.#warmupMs);
    // An endpoint with requests in flight and a decayed estimate must still look busy.
    const base = rtt < 1 && l.pending > 0 ? this.#defaultRttMs : rtt;
    return (base * (l.pending + 1)) / warm;
  }

  pick<E extends LbEndpoint>(endpoints: readonly E[]): E | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) {
      this.#load(endpoints[0].id, this.#now());
      return endpoints[0];
    }
    const i = Math.floor(this.#random() * n);
    let j = Math.floor(this.#random() * (n - 1));
    if (j >= i) j++;
    const now = this.#now();
    const a = endpoints[i];
    const b = endpoints[j];
    return this.cost(a.id, now) <= this.cost(b.id, now) ? a : b;
  }

  started(id: string): void {
    this.#load(id, this.#now()).pending++;
  }

  finished(id: string, latencyMs: number): void {
    const now = this.#now();
    const l = this.#load(id, now);
    if (l.pending > 0) l.pending--;
    const decayed = l.rttMs * Math.exp(-Math.max(0, now - l.stamp) / this.#decayMs);
    if (latencyMs > decayed) {
      l.rttMs = latencyMs; // peak: slowness shows at once
    } else {
      const w = Math.exp(-Math.max(0, now - l.stamp) / this.#decayMs);
      l.rttMs = decayed * w + latencyMs * (1 - w);
    }
    l.stamp = now;
  }

  prune(live: ReadonlySet<string>): void {
    for (const [id, l] of this.#loads) if (!live.has(id) && l.pending === 0) this.#loads.delete(id);
  }

  snapshot(): Record<string, unknown> {
    const now = this.#now();
    const out: Record<string, unknown> = {};
    for (const [id, l] of this.#loads) out[id] = { rttMs: Math.round(l.rttMs * 10) / 10, pending: l.pending, cost: Math.round(this.cost(id, now) * 10) / 10 };
    return out;
  }
}

registerLoadBalancer('p2c-peak-ewma', (o) => new PeakEwmaBalancer(o));
