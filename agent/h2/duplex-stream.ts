// One HTTP/2 stream of an H2Session as a node Duplex with node:http2's stream surface — the
// members the agent's L7 and tunnel stages use (request/respond, 100 Continue, trailers,
// 'response'/'trailers'/'wantTrailers', close(code), rstCode, id) — so the stages run unchanged
// on either engine (WEFT_L7_H2_ENGINE). Flow control is the reader's: DATA that the Duplex buffer
// will not take is held against the stream's receive window until _read() asks for more, so a
// slow consumer stops the peer after one window (backpressure), and a sender stalls on the
// codec's high-water mark (sendData → false) until onWritable.
import { Duplex } from 'node:stream';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Code } from './constants.ts';
import type { H2Connection, H2Stream, HeadersKindValue } from './connection.ts';
import { HeadersKind } from './connection.ts';
import { headersToObject, objectToHeaders } from './header-object.ts';
import { announcedLength, resetEndsResponse } from './reset-ends-response.ts';
import type { H2PendingStream } from './stream-handler.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

const EMPTY = Buffer.alloc(0);
type Callback = (err?: Error | null) => void;

/** What a stream needs of its session (H2Session implements it). */
export interface StreamOwner {
  readonly conn: H2Connection;
  /** A client stream not opened yet (the connection is still handshaking) was destroyed. */
  forget(stream: H2DuplexStream): void;
}

/** A stream reset with an error code, as node:http2 reports one (`code` ERR_HTTP2_STREAM_ERROR). */
export function streamResetError(code: number): Error {
  return Object.assign(new Error(`HTTP/2 stream reset (code ${code})`), { code: 'ERR_HTTP2_STREAM_ERROR', h2code: code });
}

export class H2DuplexStream extends Duplex implements H2PendingStream {
  readonly session: StreamOwner;
  readonly #client: boolean;
  #s: H2Stream | undefined = undefined;
  /** The stream id, once opened (a client stream waits for the TLS handshake). */
  id: number | undefined = undefined;
  /** RST_STREAM code either way, 0 after a clean close, undefined while open. */
  rstCode: number | undefined = undefined;
  headersSent = false;
  /** The request head carried END_STREAM (server side). */
  endAfterHeaders = false;
  /** END_STREAM went (or is queued) with a HEADERS frame: _final has nothing to send. */
  #endSent = false;
  #waitForTrailers = false;
  /** A write or the final end waiting for the stream to open, or for window. */
  #pendingChunk: Buffer | undefined = undefined;
  #writeCb: Callback | undefined = undefined;
  #finalCb: Callback | undefined = undefined;
  /** The peer's END_STREAM arrived. */
  #peerEnded = false;
  /** A final response head arrived (client side), and the content-length it announced (-1: none). */
  #responded = false;
  #contentLength = -1;
  /** Octets delivered to the Duplex buffer but not yet returned to the peer as window. */
  #owed = 0;
  #closeCode: number | undefined = undefined;
  #timer: NodeJS.Timeout | undefined = undefined;

  constructor(owner: StreamOwner, client: boolean) {
    super({ allowHalfOpen: true, autoDestroy: true, emitClose: true });
    this.session = owner;
    this.#client = client;
  }

  /** The codec stream is open: flush what waited for it. */
  attach(s: H2Stream): void {
    this.#s = s;
    this.id = s.id;
    s.ctx = this;
    const chunk = this.#pendingChunk;
    const cb = this.#writeCb;
    this.#pendingChunk = undefined;
    this.#writeCb = undefined;
    if (chunk !== undefined && cb !== undefined) this.#send(chunk, cb);
    const fin = this.#finalCb;
    this.#finalCb = undefined;
    if (fin !== undefined) this.#end(fin);
  }

  /** Client: the marker that the request HEADERS carries END_STREAM (no body frame follows). */
  markEndSent(): void {
    this.#endSent = true;
  }

  // ---- node:http2's server-stream surface ----

