// What one request may have: its timeout, how often and on what it may be retried, where it may
// go. Resolved per request from the matched HTTPRoute rule, else the Service's `weft.dev/*`
// annotations, else the agent's defaults — and whether an attempt's outcome may be replayed.
import type { RouteBackend, RouteRule, ServiceDefaults } from '../../control/api/model.ts';

export interface AgentHttpDefaults {
  /** 0: no request timeout. */
  timeoutMs: number;
  idleTimeoutMs: number;
  retryLimit: number;
  retryBackoffMs: number;
}

export interface RequestPolicy {
  timeoutMs: number;
  idleTimeoutMs: number;
  retryLimit: number;
  retryCodes: readonly number[];
  backoffMs: number;
}

export const DEFAULT_RETRY_CODES: readonly number[] = Object.freeze([502, 503, 504]);
/** Bodies up to this size are kept while they stream, so the request can be replayed. */
export const MAX_REPLAY_BODY = 64 * 1024;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

export function resolvePolicy(rule: RouteRule | undefined, svc: ServiceDefaults | undefined, agent: AgentHttpDefaults): RequestPolicy {
  const retry = rule?.retry;
  return {
    timeoutMs: rule?.timeoutMs ?? svc?.timeoutMs ?? agent.timeoutMs,
    idleTimeoutMs: agent.idleTimeoutMs,
    retryLimit: retry?.attempts ?? svc?.retryLimit ?? agent.retryLimit,
    retryCodes: retry?.codes ?? DEFAULT_RETRY_CODES,
    backoffMs: retry?.backoffMs ?? agent.retryBackoffMs,
  };
}

/** How an attempt ended, as far as replaying it is concerned. */
export type AttemptOutcome =
  /** The request never reached the app: connect failure, REFUSED_STREAM, GOAWAY before processing. */
  | { kind: 'not-delivered' }
  /** Response headers arrived (or the mesh made a 502 of a reset after sending). */
  | { kind: 'response'; status: number; grpcStatus: string | undefined };

export const GRPC_UNAVAILABLE = '14';

/**
 * May this outcome be replayed? A request that never reached the app may always be retried
 * (nothing happened twice). gRPC UNAVAILABLE is retried for any method: gRPC defines it as "the
 * call was not processed, try again". Otherwise an outcome is retried only if the method is
 * idempotent and the status is retryable: a POST the server answered is never replayed.
 * The body must be replayable either way (checked by the caller).
 */
export function isRetryable(outcome: AttemptOutcome, method: string, policy: RequestPolicy): boolean {
  if (outcome.kind === 'not-delivered') return true;
  if (outcome.grpcStatus === GRPC_UNAVAILABLE) return true;
  if (!isIdempotent(method)) return false;
  return policy.retryCodes.includes(outcome.status);
}

/** Weighted pick among backends (traffic split); `r` in [0, 1). Undefined when all weights are 0. */
export function pickBackend(backends: readonly RouteBackend[], r: number): RouteBackend | undefined {
  let total = 0;
  for (const b of backends) total += b.weight;
  if (total <= 0) return undefined;
  let x = r * total;
  for (const b of backends) {
    if (x < b.weight) return b;
    x -= b.weight;
  }
  return backends[backends.length - 1];
}
