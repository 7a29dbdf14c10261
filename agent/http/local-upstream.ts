// Delivery to a pod on this node, in the protocol the app spoke: HTTP/1.1 over a keep-alive
// connection pool (node:http Agent, sockets through the SocketFactory), or h2c over one pooled
// session per pod address. Used by the originating agent for same-node endpoints and by the
// destination agent for requests that came over the mesh.
import http from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import type net from 'node:net';
import type { Writable } from 'node:stream';
import type { SocketFactory } from '../proxy/socket-factory.ts';
import { H2Attempt } from './h2-attempt.ts';
import type { AttemptRequest, AttemptSink, UpstreamAttempt } from './upstream.ts';

class H1Attempt implements UpstreamAttempt {
  readonly req: http.ClientRequest;
  readonly #sink: AttemptSink;
  #done = false;
  #connected = false;
  #res: http.IncomingMessage | undefined = undefined;

  constructor(agent: http.Agent, r: AttemptRequest, sink: AttemptSink) {
    this.#sink = sink;
    const headers = { ...r.headers, host: r.authority };
    this.req = http.request({ agent, host: r.target.ip, port: r.target.port, method: r.method, path: r.path, headers, setHost: false });
    this.req.on('socket', this.#onSocket);
    this.req.on('continue', this.#onContinue);
    this.req.on('response', this.#onResponse);
    this.req.on('error', this.#onError);
    if (r.bodyless) this.req.end();
  }

  get body(): Writable {
    return this.req;
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    this.req.destroy();
  }

  readonly #onSocket = (s: net.Socket): void => {
    if (s.connecting) s.once('connect', this.#onConnect);
    else this.#connected = true;
  };

  readonly #onConnect = (): void => {
    this.#connected = true;
  };

  readonly #onContinue = (): void => {
    if (!this.#done) this.#sink.onContinue();
  };

  readonly #onResponse = (res: http.IncomingMessage): void => {
    if (this.#done) return;
    this.#res = res;
    res.on('end', this.#onEnd);
    res.on('close', this.#onResClose);
    this.#sink.onResponse(res.statusCode ?? 502, res.headers, res);
  };

  readonly #onEnd = (): void => {
    if (this.#done) return;
    this.#done = true;
    const t = this.#res?.trailers;
    this.#sink.onEnd(t !== undefined && Object.keys(t).length > 0 ? t : undefined);
  };

  readonly #onResClose = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#sink.onFailure(true, Object.assign(new Error('upstream closed the response early'), { code: 'ECONNRESET' }));
  };

  readonly #onError = (err: Error & { code?: string }): void => {
    if (this.#done) return;
    this.#done = true;
    // Not delivered: the connection never came up, or a pooled keep-alive connection the server
    // had already closed failed before any answer (the request never reached the app).
    const stale = this.req.reusedSocket && this.#res === undefined && err.code === 'ECONNRESET';
    this.#sink.onFailure(this.#connected && !stale, err);
  };
}

export interface LocalUpstreamOptions {
  sockets: SocketFactory;
  connectTimeoutMs: number;
  /** Idle pooled connections are closed after this long. */
  idleMs?: number;
}

export class LocalUpstream {
  readonly #agent: http.Agent;
  readonly #h2 = new Map<string, ClientHttp2Session>();
  readonly #opts: LocalUpstreamOptions;

  constructor(opts: LocalUpstreamOptions) {
    this.#opts = opts;
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000, maxSockets: Infinity, maxFreeSockets: 256, timeout: opts.idleMs ?? 60_000 });
    // Every socket goes through the SocketFactory, like the TCP paths' sockets.
    agent.createConnection = (o: http.ClientRequestArgs) => opts.sockets.connect({ ip: String(o.host), port: Number(o.port) }, opts.connectTimeoutMs);
    this.#agent = agent;
  }

  start(r: AttemptRequest, sink: AttemptSink): UpstreamAttempt {
    if (r.proto === 'http1') return new H1Attempt(this.#agent, r, sink);
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
    this.#agent.destroy();
    for (const s of this.#h2.values()) s.close();
    this.#h2.clear();
  }
}
