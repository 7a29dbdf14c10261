// Authorization of one HTTP request: the ONE check every path calls, so no path can drift from the
// others (the Upgrade path once spliced same-node requests without any check). The callers:
//   - agent/proxy/outbound-http.ts `forward`: same-node requests, HTTP/1 and HTTP/2 (prior knowledge);
//   - agent/proxy/inbound-http.ts: requests a peer agent carries over HBONE (cross node);
//   - agent/proxy/upgrade-splice.ts: Upgrade (WebSocket, h2c) and CONNECT requests, same node
//     (outbound-http.ts onUpgrade) and cross node (inbound-hbone.ts, an upgrade tunnel).
// A request that becomes a connection (an upgrade) is admitted with `onRevoked`: it stays watched,
// and a later policy change re-decides it as the same request and cuts it when now denied.
// Denials are logged and counted by the Authorizer (`request denied by policy`), whichever path.
import { ErrorCodes } from '../../common/errors.ts';
import { DENIED_BY_HEADER, type InboundAuthorizer } from './authorizer.ts';
import type { ConnectionContext, HttpRequestAttributes, PolicyDecision } from './evaluate.ts';

export interface HttpVerdict {
  /** The denial, or undefined when the request may go on. */
  readonly denied: PolicyDecision | undefined;
  /** Stops watching an admitted upgrade (call when the connection closes). Idempotent. */
  release(): void;
}

const noop = (): void => undefined;
/** Shared: an allowed plain request costs no allocation here. */
const ALLOWED: HttpVerdict = Object.freeze({ denied: undefined, release: noop });

/**
 * Decides one HTTP request to a workload on this node with everything known: the source identity
 * and address as this agent sees them, the destination port, and the request's method, path and
 * headers. No policy (tests of the data path alone): allowed.
 */
export function authorizeHttp(
  policy: InboundAuthorizer | undefined,
  ctx: ConnectionContext,
  req: HttpRequestAttributes,
  onRevoked?: (d: PolicyDecision) => void,
): HttpVerdict {
  if (policy === undefined) return ALLOWED;
  if (onRevoked === undefined) {
    const d = policy.authorizeRequest(ctx, req);
    return d.allowed ? ALLOWED : { denied: d, release: noop };
  }
  const a = policy.admit(ctx, onRevoked, req);
  return a.decision.allowed ? { denied: undefined, release: a.release } : { denied: a.decision, release: noop };
}

/** The headers of a denial's 403, on every path: the stable code and the deciding policy. */
export function deniedHeaders(d: PolicyDecision): Record<string, string> {
  return { 'weft-error': ErrorCodes.POLICY_DENIED, [DENIED_BY_HEADER]: d.policy, 'content-length': '0' };
}

/**
 * The same 403 as raw HTTP/1.1, for a connection that is no longer HTTP to us (an upgrade or
 * CONNECT). `undefined`: a peer agent refused without saying which policy (no weft-denied-by).
 */
export function deniedHttp1(d: PolicyDecision | undefined): string {
  // A policy key is `ns/name` (or a comma list of them): nothing else may reach the head.
  const by = d === undefined ? '' : `${DENIED_BY_HEADER}: ${d.policy.replace(/[^\x21-\x7e]/g, '')}\r\n`;
  return `HTTP/1.1 403 Forbidden\r\nweft-error: ${ErrorCodes.POLICY_DENIED}\r\n${by}content-length: 0\r\nconnection: close\r\n\r\n`;
}
