// The destination agent's policy enforcement point, one per proxy worker. It keeps each local
// workload's policy compiled (dropped and rebuilt lazily when the state changes), decides
// connections and HTTP requests, logs one JSON line per denial and counts denials and audits.
// It also watches live inbound connections per workload: when the policy changes, each one's
// cached decision is re-evaluated, and a connection the new policy denies is closed.
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { MeshPolicyRecord, PolicyRecord, ResourceRecord, ServiceRecord, WorkloadRecord } from '../../control/api/model.ts';
import { compileWorkload, type WorkloadPolicy } from './compile.ts';
import { PolicyCounters } from './counters.ts';
import { describeWorkloadPolicy, type DescribedWorkloadPolicy } from './describe.ts';
import { redactQuery } from '../telemetry/redact-query.ts';
import { evaluate, type ConnectionContext, type HttpRequestAttributes, type PolicyDecision } from './evaluate.ts';

/** What the authorizer reads of the agent state (AgentState implements it). */
export interface PolicyStateView {
  authorizationPolicies(): PolicyRecord[];
  meshPolicies(): MeshPolicyRecord[];
  serviceByKey(key: string): ServiceRecord | undefined;
  workloadByKey(key: string): WorkloadRecord | undefined;
  localWorkloads(node: string): WorkloadRecord[];
}

export interface Admission {
  readonly decision: PolicyDecision;
  /** Stop watching the connection (call when it closes). Idempotent. */
  release(): void;
}

/** The narrow face the proxy handlers (and the L7 engineer) use. */
export interface InboundAuthorizer {
  /**
   * Decides a new connection; when allowed it stays watched until release(), and `close` runs if a
   * later policy denies it. With `req` (an upgrade or CONNECT that becomes a connection) it is
   * decided, and re-decided on every policy change, as that HTTP request (agent/policy/http-authz.ts).
   */
  admit(ctx: ConnectionContext, close: (decision: PolicyDecision) => void, req?: HttpRequestAttributes): Admission;
  /** Decides one HTTP request (every rule condition known). Denied: answer 403 / PERMISSION_DENIED with `weft-denied-by: <decision.policy>`. */
  authorizeRequest(ctx: ConnectionContext, req: HttpRequestAttributes): PolicyDecision;
}

/** Response header naming the policy that denied an HTTP request. */
export const DENIED_BY_HEADER = 'weft-denied-by';

/**
 * One watched connection: the Admission its handler holds is the entry recheck() walks, so a
 * long-lived connection (an idle tunnel) costs the authorizer this object and its release, not an
 * entry, an admission and a release closure with its own context.
 */
class LiveAdmission implements Admission {
  released = false;
  readonly live: Map<string, Set<LiveAdmission>>;
  readonly ctx: ConnectionContext;
  /** The request an upgraded connection was admitted as; undefined for a plain connection. */
  readonly req: HttpRequestAttributes | undefined;
  generation: number;
  decision: PolicyDecision;
  readonly close: (d: PolicyDecision) => void;

  constructor(live: Map<string, Set<LiveAdmission>>, ctx: ConnectionContext, req: HttpRequestAttributes | undefined, generation: number, decision: PolicyDecision, close: (d: PolicyDecision) => void) {
    this.live = live;
    this.ctx = ctx;
    this.req = req;
    this.generation = generation;
    this.decision = decision;
    this.close = close;
  }

  /** A bound function: handlers pass it as a 'close' listener. */
  readonly release = (): void => {
    if (this.released) return;
    this.released = true;
    const set = this.live.get(this.ctx.destination);
    if (set === undefined || !set.delete(this)) return;
    if (set.size === 0) this.live.delete(this.ctx.destination);
  };
}

const NO_RELEASE = (): void => undefined;

const POLICY_KINDS = new Set<ResourceRecord['kind']>(['policy', 'meshpolicy', 'service', 'workload']);

export interface AuthorizerOptions {
  view: PolicyStateView;
  localNode: string;
  log: Logger;
  counters?: PolicyCounters;
  /** How a request's path appears in deny and audit lines (agent/telemetry/redact-query.ts); query values redacted by default. */
  outputPath?: (path: string) => string;
  /** Every denial (a refused connection or request, a live connection cut), by destination workload key: the Prometheus counter. */
  onDenied?: (destinationWorkload: string) => void;
}

export class Authorizer implements InboundAuthorizer {
  readonly counters: PolicyCounters;
  readonly #view: PolicyStateView;
  readonly #node: string;
  readonly #log: Logger;
  readonly #outputPath: (path: string) => string;
  readonly #onDenied: ((destinationWorkload: string) => void) | undefined;
  #compiled = new Map<string, WorkloadPolicy>();
  #generation = 0;
  readonly #live = new Map<string, Set<LiveAdmission>>();

  constructor(opts: AuthorizerOptions) {
    this.#view = opts.view;
    this.#node = opts.localNode;
    this.#log = opts.log;
    this.#outputPath = opts.outputPath ?? redactQuery;
    this.counters = opts.counters ?? new PolicyCounters();
    this.#onDenied = opts.onDenied;
  }

  /** Moves on every change that can alter a decision. */
  get generation(): number {
    return this.#generation;
  }

