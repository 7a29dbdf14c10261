// An attempt carried as one HTTP/2 stream of the agent's own codec (WEFT_L7_H2_ENGINE=weft): to a
// peer agent over the pooled mTLS session, or h2c to a pod on this node. One plain object per
// request is everything the request needs: the codec stream's handler (H2Session.open, events
// from agent/h2/stream-handler.ts), the UpstreamAttempt, its request body (AttemptBody) and the
// response body (ResponseBody) — no Duplex, no EventEmitter, no closure per request. Its
// consumers (exchange.ts, inbound-http.ts) register at most one 'data', one 'end' and one 'drain'
// at a time, so each is one slot.
//
// The same outcomes as H2Attempt (node:http2's streams, the node engine): a stream with no id
// (never opened) or refused (REFUSED_STREAM, RFC 9113 §8.7) was not delivered and may be
// replayed; any other reset before the response ended is a failure of a delivered request.
// Backpressure both ways is the codec's flow control: received DATA is returned to the peer as
// window (conn.consume) only as the consumer takes it, and held while it is paused; a sendData
// over the codec's high-water mark makes write() return false until onWritable ('drain').
//
// Unlike node:http2's streams (agent/http/h2-release.ts), nothing native holds this object: once
// the stream closed and its consumers let go, a young-generation collection frees it, so there
// are no listeners to drop or hidden fields to clear.
import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Code } from '../h2/constants.ts';
import { HeadersKind, type H2Stream, type HeadersKindValue } from '../h2/connection.ts';
import { streamResetError } from '../h2/duplex-stream.ts';
import { headersToObject, joinedValue, objectToHeaders } from '../h2/header-object.ts';
import { H2Session } from '../h2/session.ts';
import type { H2PendingStream } from '../h2/stream-handler.ts';
import type { PoolEntry } from '../proxy/hbone/pool.ts';
import { H2Attempt } from './h2-attempt.ts';
import { announcedLength, resetEndsResponse } from '../h2/reset-ends-response.ts';
import type { AttemptBody, AttemptSink, ResponseBody, UpstreamAttempt } from './upstream.ts';

const EMPTY = Buffer.alloc(0);
/** Request body octets buffered while the stream waits for the handshake before write() says stop. */
const PENDING_HIGH_WATER = 64 * 1024;

/** Who hears that a request's stream is done with its session (PeerSessions: the pool's count). */
export interface StreamReleaser {
  release(entry: PoolEntry): void;
}

type DataFn = (chunk: Buffer) => void;
type VoidFn = () => void;

export class H2StreamAttempt implements H2PendingStream, UpstreamAttempt, AttemptBody, ResponseBody {
  readonly #session: H2Session;
  readonly #sink: AttemptSink;
  readonly #releaser: StreamReleaser | undefined;
  readonly #entry: PoolEntry | undefined;
  #s: H2Stream | undefined = undefined;
  /** No sink call any more: the outcome was reported, or the attempt was aborted. */
  #done = false;
  #aborted = false;
  #responded = false;
  /** The response head's content-length (-1: none): a RST_STREAM(NO_ERROR) short of it is a cut. */
  #contentLength = -1;
  /** The codec stream closed, or it never opened. */
  #closed = false;
  #released = false;
  #trailers: IncomingHttpHeaders | undefined = undefined;

  // ---- request body ----
  /** end() was called, or the request HEADERS carried END_STREAM. */
  #endSent: boolean;
  /** Chunks written before the stream opened, and end() then. */
  #early: Buffer[] | null = null;
  #earlyBytes = 0;
  #earlyEnd = false;
  /** Trailers given before the stream opened: they end it once it does. */
  #earlyTrailers: string[] | null = null;
  /** write() returned false: 'drain' is owed. */
  #wantDrain = false;
  #drainFn: VoidFn | undefined = undefined;

  // ---- response body ----
  #dataFn: DataFn | undefined = undefined;
  #endFn: VoidFn | undefined = undefined;
  /** As a node Readable: flowing once a 'data' consumer came or resume() was called; pause() stops it. */
  #flowing = false;
  #paused = false;
  /** DATA received while not flowing (paused, or no consumer yet): held against the stream window. */
  #held: Buffer[] | null = null;
  #peerEnded = false;
  #flushQueued = false;

  /**
   * `endStream`: the request has no body (its HEADERS end the stream). `releaser.release(entry)`
   * runs once, after the stream closed or failed to open.
   */
  /** `headers`: a header list (pseudo-headers first), or an object to convert to one. */
  constructor(session: H2Session, headers: OutgoingHttpHeaders | string[], endStream: boolean, sink: AttemptSink, releaser?: StreamReleaser, entry?: PoolEntry) {
    this.#session = session;
    this.#sink = sink;
    this.#releaser = releaser;
    this.#entry = entry;
    this.#endSent = endStream;
    session.open(Array.isArray(headers) ? headers : objectToHeaders(headers), endStream, this);
  }

  // ---- UpstreamAttempt ----

