// Delivery to a pod on this node, in the protocol the app spoke: HTTP/1.1 over a keep-alive
// connection pool (our own client, h1-client.ts; sockets through the SocketFactory), or h2c over one pooled
// session per pod address. Used by the originating agent for same-node endpoints and by the
// destination agent for requests that came over the mesh.
import http2, { type ClientHttp2Session } from 'node:http2';
import type { SocketFactory } from '../proxy/socket-factory.ts';
import { H1Pool } from './h1-client.ts';
import { H2Attempt } from './h2-attempt.ts';
import type { AttemptRequest, AttemptSink, UpstreamAttempt } from './upstream.ts';

export interface LocalUpstreamOptions {
  sockets: SocketFactory;
  connectTimeoutMs: number;
  /** Idle pooled connections are closed after this long. */
  idleMs?: number;
}

export class LocalUpstream {
  readonly #h1: H1Pool;
  readonly #h2 = new Map<string, ClientHttp2Session>();
  readonly #opts: LocalUpstreamOptions;

  constructor(opts: LocalUpstreamOptions) {
    this.#opts = opts;
    this.#h1 = new H1Pool({ sockets: opts.sockets, connectTimeoutMs: opts.connectTimeoutMs, idleMs: opts.idleMs ?? 60_000 });
  }

  start(r: AttemptRequest, sink: AttemptSink): UpstreamAttempt {
    if (r.proto === 'http1') return this.#h1.start(r, sink);
    const headers = { ...r.headers, ':method': r.method, ':path': r.path, ':authority': r.authority, ':scheme': 'http' };
    return new H2Attempt(this.#session(r.target), headers, r.bodyless, sink);
  }

  #session(target: { ip: string; port: number }): ClientHttp2Session {
    const key = `${target.ip}:${target.port}`;
    const s = this.#h2.get(key);
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    const { sockets, connectTimeoutMs } = this.#opts;
    const session = http2.connect(`http://${key}`, { createConnection: () => sockets.connect(target, connectTimeoutMs) });
    session.on('error', () => this.#h2.delete(key));
    session.on('goaway', () => this.#h2.delete(key));
    session.once('close', () => {
      if (this.#h2.get(key) === session) this.#h2.delete(key);
    });
    session.setTimeout(this.#opts.idleMs ?? 60_000, () => session.close());
    this.#h2.set(key, session);
    return session;
  }

  close(): void {
    this.#h1.close();
    for (const s of this.#h2.values()) s.close();
    this.#h2.clear();
  }
}
