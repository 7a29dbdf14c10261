// An H2Connection on a socket, shaped like node:http2's session where the agent uses one: a
// client makes requests (queued until the TLS handshake is done, so a session that never connects
// fails its streams with no id: never delivered, replayable), a server emits 'stream' with a
// header object; 'connect', 'goaway', 'error', 'close'; close() drains (GOAWAY, then the socket
// ends when the last stream does), destroy() cuts; ping() for the pool's liveness watch;
// remoteSettings.maxConcurrentStreams for its stream budget. One object per connection; streams
// are H2DuplexStreams (duplex-stream.ts), or, for a client stream opened with open(), the caller's
// own handler object (agent/http/h2-stream-attempt.ts: no Duplex per request). This is the seam WEFT_L7_H2_ENGINE=weft swaps in for
// node:http2 on the hop between agents (the client sessions of agent/proxy/hbone/dial-peer.ts, L7
// and tunnels; the listener of agent/proxy/hbone/server.ts).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http2';
import { H2Connection, HeadersKind, type H2ConnectionOptions, type H2Handler, type H2Stream, type HeadersKindValue } from './connection.ts';
import { H2DuplexStream, notOpenedError, type StreamOwner } from './duplex-stream.ts';
import type { H2PendingStream, H2StreamHandler } from './stream-handler.ts';
import { headersToObject, objectToHeaders } from './header-object.ts';
import { H2Code } from './constants.ts';
import { connError, type H2Error } from './h2-error.ts';

export interface H2SessionOptions extends Omit<H2ConnectionOptions, 'role' | 'manualFlowControl'> {
  role: 'client' | 'server';
  /** The socket is still connecting: start when it emits this event ('secureConnect' for TLS). */
  readyEvent?: string;
  /**
   * Server: sees a new stream's request head before any Duplex is made. Returns true when it took
   * the stream — attached its own H2StreamHandler as the codec stream's `ctx` (the plain object per
   * request of the hot paths), or answered it; false: an H2DuplexStream and the 'stream' event.
   */
  onStreamHead?: (session: H2Session, stream: H2Stream, headers: string[], endStream: boolean) => boolean;
}

/** A client stream waiting for the handshake: a Duplex from request() or a caller's handler from open(). */
interface PendingRequest {
  stream: H2PendingStream;
  headers: string[];
  endStream: boolean;
}

type PingCallback = (err: Error | null, duration: number, payload: Buffer) => void;

/** How long a closing connection waits for its socket to end before cutting it. */
const END_GRACE_MS = 5000;

export class H2Session extends EventEmitter implements H2Handler, StreamOwner {
  readonly socket: Socket;
  readonly conn: H2Connection;
  readonly #client: boolean;
  connecting: boolean;
  /** close() or destroy() was called, or the connection ended: no new streams. */
  closed = false;
  destroyed = false;
  #pending: PendingRequest[] = [];
  readonly #pings = new Map<number, { cb: PingCallback; at: number }>();
  #pingSeq = 0;
  #error: Error | undefined = undefined;
  readonly #onStreamHead: H2SessionOptions['onStreamHead'];

