// Outbound HTTP/2 prior knowledge on the agent's codec (WEFT_L7_H2_ENGINE=weft): an app's captured
// h2 connection is served by an H2Connection driven directly — one handler object per connection,
// one plain object per stream (AppH2Stream) that is at once the request, the response and the
// stream the L7 exchange (agent/http/exchange.ts) reads and writes: no Duplex, no compatibility
// request/response pair, no native session per connection.
//
// What node:http2's server did here is kept: flow control is the exchange's (manualFlowControl —
// a request body the upstream will not take stays in the app's window; a response the app does
// not read stops at the codec's high-water mark until the window opens: 'drain'), trailers both
// ways, 1xx relayed, trailers-only answers (`stream.respond(…, { endStream })`), RST_STREAM on an
// aborted response, GOAWAY when the agent closes, and a connection error from the app counted
// (`onProtocolError`). The codec's limits face the app directly, all on (agent/h2/limits.ts):
// rapid reset, CONTINUATION floods, HPACK bombs, control-frame floods, SETTINGS_MAX_CONCURRENT_STREAMS.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Code } from '../h2/constants.ts';
import { H2Connection, HeadersKind, type H2Handler, type H2Stream, type HeadersKindValue } from '../h2/connection.ts';
import type { H2Error } from '../h2/h2-error.ts';
import { headersToObject, objectToHeaders } from '../h2/header-object.ts';
import { StreamState } from '../h2/stream-state.ts';
import type { ClientRequestLike, ClientResponseLike, ClientStreamLike } from '../http/exchange.ts';

/** The request's socket, as onRequest reads it (the connection's tags hang on it). */
export type AppRequest = ClientRequestLike & { socket: net.Socket };

export interface AppH2ServerDeps {
  /** A request head arrived: the exchange takes the stream (request and response in one). */
  onRequest(req: AppRequest, res: ClientResponseLike): void;
  /** The app broke the protocol (we sent GOAWAY with an error): counted by the caller. */
  onProtocolError(err: H2Error): void;
}

// The windows node:http2's server had here (initialWindowSize 1 MiB), and the codec's 16 MiB
// connection window: one stream can fill a link, and memory is used only by a slow reader.
const STREAM_WINDOW = 1 << 20;
const EMPTY = Buffer.alloc(0);

function emitClose(s: AppH2Stream): void {
  s.emit('close');
}

/**
 * One stream: the app's request (head, body events, pause/resume) and our response
 * (writeHead/write/end/addTrailers, 'drain'/'close') and the stream handle (respond, close).
 */
export class AppH2Stream extends EventEmitter implements ClientRequestLike, ClientResponseLike, ClientStreamLike {
  readonly #conn: H2Connection;
  readonly #s: H2Stream;
  readonly socket: net.Socket;
  readonly method: string | undefined;
  url: string;
  headers: IncomingHttpHeaders;
  /** The request had no body: END_STREAM came with its HEADERS. */
  readonly endAfterHeaders: boolean;
  /** The request's trailing HEADERS (RFC 9113 §8.1), set before 'end'; undefined: none. */
  trailers: IncomingHttpHeaders | undefined = undefined;
  headersSent = false;
  statusCode = 200;
  destroyed = false;
  writableEnded = false;
  #trailers: OutgoingHttpHeaders | undefined = undefined;
  #paused = false;
  /** DATA delivered while paused, not yet emitted (their window is still with us). */
  #queue: Buffer[] | undefined = undefined;
  /** Octets emitted while a listener paused us: returned as window on resume. */
  #owed = 0;
  #peerEnded = false;
  #endEmitted = false;
  #closed = false;
  #needDrain = false;

  constructor(conn: H2Connection, s: H2Stream, socket: net.Socket, head: IncomingHttpHeaders, endStream: boolean) {
    super();
    this.#conn = conn;
    this.#s = s;
    this.socket = socket;
    this.headers = head;
    this.method = head[':method'] as string | undefined;
    this.url = (head[':path'] as string | undefined) ?? '/';
    this.endAfterHeaders = endStream;
    this.#peerEnded = endStream;
  }