  respond(headers: OutgoingHttpHeaders, opts?: { endStream?: boolean; waitForTrailers?: boolean }): void {
    const s = this.#s;
    if (s === undefined || this.headersSent || this.destroyed) return;
    this.headersSent = true;
    const end = opts?.endStream === true;
    this.#waitForTrailers = opts?.waitForTrailers === true;
    this.session.conn.sendHeaders(s, objectToHeaders(headers), end);
    if (end) {
      this.#endSent = true;
      if (!this.writableEnded) this.end();
      // A complete answer to a request nobody reads (a refusal, a tunnel whose target did not
      // connect): as node:http2 does, and RFC 9113 §8.1 allows, the rest of the request is
      // declined with RST_STREAM(NO_ERROR) and the stream closes now. Otherwise it would stay
      // open until the peer ended its side, and whatever waits for 'close' (a policy admission,
      // a tunnel's accounting) with it.
      if (!this.#client && !this.#peerEnded && this.readableFlowing === null) this.close(H2Code.NO_ERROR);
    }
  }

  /** A 1xx before the response (100 Continue). */
  additionalHeaders(headers: OutgoingHttpHeaders): void {
    const s = this.#s;
    if (s === undefined || this.headersSent || this.destroyed) return;
    this.session.conn.sendHeaders(s, objectToHeaders(headers), false);
  }

  /** Trailers end the stream; none at all ends it with an empty DATA frame. */
  sendTrailers(headers: OutgoingHttpHeaders): void {
    const s = this.#s;
    if (s === undefined || this.#endSent || this.destroyed) return;
    this.#endSent = true;
    const list = objectToHeaders(headers);
    if (list.length === 0) this.session.conn.sendData(s, EMPTY, true);
    else this.session.conn.sendHeaders(s, list, true);
  }

  /** Resets the stream with `code` (RST_STREAM) and destroys it. */
  close(code: number = H2Code.NO_ERROR, cb?: () => void): void {
    if (cb !== undefined) this.once('close', cb);
    if (this.destroyed) return;
    this.#closeCode = code;
    this.destroy();
  }

  /** An inactivity timer like a socket's ('timeout' after `ms` without data either way); 0 clears it. */
  setTimeout(ms: number, cb?: () => void): this {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (cb !== undefined) this.once('timeout', cb);
    if (ms > 0) {
      this.#timer = setTimeout(() => this.emit('timeout'), ms);
      this.#timer.unref();
    }
    return this;
  }

  // ---- events from the session (H2Handler calls routed by stream) ----

  onHeaders(headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    this.#timer?.refresh();
    if (kind === HeadersKind.INFORMATIONAL) {
      if (headers[1] === '100') this.emit('continue');
      else this.emit('headers', headersToObject(headers));
      return;
    }
    if (kind === HeadersKind.TRAILERS) {
      this.emit('trailers', headersToObject(headers));
      this.peerEnd();
      return;
    }
    // A response head (client side; a server's request head comes through the session's 'stream').
    const head = headersToObject(headers) as IncomingHttpHeaders;
    this.#responded = true;
    this.#contentLength = announcedLength(head['content-length']);
    this.emit('response', head, 0);
    if (endStream) this.peerEnd();
  }

  onData(data: Buffer, endStream: boolean): void {
    this.#timer?.refresh();
    const s = this.#s;
    if (data.length > 0 && s !== undefined) {
      if (this.push(data) && this.#owed === 0) this.session.conn.consume(s, data.length);
      else this.#owed += data.length;
    }
    if (endStream) this.peerEnd();
  }

  /** The peer ended its side: the readable side ends. */
  peerEnd(): void {
    this.#peerEnded = true;
    this.push(null);
  }

  onReset(code: number): void {
    this.rstCode = code;
    this.#releaseWrite();
    const s = this.#s;
    if (this.#client && !this.destroyed && s !== undefined && resetEndsResponse(code, this.#responded, this.#contentLength, s.received)) {
      // RFC 9113 §8.1: the server sent its whole response and declines the rest of the request.
      // The response ends normally ('end' after its data, which the reader may not have taken yet);
      // the request side has nothing more to send (writes go nowhere on a closed stream), so both
      // sides finish and autoDestroy closes the Duplex without another reset.
      this.#endSent = true;
      if (!this.#peerEnded) this.peerEnd();
      if (!this.writableEnded) this.end();
      return;
    }
    // As node:http2: a reset with CANCEL (an abort) or NO_ERROR is a close, not an error.
    if (!this.destroyed) this.destroy(code === H2Code.NO_ERROR || code === H2Code.CANCEL ? undefined : streamResetError(code));
  }

  /** The stream reached `closed`; a reset is reported right after (onReset), a clean end is not. */
  onClosed(): void {
    this.#releaseWrite();
    process.nextTick(this.#cleanIfNotReset);
  }

  readonly #cleanIfNotReset = (): void => {
    this.rstCode ??= H2Code.NO_ERROR;
  };

  onWritable(): void {
    const cb = this.#writeCb;
    if (cb === undefined) return;
    this.#writeCb = undefined;
    cb();
  }

  /** The connection could not open this stream (never delivered: no id). */
  failOpen(err: Error): void {
    if (!this.destroyed) this.destroy(err);
  }

  // ---- Duplex ----

  override _read(): void {
    const s = this.#s;
    if (this.#owed > 0 && s !== undefined) {
      const n = this.#owed;
      this.#owed = 0;
      this.session.conn.consume(s, n);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    this.#timer?.refresh();
    if (this.#s === undefined) {
      this.#pendingChunk = chunk;
      this.#writeCb = cb;
      return;
    }
    this.#send(chunk, cb);
  }

  override _final(cb: Callback): void {
    if (this.#endSent) return cb();
    if (this.#s === undefined) {
      this.#finalCb = cb;
      return;
    }
    this.#end(cb);
  }

  override _destroy(err: Error | null, cb: Callback): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const s = this.#s;
    // Both sides ended (autoDestroy): what we queued — body, END_STREAM, trailers — may still be
    // waiting for window, and goes out on its own; a reset here would cut it off.
    const done = this.#peerEnded && this.#endSent && err === null && this.#closeCode === undefined;
    if (s === undefined) this.session.forget(this);
    else if (!done && this.session.conn.stream(s.id) === s) {
      const code = this.#closeCode ?? (err !== null ? H2Code.INTERNAL_ERROR : H2Code.CANCEL);
      this.rstCode ??= code;
      this.session.conn.reset(s, code);
    }
    this.#pendingChunk = undefined;
    this.#writeCb = undefined;
    this.#finalCb = undefined;
    cb(err);
  }

  #send(chunk: Buffer, cb: Callback): void {
    const s = this.#s as H2Stream;
    const conn = this.session.conn;
    if (conn.sendData(s, chunk, false) || conn.stream(s.id) !== s) cb();
    else this.#writeCb = cb;
  }

  #end(cb: Callback): void {
    const s = this.#s as H2Stream;
    if (!this.#client && this.#waitForTrailers) {
      // The handler answers with sendTrailers() (or nothing: sendTrailers({}) ends it bare).
      this.emit('wantTrailers');
      if (!this.#endSent) this.sendTrailers({});
    } else {
      this.#endSent = true;
      this.session.conn.sendData(s, EMPTY, true);
    }
    cb();
  }

  /** A write waiting for window on a stream that is gone will never get it. */
  #releaseWrite(): void {
    const cb = this.#writeCb;
    if (cb === undefined || this.#s === undefined) return;
    this.#writeCb = undefined;
    cb();
  }
}

/** A stream the connection refused to open (GOAWAY, the peer's concurrency limit): never delivered. */
export function notOpenedError(why: string): WeftError {
  return new WeftError(ErrorCodes.UPSTREAM_CONNECT, `HTTP/2 stream not opened: ${why}`);
}