  get body(): AttemptBody {
    return this;
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    this.#aborted = true;
    this.#letGo();
    const s = this.#s;
    if (s === undefined) {
      // Still queued for the handshake: it never opens.
      this.#session.forget(this);
      this.#closed = true;
      this.#release();
    } else if (!this.#closed) {
      // RST_STREAM CANCEL; the codec closes the stream at once (onClosed: the pool's release).
      this.#session.conn.reset(s, H2Code.CANCEL);
    }
  }

  // ---- AttemptBody (the request body) ----

  get writableEnded(): boolean {
    return this.#endSent;
  }

  /** The attempt was aborted or its stream is gone: writes go nowhere. */
  get destroyed(): boolean {
    return this.#aborted || this.#closed;
  }

  write(chunk: Buffer): boolean {
    if (this.#endSent || this.destroyed) return true;
    const s = this.#s;
    if (s === undefined) {
      (this.#early ??= []).push(chunk);
      this.#earlyBytes += chunk.length;
      if (this.#earlyBytes < PENDING_HIGH_WATER) return true;
      this.#wantDrain = true;
      return false;
    }
    if (this.#session.conn.sendData(s, chunk, false) || this.#closed) return true;
    this.#wantDrain = true;
    return false;
  }

  end(): void {
    if (this.#endSent) return;
    this.#endSent = true;
    if (this.destroyed) return;
    const s = this.#s;
    if (s === undefined) this.#earlyEnd = true;
    else this.#session.conn.sendData(s, EMPTY, true);
  }

  /** The body's end as a trailing HEADERS frame with END_STREAM (RFC 9113 §8.1), queued behind its DATA. */
  endWithTrailers(trailers: OutgoingHttpHeaders): void {
    if (this.#endSent) return;
    this.#endSent = true;
    if (this.destroyed) return;
    const list = objectToHeaders(trailers);
    const s = this.#s;
    if (s === undefined) {
      this.#earlyEnd = true;
      this.#earlyTrailers = list;
    } else {
      this.#session.conn.sendHeaders(s, list, true);
    }
  }

  // ---- ResponseBody, and the one-slot events of both bodies ----

  on(event: 'data', fn: DataFn): this {
    if (event !== 'data') throw new Error(`H2StreamAttempt: no '${event as string}' event`);
    this.#dataFn = fn;
    if (this.#paused) return this;
    this.#flowing = true;
    if (this.#held !== null) this.#queueFlush();
    return this;
  }

  off(event: 'data', fn: DataFn): this {
    if (this.#dataFn === fn) this.#dataFn = undefined;
    return this;
  }

  /** 'drain' after write() returned false; 'end' when the response body ended (after sink.onEnd). */
  once(event: 'drain' | 'end', fn: VoidFn): this {
    if (event === 'drain') this.#drainFn = fn;
    else if (event === 'end') this.#endFn = fn;
    else throw new Error(`H2StreamAttempt: no '${event as string}' event`);
    return this;
  }

  pause(): this {
    this.#paused = true;
    return this;
  }

  /** Flowing again; with no 'data' consumer the body is read and dropped, as a node Readable's is. */
  resume(): this {
    this.#paused = false;
    this.#flowing = true;
    if (this.#held !== null) this.#queueFlush();
    return this;
  }

  /** The consumer lets go of the response: as abort() (RST_STREAM CANCEL unless it ended). */
  destroy(): this {
    this.abort();
    return this;
  }

  // ---- H2PendingStream: from the session ----

  attach(s: H2Stream): void {
    this.#s = s;
    s.ctx = this;
    const early = this.#early;
    if (early === null && !this.#earlyEnd) return;
    this.#early = null;
    this.#earlyBytes = 0;
    const conn = this.#session.conn;
    let room = true;
    if (early !== null) for (const c of early) room = conn.sendData(s, c, false);
    const t = this.#earlyTrailers;
    this.#earlyTrailers = null;
    if (t !== null) conn.sendHeaders(s, t, true);
    else if (this.#earlyEnd) conn.sendData(s, EMPTY, true);
    if (room && this.#wantDrain) this.#drain();
  }

  failOpen(err: Error): void {
    this.#closed = true;
    this.#early = null;
    this.#earlyTrailers = null;
    this.#release();
    // Reported on the next tick: this can run inside the constructor (a session already closed),
    // before the exchange holds the attempt.
    if (!this.#done) process.nextTick(reportNotOpened, this, err);
  }

  /** (Internal: run by failOpen's tick.) No stream id: the server never saw the request. */
  notOpened(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#letGo();
    this.#sink.onFailure(false, err);
  }

  onHeaders(headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    if (kind === HeadersKind.INFORMATIONAL) {
      // `:status` is the only response pseudo-header, so it comes first (the codec checked it).
      if (headers[1] === '100' && !this.#done) this.#sink.onContinue();
      return;
    }
    if (kind === HeadersKind.TRAILERS) {
      if (headers.length > 0) this.#trailers = headersToObject(headers);
      this.#peerEnd();
      return;
    }
    this.#responded = true;
    if (this.#done) return;
    this.#contentLength = announcedLength(joinedValue(headers, 'content-length'));
    const sink = this.#sink;
    // `:status` is the only response pseudo-header, so it comes first (the codec checked it).
    const status = Number(headers[0] === ':status' ? headers[1] : joinedValue(headers, ':status'));
    if (sink.onResponseList !== undefined) sink.onResponseList(status, headers, this);
    else sink.onResponse(status, headersToObject(headers), this, headers);
    if (endStream) this.#peerEnd();
  }

  onData(data: Buffer, endStream: boolean): void {
    if (this.#done) {
      // Aborted: the codec resets the stream; what still arrives is dropped (and returned).
      if (this.#s !== undefined) this.#session.conn.consume(this.#s, data.length);
      return;
    }
    if (data.length > 0) {
      if (this.#held === null && this.#flowing && !this.#paused) {
        this.#session.conn.consume(this.#s as H2Stream, data.length);
        this.#dataFn?.(data);
      } else {
        // Not taken: the window stays closed by these octets until the consumer reads them.
        (this.#held ??= []).push(data);
      }
    }
    if (endStream) this.#peerEnd();
  }

  onReset(code: number): void {
    // A complete response stays complete: a server may reset the rest of our upload (NO_ERROR,
    // RFC 9113 §8.1) after its END_STREAM, and what it sent is still delivered.
    if (this.#done || this.#peerEnded) return;
    // RST_STREAM(NO_ERROR) after the whole body (reset-ends-response.ts): the end of the response;
    // what the consumer has not read yet is still delivered (the stream's window went back to the
    // connection when it closed).
    if (resetEndsResponse(code, this.#responded, this.#contentLength, this.#s?.received ?? 0)) {
      this.#peerEnd();
      return;
    }
    this.#done = true;
    this.#letGo();
    const delivered = this.#responded || code !== H2Code.REFUSED_STREAM;
    this.#sink.onFailure(delivered, streamResetError(code));
  }

  onClosed(): void {
    this.#closed = true;
    this.#early = null;
    this.#earlyTrailers = null;
    this.#wantDrain = false;
    this.#drainFn = undefined;
    this.#release();
  }

  onWritable(): void {
    if (this.#wantDrain) this.#drain();
  }

  // ---- internals ----

  #peerEnd(): void {
    this.#peerEnded = true;
    if (this.#held === null) this.#finishResponse();
  }

  /** The whole response reached its consumer: report it, then the body's 'end'. */
  #finishResponse(): void {
    if (this.#done || !this.#responded) return;
    this.#done = true;
    const endFn = this.#endFn;
    this.#letGo();
    this.#sink.onEnd(this.#trailers);
    endFn?.();
  }

  #drain(): void {
    this.#wantDrain = false;
    const fn = this.#drainFn;
    this.#drainFn = undefined;
    fn?.();
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    process.nextTick(flushHeld, this);
  }

  /** (Internal: run by the queued flush.) Delivers held DATA while the consumer takes it; the window goes back chunk by chunk. */
  flushHeld(): void {
    this.#flushQueued = false;
    const held = this.#held;
    if (held === null || this.#done) return;
    while (held.length > 0 && this.#flowing && !this.#paused && !this.#done) {
      const c = held.shift() as Buffer;
      this.#session.conn.consume(this.#s as H2Stream, c.length);
      this.#dataFn?.(c);
    }
    if (held.length > 0 || this.#done) return;
    this.#held = null;
    if (this.#peerEnded) this.#finishResponse();
  }

  /** The consumers' slots and held data: nothing is delivered after the outcome. */
  #letGo(): void {
    this.#dataFn = undefined;
    this.#endFn = undefined;
    this.#held = null;
  }

  /** Once: the pool's count of streams on the session, on the next tick (never inside the codec's frame handling). */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#releaser !== undefined && this.#entry !== undefined) process.nextTick(releaseEntry, this.#releaser, this.#entry);
  }
}

function flushHeld(a: H2StreamAttempt): void {
  a.flushHeld();
}

function reportNotOpened(a: H2StreamAttempt, err: Error): void {
  a.notOpened(err);
}

function releaseEntry(releaser: StreamReleaser, entry: PoolEntry): void {
  releaser.release(entry);
}

/**
 * An attempt on a pooled client session of either engine: the codec's H2Session carries it as one
 * H2StreamAttempt, node:http2's as an H2Attempt (a Duplex per stream, unchanged). `mayTrail`
 * (AttemptRequest.mayTrail): node:http2 must be told before the stream opens that trailers may end it.
 */
export function startH2Attempt(session: ClientHttp2Session | H2Session, headers: OutgoingHttpHeaders | string[], endStream: boolean, sink: AttemptSink, releaser?: StreamReleaser, entry?: PoolEntry, mayTrail = false): UpstreamAttempt {
  if (session instanceof H2Session) return new H2StreamAttempt(session, headers, endStream, sink, releaser, entry);
  const onClose = releaser === undefined || entry === undefined ? undefined : (): void => releaser.release(entry);
  // node:http2 takes an object (a list's repeated fields joined, as RFC 9110 §5.3 allows).
  return new H2Attempt(session, Array.isArray(headers) ? headersToObject(headers) as OutgoingHttpHeaders : headers, endStream, sink, onClose, mayTrail);
}