  /** The response's stream is this object (ClientResponseLike.stream). */
  get stream(): ClientStreamLike {
    return this;
  }

  // ---- the request ----

  pause(): this {
    this.#paused = true;
    return this;
  }

  resume(): this {
    if (!this.#paused) {
      this.#maybeEnd();
      return this;
    }
    this.#paused = false;
    const q = this.#queue;
    while (q !== undefined && q.length > 0 && !this.#paused) this.#deliver(q.shift() as Buffer);
    if (this.#paused) return this;
    if (this.#owed > 0) {
      this.#conn.consume(this.#s, this.#owed);
      this.#owed = 0;
    }
    this.#maybeEnd();
    return this;
  }

  /** DATA from the app (the connection's handler routes it here). */
  onData(data: Buffer, endStream: boolean): void {
    if (data.length > 0) {
      if (this.#paused || (this.#queue !== undefined && this.#queue.length > 0)) (this.#queue ??= []).push(data);
      else this.#deliver(data);
    }
    if (endStream) this.onPeerEnd();
  }

  onPeerEnd(): void {
    this.#peerEnded = true;
    this.#maybeEnd();
  }

  #deliver(data: Buffer): void {
    this.emit('data', data);
    // A listener that paused keeps this chunk's window: the app stops after one window.
    if (this.#paused) this.#owed += data.length;
    else this.#conn.consume(this.#s, data.length);
  }

  #maybeEnd(): void {
    if (!this.#peerEnded || this.#endEmitted || this.#paused) return;
    if (this.#queue !== undefined && this.#queue.length > 0) return;
    this.#endEmitted = true;
    this.emit('end');
  }

  // ---- the response ----

  writeHead(status: number, headers?: OutgoingHttpHeaders): this {
    if (this.headersSent || this.destroyed) return this;
    this.statusCode = status;
    this.#sendHead(status, headers, false);
    return this;
  }

  /** The relayed head as a header list (the exchange's): `:status` first, then the fields, no object. */
  writeHeadList(status: number, fields: string[]): this {
    if (this.headersSent || this.destroyed) return this;
    this.statusCode = status;
    this.headersSent = true;
    const list = [':status', String(status)];
    for (let i = 0; i < fields.length; i++) list.push(fields[i]);
    this.#conn.sendHeaders(this.#s, list, false);
    return this;
  }

  writeContinue(): void {
    if (this.headersSent || this.destroyed) return;
    this.#conn.sendHeaders(this.#s, [':status', '100'], false);
  }

  addTrailers(headers: OutgoingHttpHeaders): void {
    this.#trailers = this.#trailers === undefined ? { ...headers } : Object.assign(this.#trailers, headers);
  }

  write(chunk: Buffer): boolean {
    if (this.writableEnded || this.destroyed) return true;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const s = this.#s;
    if (this.#conn.sendData(s, chunk, false) || this.#conn.stream(s.id) !== s) return true;
    this.#needDrain = true;
    return false;
  }

  end(text?: string): this {
    if (this.writableEnded || this.destroyed) return this;
    const body = text !== undefined && text.length > 0 ? Buffer.from(text) : undefined;
    this.writableEnded = true;
    const t = this.#trailers;
    const list = t === undefined ? undefined : objectToHeaders(t);
    const trailers = list !== undefined && list.length > 0;
    if (!this.headersSent) {
      // Head and end in one HEADERS frame when nothing else follows it.
      this.#sendHead(this.statusCode, undefined, body === undefined && !trailers);
      if (body === undefined && !trailers) {
        this.#declineRest();
        return this;
      }
    }
    if (trailers) {
      if (body !== undefined) this.#conn.sendData(this.#s, body, false);
      this.#conn.sendHeaders(this.#s, list, true);
    } else {
      this.#conn.sendData(this.#s, body ?? EMPTY, true);
    }
    this.#declineRest();
    return this;
  }

  /** A trailers-only answer (`headers` carries `:status`), or any complete head. */
  respond(headers: OutgoingHttpHeaders, options: { endStream: boolean }): void {
    if (this.headersSent || this.destroyed) return;
    this.headersSent = true;
    const status = headers[':status'];
    if (status !== undefined) this.statusCode = Number(status);
    this.#conn.sendHeaders(this.#s, objectToHeaders(headers), options.endStream);
    if (options.endStream) {
      this.writableEnded = true;
      this.#declineRest();
    }
  }

  /** RST_STREAM with `code`: the response was cut short. */
  close(code: number): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.#conn.reset(this.#s, code);
  }

  destroy(): this {
    this.close(H2Code.CANCEL);
    return this;
  }

  #sendHead(status: number, headers: OutgoingHttpHeaders | undefined, endStream: boolean): void {
    this.headersSent = true;
    const list = headers === undefined ? [] : objectToHeaders(headers);
    list.unshift(':status', String(status));
    this.#conn.sendHeaders(this.#s, list, endStream);
  }

  /**
   * The response is complete and the app is still sending a request nobody will read (an early
   * answer, a refusal): as node:http2 does and RFC 9113 §8.1 allows, the rest is declined with
   * RST_STREAM(NO_ERROR) once our END_STREAM is out. While it waits for window, what the app
   * still sends is taken and dropped (its 'data' has no listener by then).
   */
  #declineRest(): void {
    if (this.#peerEnded || this.#closed) return;
    const s = this.#s;
    if (s.state === StreamState.HALF_CLOSED_LOCAL) this.close(H2Code.NO_ERROR);
  }

  // ---- from the connection ----

  onWritable(): void {
    if (!this.#needDrain) return;
    this.#needDrain = false;
    this.emit('drain');
  }

  /** The stream is closed (both ends, or a reset either way); 'close' follows on the next tick. */
  onClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Closed before our response ended: the app reset it, or the connection went.
    if (!this.writableEnded) this.destroyed = true;
    this.#queue = undefined;
    process.nextTick(emitClose, this);
  }
}

/** One app connection: the codec's handler, creating an AppH2Stream per request. */
class AppH2Connection implements H2Handler {
  readonly conn: H2Connection;
  readonly #socket: net.Socket;
  readonly #deps: AppH2ServerDeps;
  readonly #all: Set<AppH2Connection>;
  #peerErrorGoaway = false;

  constructor(socket: net.Socket, deps: AppH2ServerDeps, all: Set<AppH2Connection>) {
    this.#socket = socket;
    this.#deps = deps;
    this.#all = all;
    this.conn = new H2Connection(socket, this, { role: 'server', manualFlowControl: true, initialWindowSize: STREAM_WINDOW });
  }

  start(head: Buffer): void {
    const socket = this.#socket;
    this.#all.add(this);
    socket.on('data', this.#onData);
    socket.on('error', this.#onSocketError);
    socket.once('close', this.#onSocketClose);
    this.conn.start();
    if (head.length > 0) this.conn.receive(head);
    socket.resume();
  }

  /** GOAWAY: streams in flight finish, then the connection ends. */
  drain(): void {
    this.conn.goaway(H2Code.NO_ERROR);
    this.#endIfIdle();
  }

  onHeaders(s: H2Stream, headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    const st = s.ctx as AppH2Stream | undefined;
    if (st !== undefined) {
      // Request trailers end the body; the exchange forwards them (agent/http/trailer-fields.ts).
      if (kind === HeadersKind.TRAILERS) {
        if (headers.length > 0) st.trailers = headersToObject(headers);
        st.onPeerEnd();
      }
      return;
    }
    if (kind !== HeadersKind.HEAD) return;
    if (isConnect(headers)) {
      // A tunnel from the app over HTTP/2 is not offered (it would splice past the L7 stages): 405,
      // as node:http2's server answers a CONNECT nobody handles. Extended CONNECT (RFC 8441) never
      // gets here: we do not announce SETTINGS_ENABLE_CONNECT_PROTOCOL, so the codec refuses :protocol.
      this.conn.sendHeaders(s, METHOD_NOT_ALLOWED, true);
      if (s.state === StreamState.HALF_CLOSED_LOCAL) this.conn.reset(s, H2Code.NO_ERROR);
      return;
    }
    const stream = new AppH2Stream(this.conn, s, this.#socket, headersToObject(headers), endStream);
    s.ctx = stream;
    this.#deps.onRequest(stream, stream);
    if (endStream) stream.onPeerEnd();
  }

  onData(s: H2Stream, data: Buffer, endStream: boolean): void {
    const st = s.ctx as AppH2Stream | undefined;
    if (st !== undefined) st.onData(data, endStream);
    else this.conn.consume(s, data.length);
  }

  onReset(s: H2Stream): void {
    (s.ctx as AppH2Stream | undefined)?.onClosed();
  }

  onStreamClose(s: H2Stream): void {
    (s.ctx as AppH2Stream | undefined)?.onClosed();
    if (this.conn.draining) this.#endIfIdle();
  }

  onWritable(s: H2Stream): void {
    (s.ctx as AppH2Stream | undefined)?.onWritable();
  }

  onGoaway(_last: number, code: number): void {
    if (code !== H2Code.NO_ERROR) {
      // The app ended the connection with an error (§5.4.1): its streams are cut now.
      this.#peerErrorGoaway = true;
      this.conn.close(H2Code.NO_ERROR);
      return;
    }
    this.#endIfIdle();
  }

  onError(err: H2Error): void {
    if (!this.#peerErrorGoaway) this.#deps.onProtocolError(err);
    // The codec sent GOAWAY and ended our side; the app's close ends the socket, or this does.
    setTimeout(destroySocket, END_GRACE_MS, this.#socket).unref();
  }

  #endIfIdle(): void {
    if (this.conn.activeStreams > 0 || this.conn.closed) return;
    this.conn.close(H2Code.NO_ERROR);
    setTimeout(destroySocket, END_GRACE_MS, this.#socket).unref();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.conn.receive(chunk);
  };

  readonly #onSocketError = (): void => {
    // 'close' follows; the streams are reset there.
  };

  readonly #onSocketClose = (): void => {
    this.#all.delete(this);
    this.conn.transportClosed();
  };
}

const METHOD_NOT_ALLOWED = [':status', '405', 'content-length', '0'];

/** Whether a request head (a flat list, pseudo-headers first) is a CONNECT. */
export function isConnect(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length && headers[i].charCodeAt(0) === 0x3a; i += 2) {
    if (headers[i] === ':method') return headers[i + 1] === 'CONNECT';
  }
  return false;
}

/** How long a finished connection waits for the app to close before the socket is cut. */
const END_GRACE_MS = 5000;

function destroySocket(s: net.Socket): void {
  s.destroy();
}

export interface AppH2Server {
  /** Serves a captured socket that sniffing found to speak h2 prior knowledge (`head`: bytes already read). */
  handle(socket: net.Socket, head: Buffer): void;
  /** GOAWAY on every connection; each ends when its streams are done. */
  close(): void;
}

export function createAppH2Server(deps: AppH2ServerDeps): AppH2Server {
  const all = new Set<AppH2Connection>();
  return {
    handle(socket, head) {
      // The sniffer held FINs back for a TCP splice; an HTTP/2 connection ends on the app's FIN.
      socket.allowHalfOpen = false;
      new AppH2Connection(socket, deps, all).start(head);
    },
    close() {
      for (const c of [...all]) c.drain();
    },
  };
}
