// Delivery to a pod on this node, in the protocol the app spoke: HTTP/1.1 over a keep-alive
// connection pool (our own client, h1-client.ts; sockets through the SocketFactory), or h2c over one pooled
// session per pod address (h2c-pod-session.ts: node:http2 or the agent's codec, WEFT_L7_H2_ENGINE).
// Used by the originating agent for same-node endpoints and by the
// destination agent for requests that came over the mesh.
import type { ClientHttp2Session } from 'node:http2';
import type { SocketFactory } from '../proxy/socket-factory.ts';
import type { H2Engine } from '../proxy/hbone/server.ts';
import { dialPodSession } from './h2c-pod-session.ts';
import { H1Pool } from './h1-client.ts';
import { startH2Attempt } from './h2-stream-attempt.ts';
import type { L7Counters } from './counters.ts';
import { requestHeaderList } from './headers.ts';
import type { AttemptRequest, AttemptSink, UpstreamAttempt } from './upstream.ts';

export interface LocalUpstreamOptions {
  sockets: SocketFactory;
  connectTimeoutMs: number;
  /** Idle pooled connections are closed after this long. */
  idleMs?: number;
  /** The HTTP/2 implementation of the h2c sessions (WEFT_L7_H2_ENGINE); default weft. */
  engine?: H2Engine;
  /** Request trailer sections the HTTP/1.1 pool drops (a Content-Length body carries none). */
  counters?: Pick<L7Counters, 'requestTrailersDropped'>;
}

export class LocalUpstream {
  readonly #h1: H1Pool;
  readonly #h2 = new Map<string, ClientHttp2Session>();
  readonly #opts: LocalUpstreamOptions;

  constructor(opts: LocalUpstreamOptions) {
    this.#opts = opts;
    this.#h1 = new H1Pool({ sockets: opts.sockets, connectTimeoutMs: opts.connectTimeoutMs, idleMs: opts.idleMs ?? 60_000, counters: opts.counters });
  }

  start(r: AttemptRequest, sink: AttemptSink): UpstreamAttempt {
    if (r.proto === 'http1') return this.#h1.start(r, sink);
    // The codec's session carries it as one plain object (h2-stream-attempt.ts), node:http2's as H2Attempt.
    return startH2Attempt(this.#session(r.target), requestHeaderList(r), r.bodyless, sink, undefined, undefined, r.mayTrail);
  }

  #session(target: { ip: string; port: number }): ClientHttp2Session {
    const key = `${target.ip}:${target.port}`;
    const s = this.#h2.get(key);
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    const { sockets, connectTimeoutMs } = this.#opts;
    const session = dialPodSession({ sockets, target, connectTimeoutMs, engine: this.#opts.engine ?? 'weft', idleMs: this.#opts.idleMs ?? 60_000 });
    // Dropped on error, GOAWAY or close; only this session (a newer one may hold the key by then).
    const drop = (): void => {
      if (this.#h2.get(key) === session) this.#h2.delete(key);
    };
    session.on('error', drop);
    session.on('goaway', drop);
    session.once('close', drop);
    this.#h2.set(key, session);
    return session;
  }

  close(): void {
    this.#h1.close();
    for (const s of this.#h2.values()) s.close();
    this.#h2.clear();
  }
}
