// Node attestation in a cluster: the agent presents its projected ServiceAccount token (audience
// `weft-control`, so a token stolen from some other audience's consumer is worthless here), and
// control asks the API server about it with a TokenReview (authentication.k8s.io/v1,
// spec.audiences). The answer names the ServiceAccount and — for projected tokens — the pod the
// token is bound to. The node comes from the token's node claim
// (`authentication.kubernetes.io/node-name` in status.user.extra, Kubernetes ≥ 1.30) or else from
// the bound pod's spec.nodeName as the cluster model knows it, with the pod uid checked so a token
// of a deleted pod cannot ride on a new pod of the same name.
//
// Only the agent's own ServiceAccount (weft-system/weft-agent by default) is accepted: any pod can
// get a token with our audience for its own account, but only agent pods run as that one.
//
// RBAC: `create` on `tokenreviews` (apiGroup authentication.k8s.io), cluster-wide.
//
// Answers are cached briefly by a digest of the token (never the token itself): a reconnecting
// fleet of agents must not turn into a TokenReview storm. Refusals are not cached, and an answer
// is never kept past the token's own expiry (its JWT `exp`), so an expired token is not accepted
// from the cache.
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { loadKubeConfig } from '../discovery/kubernetes-source.ts';
import { registerNodeAuthenticator, type AuthenticatedNode, type NodeAuthenticator } from './authenticator.ts';

export const TOKEN_REVIEW_AUTHENTICATOR = 'token-review';
export const DEFAULT_AUDIENCE = 'weft-control';
export const DEFAULT_AGENT_SERVICE_ACCOUNT = 'weft-system/weft-agent';
export const NODE_NAME_CLAIM = 'authentication.kubernetes.io/node-name';
export const POD_NAME_CLAIM = 'authentication.kubernetes.io/pod-name';
export const POD_UID_CLAIM = 'authentication.kubernetes.io/pod-uid';

/** The part of TokenReview.status this authenticator reads. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

/** Posts a TokenReview; the seam tests and other clients replace. */
export type TokenReviewer = (token: string, audiences: string[]) => Promise<TokenReviewStatus>;

/** Where a pod is scheduled, from the cluster model; undefined when the pod is unknown. */
export type PodLookup = (namespace: string, name: string) => { uid: string; node: string } | undefined;

export interface TokenReviewAuthenticatorOptions {
  review: TokenReviewer;
  pods: PodLookup;
  audience?: string;
  /** `namespace/name` of the agent's ServiceAccount. */
  agentServiceAccount?: string;
  cacheTtlMs?: number;
  /** A TokenReview slower than this is a failure (the agent retries). */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * The `exp` claim (seconds since the epoch) of a JWT, or undefined when the token is not a JWT or
 * carries none. The signature is NOT verified: this is only used to bound how long an answer the
 * API server already gave (it authenticated the token) may be cached, never to accept a token.
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === '') return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (typeof claims !== 'object' || claims === null) return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** Until when (ms) an accepted token's answer may be served from the cache: the TTL, capped at the token's expiry. */
export function cacheUntil(now: number, ttlMs: number, token: string): number {
  const exp = tokenExpiry(token);
  const byTtl = now + ttlMs;
  return exp === undefined ? byTtl : Math.min(byTtl, exp * 1000);
}

const refuse = (message: string): WeftError => new WeftError(ErrorCodes.STREAM_UNAUTHENTICATED, message);

export class TokenReviewAuthenticator implements NodeAuthenticator {
  readonly name = TOKEN_REVIEW_AUTHENTICATOR;
  readonly #review: TokenReviewer;
  readonly #pods: PodLookup;
  readonly #audience: string;
  readonly #username: string;
  readonly #account: string;
  readonly #ttl: number;
  readonly #timeout: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { node: string; until: number }>();

