// The LoadBalancer seam: picks one endpoint per request and hears how each request went.
// Implementations register by name (p2c-peak-ewma is the default; round-robin exists for
// comparison and tests). State is keyed by endpoint id (`ip:port`) so it survives endpoint-list
// rebuilds, and is dropped for endpoints that left and have nothing in flight.

export interface LbEndpoint {
  /** Stable identity of the endpoint: `ip:port`. */
  readonly id: string;
}

export interface LoadBalancer {
  readonly name: string;
  /** One of `endpoints` (non-empty), or undefined for an empty list. */
  pick<E extends LbEndpoint>(endpoints: readonly E[]): E | undefined;
  /** A request to `id` is now in flight. */
  started(id: string): void;
  /** It finished after `latencyMs` (to response headers, or failure). */
  finished(id: string, latencyMs: number): void;
  /** Forget endpoints not in `live` that have no requests in flight. */
  prune(live: ReadonlySet<string>): void;
  /** For /config_dump: per-endpoint view. */
  snapshot(): Record<string, unknown>;
}

export type LoadBalancerFactory = (opts: { now: () => number; random: () => number }) => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>();

export function registerLoadBalancer(name: string, factory: LoadBalancerFactory): void {
  registry.set(name, factory);
}

export function createLoadBalancer(name: string, opts: { now: () => number; random: () => number }): LoadBalancer {
  const f = registry.get(name);
  if (f === undefined) throw new Error(`unknown load balancer ${JSON.stringify(name)}; known: ${[...registry.keys()].join(', ')}`);
  return f(opts);
}

export function loadBalancerNames(): string[] {
  return [...registry.keys()];
}

/** Round robin: the comparison baseline. */
class RoundRobin implements LoadBalancer {
  readonly name = 'round-robin';
  #next = 0;
  pick<E extends LbEndpoint>(endpoints: readonly E[]): E | undefined {
    if (endpoints.length === 0) return undefined;
    const e = endpoints[this.#next % endpoints.length];
    this.#next = (this.#next + 1) % 1_000_000_007;
    return e;
  }
  started(): void {}
  finished(): void {}
  prune(): void {}
  snapshot(): Record<string, unknown> {
    return {};
  }
}

registerLoadBalancer('round-robin', () => new RoundRobin());