  /** The compiled policy of a workload; a workload the state does not know gets the mesh defaults. */
  policyFor(workloadKey: string): WorkloadPolicy {
    let wp = this.#compiled.get(workloadKey);
    if (wp !== undefined) return wp;
    const w = this.#view.workloadByKey(workloadKey);
    const stub: WorkloadRecord = w ?? { kind: 'workload', key: workloadKey, uid: '', name: '', namespace: workloadKey.split('/')[0], node: '', ip: '', serviceAccount: '', identity: '', labels: {}, meshed: true, ready: false };
    wp = compileWorkload(stub, this.#view.authorizationPolicies(), this.#view.meshPolicies(), (k) => this.#view.serviceByKey(k));
    this.#compiled.set(workloadKey, wp);
    return wp;
  }

  /** Forget every compiled policy; the next decision compiles afresh. Then re-check live connections. */
  invalidate(): number {
    this.#compiled = new Map();
    this.#generation++;
    return this.recheck();
  }

  /** Hook for AgentState.onChange: only changes that can alter a decision cost anything. */
  onStateChange(change: { upserts: readonly ResourceRecord[]; removes: readonly ResourceRecord[]; resync: boolean }): void {
    // Workload records matter only for this node's workloads (their labels decide selection);
    // pods elsewhere coming and going must not re-check every live connection here.
    const matters = (r: ResourceRecord): boolean => POLICY_KINDS.has(r.kind) && (r.kind !== 'workload' || r.node === this.#node);
    if (change.resync || change.upserts.some(matters) || change.removes.some(matters)) this.invalidate();
  }

  #decide(ctx: ConnectionContext, req?: HttpRequestAttributes): PolicyDecision {
    const d = evaluate(this.policyFor(ctx.destination), ctx, req);
    for (const a of d.audits) {
      this.counters.add('audited', a, ctx.sourceIdentity, ctx.destination);
      this.#log.info('policy audit', { policy: a, allowed: d.allowed, ...this.#fields(ctx), ...(req ? { method: req.method, path: this.#outputPath(req.path) } : {}) });
    }
    if (!d.allowed) {
      this.counters.add('denied', d.policy, ctx.sourceIdentity, ctx.destination);
      this.#onDenied?.(ctx.destination);
      this.#log.warn(req === undefined ? 'connection denied by policy' : 'request denied by policy', {
        code: ErrorCodes.POLICY_DENIED,
        policy: d.policy,
        reason: d.reason,
        ...this.#fields(ctx),
        ...(req ? { method: req.method, path: this.#outputPath(req.path) } : {}),
      });
    }
    return d;
  }

  #fields(ctx: ConnectionContext): Record<string, unknown> {
    return {
      sourceIdentity: ctx.sourceIdentity,
      sourceAddress: ctx.sourceAddress,
      destinationWorkload: ctx.destination,
      port: ctx.port,
      transport: ctx.transport,
    };
  }

  /** L4 decision for a new connection (not watched: see admit). */
  authorizeConnection(ctx: ConnectionContext): PolicyDecision {
    return this.#decide(ctx);
  }

  authorizeRequest(ctx: ConnectionContext, req: HttpRequestAttributes): PolicyDecision {
    return this.#decide(ctx, req);
  }

  admit(ctx: ConnectionContext, close: (decision: PolicyDecision) => void, req?: HttpRequestAttributes): Admission {
    const decision = this.#decide(ctx, req);
    if (!decision.allowed) return { decision, release: NO_RELEASE };
    const entry = new LiveAdmission(this.#live, ctx, req, this.#generation, decision, close);
    let set = this.#live.get(ctx.destination);
    if (set === undefined) this.#live.set(ctx.destination, (set = new Set()));
    set.add(entry);
    return entry;
  }

  /** Live inbound connections per destination workload. */
  liveCount(workloadKey?: string): number {
    if (workloadKey !== undefined) return this.#live.get(workloadKey)?.size ?? 0;
    let n = 0;
    for (const s of this.#live.values()) n += s.size;
    return n;
  }

  /** Re-evaluates connections decided under an older generation; closes the ones now denied. */
  recheck(): number {
    let closed = 0;
    for (const set of [...this.#live.values()]) {
      for (const entry of [...set]) {
        if (entry.generation === this.#generation) continue;
        const d = evaluate(this.policyFor(entry.ctx.destination), entry.ctx, entry.req);
        entry.generation = this.#generation;
        entry.decision = d;
        if (d.allowed) continue;
        closed++;
        entry.release();
        this.counters.add('closed', d.policy, entry.ctx.sourceIdentity, entry.ctx.destination);
        this.#onDenied?.(entry.ctx.destination);
        this.#log.warn('open connection closed by policy', { code: ErrorCodes.POLICY_DENIED, policy: d.policy, reason: d.reason, ...this.#fields(entry.ctx) });
        try {
          entry.close(d);
        } catch (err) {
          this.#log.error('closing a denied connection failed', { err });
        }
      }
    }
    return closed;
  }

  /** The compiled policies of this node's workloads, for /config_dump. */
  dump(): Record<string, DescribedWorkloadPolicy> {
    const out: Record<string, DescribedWorkloadPolicy> = {};
    for (const w of this.#view.localWorkloads(this.#node).sort((a, b) => (a.key < b.key ? -1 : 1))) {
      out[w.key] = describeWorkloadPolicy(this.policyFor(w.key));
    }
    return out;
  }
}
