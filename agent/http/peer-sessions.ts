// Pooled HTTP/2 sessions to peer agents for L7 requests: dialled like the HBONE tunnel client's
// (agent/proxy/hbone/dial-peer.ts: the source workload's certificate, SNI naming the destination
// workload, TLS 1.3, ALPN h2, the server's SPIFFE ID checked; node:http2 or the codec by
// WEFT_L7_H2_ENGINE) and the same SessionPool, but their own pool, so long-lived tunnels and
// short requests do not share a stream budget.
import type { ClientHttp2Session } from 'node:http2';
import type { H2Engine } from '../proxy/hbone/server.ts';
import type { Socket } from 'node:net';
import { TlsContextCache, type CachedContext, type CertificateProvider } from '../identity/tls-contexts.ts';
import { dialPeerSession } from '../proxy/hbone/dial-peer.ts';
import { SessionPool, type PoolEntry } from '../proxy/hbone/pool.ts';
import type { HeldBytesBudget } from '../h2/held-bytes-budget.ts';

export interface PeerKey {
  sourceIdentity: string;
  destinationIdentity: string;
  node: { host: string; port: number };
}

export interface PeerSessionsOptions {
  trustDomain: string;
  certificates: CertificateProvider;
  dialTcp: (host: string, port: number) => Socket;
  maxStreamsPerSession?: number;
  idleTimeoutMs?: number;
  closeGraceMs?: number;
  /** Sessions per key that requests are spread over (SessionPoolOptions.spread). */
  sessionsPerPeer?: number;
  /** Which HTTP/2 implementation the sessions use (WEFT_L7_H2_ENGINE); default weft. */
  engine?: H2Engine;
  /** Held bytes per source identity (agent/h2/held-bytes-budget.ts); the codec sessions count against it. */
  heldBytes?: HeldBytesBudget;
}

/** How stale the synchronous path's view of a certificate may get before it is refreshed. */
const CONTEXT_REFRESH_MS = 1000;

function poolKey(k: PeerKey): string {
  return `${k.sourceIdentity}|${k.destinationIdentity}|${k.node.host}:${k.node.port}`;
}

export class PeerSessions {
  readonly #contexts: TlsContextCache;
  readonly #pool: SessionPool;
  readonly #opts: PeerSessionsOptions;
  /** Last context per source identity and when it was fetched: the no-await fast path. */
  readonly #recent = new Map<string, { ctx: CachedContext; at: number; refreshing: boolean }>();

  constructor(opts: PeerSessionsOptions) {
    this.#opts = opts;
    this.#contexts = new TlsContextCache({ certificates: opts.certificates });
    this.#pool = new SessionPool({ maxStreamsPerSession: opts.maxStreamsPerSession ?? 1000, idleTimeoutMs: opts.idleTimeoutMs ?? 60_000, spread: opts.sessionsPerPeer ?? 1 });
  }

  /** A session with room for one more stream; call release(entry) when that stream closes. */
  async acquire(k: PeerKey): Promise<PoolEntry> {
    const ctx = await this.#contexts.get(k.sourceIdentity);
    this.#recent.set(k.sourceIdentity, { ctx, at: Date.now(), refreshing: false });
    return this.#pool.acquire(poolKey(k), ctx.context, () => this.#dial(k, ctx));
  }

  /**
   * The same without waiting, when this identity's context was fetched recently: requests then
   * go straight onto the pooled session with no intermediate buffer. A context older than
   * CONTEXT_REFRESH_MS is refreshed in the background, so a rotation reaches new sessions within
   * about a second. Undefined when there is no recent context (use acquire()).
   */
  acquireNow(k: PeerKey): PoolEntry | undefined {
    const r = this.#recent.get(k.sourceIdentity);
    if (r === undefined) return undefined;
    const now = Date.now();
    if (now - r.at > CONTEXT_REFRESH_MS && !r.refreshing) {
      r.refreshing = true;
      this.#contexts.get(k.sourceIdentity).then(
        (ctx) => this.#recent.set(k.sourceIdentity, { ctx, at: Date.now(), refreshing: false }),
        () => this.#recent.delete(k.sourceIdentity),
      );
    }
    const ctx = r.ctx;
    return this.#pool.acquire(poolKey(k), ctx.context, () => this.#dial(k, ctx));
  }

  release(entry: PoolEntry): void {
    this.#pool.release(entry);
  }

  close(): Promise<void> {
    return this.#pool.close(this.#opts.closeGraceMs ?? 5000);
  }

  #dial(k: PeerKey, ctx: CachedContext): ClientHttp2Session {
    return dialPeerSession({
      context: ctx.context,
      destinationIdentity: k.destinationIdentity,
      trustDomain: this.#opts.trustDomain,
      node: k.node,
      socket: this.#opts.dialTcp(k.node.host, k.node.port),
      engine: this.#opts.engine ?? 'weft',
      heldBytes: this.#opts.heldBytes === undefined ? undefined : { budget: this.#opts.heldBytes, sourceIdentity: k.sourceIdentity },
    });
  }
}