  constructor(socket: Socket, opts: H2SessionOptions) {
    super();
    this.socket = socket;
    this.#client = opts.role === 'client';
    this.#onStreamHead = opts.onStreamHead;
    this.conn = new H2Connection(socket, this, { ...opts, manualFlowControl: true });
    socket.on('data', this.#onData);
    socket.on('error', this.#onSocketError);
    socket.once('close', this.#onSocketClose);
    this.connecting = opts.readyEvent !== undefined;
    if (opts.readyEvent !== undefined) socket.once(opts.readyEvent, this.#onReady);
    else queueMicrotask(this.#onReady);
  }

  get remoteSettings(): { maxConcurrentStreams: number } {
    return { maxConcurrentStreams: this.conn.peerMaxConcurrentStreams };
  }

  /** A request (client): the stream opens now, or when the handshake is done. */
  request(headers: OutgoingHttpHeaders, opts?: { endStream?: boolean }): H2DuplexStream {
    const stream = new H2DuplexStream(this, true);
    const endStream = opts?.endStream === true;
    const list = objectToHeaders(headers);
    if (endStream) {
      stream.markEndSent();
      stream.end();
    }
    if (this.connecting) this.#pending.push({ stream, headers: list, endStream });
    else this.#open(stream, list, endStream);
    return stream;
  }

  /**
   * A request (client) whose stream events go to `handler` (stream-handler.ts) instead of a Duplex:
   * the hot path's one plain object per request. Opens now, or when the handshake is done; the
   * handler hears `attach` once its HEADERS went, or `failOpen` when the stream never opens (the
   * session closed or never connected, GOAWAY, the peer's stream limit: never delivered).
   */
  open(headers: string[], endStream: boolean, handler: H2PendingStream): void {
    if (this.connecting) this.#pending.push({ stream: handler, headers, endStream });
    else this.#open(handler, headers, endStream);
  }

  /** Graceful: GOAWAY now; the socket ends when the last stream does. */
  close(cb?: () => void): void {
    if (cb !== undefined) this.once('close', cb);
    if (this.closed) return;
    this.closed = true;
    if (this.connecting) {
      this.destroy();
      return;
    }
    this.conn.goaway(H2Code.NO_ERROR);
    this.#endIfIdle();
  }

  /** Cuts the connection: open streams are reset, the socket destroyed. */
  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closed = true;
    if (err !== undefined) this.#error ??= err;
    this.socket.destroy();
  }

  /** PING for liveness; `cb` runs on the ACK. False when no PING could be sent. */
  ping(cb: PingCallback): boolean {
    if (this.connecting || this.destroyed || this.conn.closed) return false;
    const seq = ++this.#pingSeq >>> 0;
    const data = Buffer.alloc(8);
    data.writeUInt32BE(seq, 4);
    this.#pings.set(seq, { cb, at: Date.now() });
    this.conn.ping(data);
    return true;
  }

  /** StreamOwner: a stream destroyed (a handler abandoned) before it was opened leaves the queue. */
  forget(stream: H2PendingStream): void {
    const i = this.#pending.findIndex((p) => p.stream === stream);
    if (i >= 0) this.#pending.splice(i, 1);
  }

  // ---- H2Handler ----

  onHeaders(s: H2Stream, headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    const st = s.ctx as H2StreamHandler | undefined;
    if (st !== undefined) {
      st.onHeaders(headers, endStream, kind);
      return;
    }
    if (this.#client || kind !== HeadersKind.HEAD) return;
    const take = this.#onStreamHead;
    if (take !== undefined && take(this, s, headers, endStream)) return;
    const stream = new H2DuplexStream(this, false);
    stream.attach(s);
    stream.endAfterHeaders = endStream;
    if (this.listenerCount('stream') === 0) {
      this.conn.reset(s, H2Code.REFUSED_STREAM);
      return;
    }
    this.emit('stream', stream, headersToObject(headers));
    if (endStream) stream.peerEnd();
  }

  onData(s: H2Stream, data: Buffer, endStream: boolean): void {
    (s.ctx as H2StreamHandler | undefined)?.onData(data, endStream);
  }

  onReset(s: H2Stream, code: number): void {
    (s.ctx as H2StreamHandler | undefined)?.onReset(code);
  }

  onStreamClose(s: H2Stream): void {
    (s.ctx as H2StreamHandler | undefined)?.onClosed();
    if (this.closed || this.conn.draining) this.#endIfIdle();
  }

  onGoaway(lastStreamId: number, code: number, debug: Buffer): void {
    this.emit('goaway', code, lastStreamId, debug);
    if (code !== H2Code.NO_ERROR && !this.destroyed) {
      // A GOAWAY with an error code ends the connection (§5.4.1: its sender must close it), and
      // node:http2 takes it so: the streams still open are cut now, not left waiting on a peer
      // that may never close (they would hang until a timeout).
      this.#error ??= connError(code, `the peer ended the HTTP/2 connection with error ${code}${debug.length > 0 ? ` (${debug.toString('latin1')})` : ''}`);
      this.closed = true;
      this.conn.close(H2Code.NO_ERROR);
      this.destroy();
      return;
    }
    this.#endIfIdle();
  }

  onError(err: H2Error): void {
    this.#error ??= err;
    // The codec sent GOAWAY and ended its side; the peer's close ends the socket, or this does.
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  onPingAck(data: Buffer): void {
    const seq = data.readUInt32BE(4);
    const p = this.#pings.get(seq);
    if (p === undefined) return;
    this.#pings.delete(seq);
    p.cb(null, Date.now() - p.at, data);
  }

  onWritable(s: H2Stream): void {
    (s.ctx as H2StreamHandler | undefined)?.onWritable();
  }

  // ---- internals ----

  #open(stream: H2PendingStream, headers: string[], endStream: boolean): void {
    if (stream.destroyed) return;
    const s = this.closed ? null : this.conn.request(headers, endStream);
    if (s === null) {
      stream.failOpen(notOpenedError(this.closed ? 'the session is closing' : 'GOAWAY or the peer\'s stream limit'));
      return;
    }
    stream.attach(s);
  }

  /** Draining and no stream left: finish the connection (GOAWAY went already). */
  #endIfIdle(): void {
    if (this.conn.activeStreams > 0 || this.#pending.length > 0) return;
    if (!this.closed && !this.conn.draining) return;
    this.closed = true;
    this.conn.close(H2Code.NO_ERROR);
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  readonly #onReady = (): void => {
    if (this.destroyed) return;
    this.connecting = false;
    this.conn.start();
    this.emit('connect', this, this.socket);
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) this.#open(p.stream, p.headers, p.endStream);
  };

  readonly #onData = (chunk: Buffer): void => {
    this.conn.receive(chunk);
  };

  /**
   * A read of a socket made with `onread` (agent/proxy/hbone/lent-reads.ts) in place of 'data':
   * `chunk` is overwritten once this returns (the connection copies what it keeps).
   */
  receiveLent(chunk: Buffer): void {
    this.conn.receive(chunk, true);
  }

  readonly #onSocketError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onSocketClose = (): void => {
    this.destroyed = true;
    this.closed = true;
    this.connecting = false;
    this.conn.transportClosed();
    const pending = this.#pending;
    this.#pending = [];
    const err = this.#error;
    for (const p of pending) p.stream.failOpen(err ?? notOpenedError('the connection closed before it was established'));
    for (const p of this.#pings.values()) p.cb(err ?? new Error('session closed'), 0, Buffer.alloc(8));
    this.#pings.clear();
    if (err !== undefined && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close');
  };
}
