// The per-worker L7 state and the routing stage: from a connection's destination and a request's
// method/path/headers to (policy, candidate endpoints, retry budget). Compiled route tables and
// endpoint lists are cached by the identity of the state's arrays, which change on every update,
// so the per-request work is a few map reads and the match itself.
import type { RouteRecord, ServiceDefaults, ServiceRecord, WorkloadRecord } from '../../control/api/model.ts';
import type { RoutingView, ServiceEndpoint } from '../proxy/routing-view.ts';
import { createLoadBalancer, type LoadBalancer } from './balancer.ts';
import './p2c-peak-ewma.ts';
import { Breaker } from './breaker.ts';
import { RetryBudget } from './retry-budget.ts';
import { compileRoutes, matchRoute, type HeaderBag, type RouteTable } from './route-table.ts';
import { pickBackend, resolvePolicy, type AgentHttpDefaults, type RequestPolicy } from './request-policy.ts';
import type { L7Counters } from './counters.ts';
import { noTelemetry, type Telemetry } from '../telemetry/telemetry.ts';

export interface HttpView extends RoutingView {
  routesFor(serviceKey: string): readonly RouteRecord[];
  serviceByKey(key: string): ServiceRecord | undefined;
}

/** An endpoint as the L7 stages see it. `id` is `ip:port`. */
export interface HttpEndpoint {
  readonly id: string;
  readonly ip: string;
  readonly port: number;
  readonly workload: WorkloadRecord;
  /** True when the pod runs on this node (no mTLS hop). */
  readonly local: boolean;
}

/** Where a captured connection was going: a Service port, or one workload (pod IP). */
export type HttpDestination =
  | { kind: 'service'; service: ServiceRecord; port: number }
  | { kind: 'workload'; endpoint: HttpEndpoint };

export interface Resolved {
  policy: RequestPolicy;
  endpoints: readonly HttpEndpoint[];
  /** The Service whose budget and breaker scope this request uses ('' for a pod IP). */
  budget: RetryBudget | undefined;
  backend: string;
  /** The matched HTTPRoute's key, '' when none (a bounded metric label). */
  route: string;
}

export interface RouterOptions {
  view: HttpView;
  localNode: string;
  defaults: AgentHttpDefaults;
  balancer: string;
  counters: L7Counters;
  now?: () => number;
  random?: () => number;
  budget?: { ratio: number; minPerSecond: number };
  /** Per-attempt request events, ejections (agent/telemetry); none in tests. */
  telemetry?: Telemetry;
}

const NONE: readonly HttpEndpoint[] = Object.freeze([]);

export class Router {
  readonly view: HttpView;
  readonly localNode: string;
  readonly lb: LoadBalancer;
  readonly breaker: Breaker;
  readonly counters: L7Counters;
  readonly telemetry: Telemetry;
  readonly now: () => number;
  readonly random: () => number;
  readonly #defaults: AgentHttpDefaults;
  readonly #budgetOpts: { ratio: number; minPerSecond: number };
  readonly #tables = new Map<string, { routes: readonly RouteRecord[]; table: RouteTable }>();
  readonly #endpoints = new WeakMap<readonly ServiceEndpoint[], readonly HttpEndpoint[]>();
  readonly #budgets = new Map<string, RetryBudget>();
  #pruneAt = 0;

  constructor(o: RouterOptions) {
    this.view = o.view;
    this.localNode = o.localNode;
    this.counters = o.counters;
    this.telemetry = o.telemetry ?? noTelemetry;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.#defaults = o.defaults;
    this.#budgetOpts = o.budget ?? { ratio: 0.2, minPerSecond: 10 };
    this.lb = createLoadBalancer(o.balancer, { now: this.now, random: this.random });
    this.breaker = new Breaker({ now: this.now, random: this.random, counters: o.counters });
  }

  /** The endpoint for a pod-IP destination (a fixed single endpoint). */
  endpointFor(workload: WorkloadRecord, port: number): HttpEndpoint {
    return { id: `${workload.ip}:${port}`, ip: workload.ip, port, workload, local: workload.node === this.localNode };
  }

  resolve(dst: HttpDestination, method: string, target: string, headers: HeaderBag): Resolved {
    if (dst.kind === 'workload') {
      return { policy: resolvePolicy(undefined, undefined, this.#defaults), endpoints: [dst.endpoint], budget: undefined, backend: dst.endpoint.workload.key, route: '' };
    }
    const svc = dst.service;
    const match = matchRoute(this.#table(svc.key, dst.port), method, target, headers);
    const rule = match?.rule;
    let backendKey = svc.key;
    let backendPort = dst.port;
    let defaults: ServiceDefaults | undefined = svc.defaults;
    if (rule !== undefined && rule.backends.length > 0) {
      const b = pickBackend(rule.backends, this.random());
      if (b === undefined) return { policy: resolvePolicy(rule, defaults, this.#defaults), endpoints: NONE, budget: undefined, backend: svc.key, route: match?.route.key ?? '' };
      backendKey = b.service;
      backendPort = b.port;
      if (backendKey !== svc.key) defaults = this.view.serviceByKey(backendKey)?.defaults ?? defaults;
    }
    return {
      policy: resolvePolicy(rule, defaults, this.#defaults),
      endpoints: this.#httpEndpoints(this.view.endpoints(backendKey, backendPort)),
      budget: this.#budget(backendKey),
      backend: backendKey,
      route: match?.route.key ?? '',
    };
  }

  #table(service: string, port: number): RouteTable {
    const routes = this.view.routesFor(service);
    const key = `${service}|${port}`;
    const cached = this.#tables.get(key);
    if (cached !== undefined && cached.routes === routes) return cached.table;
    const table = compileRoutes(routes, service, port);
    this.#tables.set(key, { routes, table });
    return table;
  }

  #httpEndpoints(eps: readonly ServiceEndpoint[]): readonly HttpEndpoint[] {
    let out = this.#endpoints.get(eps);
    if (out === undefined) {
      out = eps.map((e) => this.endpointFor(e.workload, e.port));
      this.#endpoints.set(eps, out);
      this.#maybePrune();
    }
    return out;
  }

  #budget(service: string): RetryBudget {
    let b = this.#budgets.get(service);
    if (b === undefined) {
      b = new RetryBudget({ now: this.now, ratio: this.#budgetOpts.ratio, minPerSecond: this.#budgetOpts.minPerSecond });
      this.#budgets.set(service, b);
    }
    return b;
  }

  /** After endpoint changes, forget balancer/breaker state of endpoints gone from every Service. */
  #maybePrune(): void {
    const now = this.now();
    if (now < this.#pruneAt) return;
    this.#pruneAt = now + 10_000;
    const live = new Set<string>();
    for (const w of this.#allEndpointIds()) live.add(w);
    this.lb.prune(live);
    this.breaker.prune(live);
  }

  *#allEndpointIds(): Iterable<string> {
    for (const cached of this.#tables.keys()) {
      const [svc, port] = cached.split('|');
      for (const e of this.view.endpoints(svc, Number(port))) yield `${e.workload.ip}:${e.port}`;
    }
  }

  snapshot(): Record<string, unknown> {
    const budgets: Record<string, unknown> = {};
    for (const [k, b] of this.#budgets) budgets[k] = { granted: b.granted, exhausted: b.exhausted };
    return { balancer: this.lb.name, endpoints: this.lb.snapshot(), breaker: this.breaker.snapshot(), budgets };
  }
}