  constructor(opts: TokenReviewAuthenticatorOptions) {
    this.#review = opts.review;
    this.#pods = opts.pods;
    this.#audience = opts.audience ?? DEFAULT_AUDIENCE;
    this.#account = opts.agentServiceAccount ?? DEFAULT_AGENT_SERVICE_ACCOUNT;
    const [ns, name, ...rest] = this.#account.split('/');
    if (ns === undefined || ns === '' || name === undefined || name === '' || rest.length > 0) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, `the agent ServiceAccount must be "namespace/name", got ${JSON.stringify(this.#account)}`);
    }
    if (this.#audience === '') throw new WeftError(ErrorCodes.CONFIG_INVALID, 'the token audience must not be empty');
    this.#username = `system:serviceaccount:${ns}:${name}`;
    this.#ttl = opts.cacheTtlMs ?? 30_000;
    this.#timeout = opts.timeoutMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  async authenticate(credential: string): Promise<AuthenticatedNode> {
    if (typeof credential !== 'string' || credential === '') throw refuse('no ServiceAccount token was presented');
    const digest = createHash('sha256').update(credential).digest('base64');
    const hit = this.#cache.get(digest);
    const now = this.#now();
    if (hit !== undefined) {
      if (hit.until > now) return { node: hit.node };
      this.#cache.delete(digest);
    }
    const status = await this.#ask(credential);
    const node = this.#nodeOf(status);
    const until = cacheUntil(now, this.#ttl, credential);
    if (until > now) {
      if (this.#cache.size > 50_000) this.#cache.clear();
      this.#cache.set(digest, { node, until });
    }
    return { node };
  }

  async #ask(token: string): Promise<TokenReviewStatus> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#review(token, [this.#audience]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeout} ms`)), this.#timeout);
        }),
      ]);
    } catch (err) {
      throw new WeftError(ErrorCodes.STREAM_UNAUTHENTICATED, `could not check the token with the Kubernetes TokenReview API (${(err as Error).message}) — is the API server reachable and may control create tokenreviews?`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  #nodeOf(s: TokenReviewStatus): string {
    if (s.authenticated !== true) {
      const why = s.error !== undefined && s.error !== '' ? `: ${s.error}` : '';
      throw refuse(`the Kubernetes API refused the ServiceAccount token${why} — the agent must send a fresh projected token with audience ${this.#audience}`);
    }
    // The API server only authenticates a token for an audience it was issued for; check anyway
    // so a reviewer that ignores spec.audiences cannot widen what we accept.
    if (s.audiences !== undefined && s.audiences.length > 0 && !s.audiences.includes(this.#audience)) {
      throw refuse(`the token is for audiences ${JSON.stringify(s.audiences)}, not ${this.#audience}`);
    }
    const username = s.user?.username ?? '';
    if (username !== this.#username) {
      throw refuse(`the token belongs to ${username === '' ? 'an unnamed user' : username}, not the agent ServiceAccount ${this.#account}`);
    }
    const extra = s.user?.extra ?? {};
    const claim = (k: string): string | undefined => {
      const v = extra[k];
      return Array.isArray(v) && typeof v[0] === 'string' && v[0] !== '' ? v[0] : undefined;
    };
    const nodeClaim = claim(NODE_NAME_CLAIM);
    if (nodeClaim !== undefined) return nodeClaim;
    const podName = claim(POD_NAME_CLAIM);
    if (podName === undefined) {
      throw refuse('the token is not bound to a pod (no pod claim): mount a projected ServiceAccount token in the agent, not a legacy Secret token');
    }
    const namespace = this.#account.split('/')[0];
    const pod = this.#pods(namespace, podName);
    if (pod === undefined) throw refuse(`the token is bound to pod ${namespace}/${podName}, which control does not know (yet); the agent retries`);
    const podUid = claim(POD_UID_CLAIM);
    if (podUid !== undefined && podUid !== pod.uid) throw refuse(`the token is bound to an earlier pod named ${namespace}/${podName} (uid ${podUid}); that pod is gone`);
    return pod.node;
  }
}

/** A TokenReviewer over @kubernetes/client-node. */
export function kubernetesTokenReviewer(kc: k8s.KubeConfig): TokenReviewer {
  const api = kc.makeApiClient(k8s.AuthenticationV1Api);
  return async (token, audiences) => {
    const review = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } });
    const st = review.status ?? {};
    return {
      authenticated: st.authenticated,
      error: st.error,
      audiences: st.audiences,
      user: st.user === undefined ? undefined : { username: st.user.username, uid: st.user.uid, groups: st.user.groups, extra: st.user.extra },
    };
  };
}

// Options: `{ pods: PodLookup, kubeconfig?: string (empty: in-cluster), review?: TokenReviewer,
// audience?: string, agentServiceAccount?: "ns/name", cacheTtlMs?: number }`.
registerNodeAuthenticator(TOKEN_REVIEW_AUTHENTICATOR, async (o) => {
  if (typeof o.pods !== 'function') throw new WeftError(ErrorCodes.CONFIG_INVALID, 'token-review needs a pod lookup (the cluster model)');
  const review = typeof o.review === 'function' ? (o.review as TokenReviewer) : kubernetesTokenReviewer(loadKubeConfig(typeof o.kubeconfig === 'string' ? o.kubeconfig : ''));
  return new TokenReviewAuthenticator({
    review,
    pods: o.pods as PodLookup,
    ...(typeof o.audience === 'string' && o.audience !== '' ? { audience: o.audience } : {}),
    ...(typeof o.agentServiceAccount === 'string' && o.agentServiceAccount !== '' ? { agentServiceAccount: o.agentServiceAccount } : {}),
    ...(typeof o.cacheTtlMs === 'number' ? { cacheTtlMs: o.cacheTtlMs } : {}),
  });
});
