// The codec mover of the inbound L7 path (WEFT_L7_H2_ENGINE=weft): a peer agent's request on an
// agent/h2 stream is carried by ONE plain object, CodecPeerRequest — the stream's H2StreamHandler
// (what the session forwards for that stream), the AttemptSink the local attempt answers, and the
// source of the request body it writes into that attempt. No Duplex, no EventEmitter, no header
// object on the way back beyond the shared transforms. The decisions (refusals, policy, target,
// telemetry) are InboundHttpCore's (inbound-http-admit.ts), the same the node:http2 mover calls.
//
// Flow control is ours (the session runs the codec with manualFlowControl): request DATA is
// returned as window (conn.consume) when the local attempt's body takes it, and held while that
// body is over its high-water mark, until its 'drain' — so a pod that does not read stops the peer
// after one stream window. Response DATA stalls the pod's body (pause) when sendData says the
// codec's high-water mark is passed, until onWritable.
//
// Nothing of agent/http/h2-release.ts applies: that lets node:http2's streams drop the listeners
// and copies that their native handles keep alive; this object has no native handle, nothing
// listens on it, and the codec drops its stream at close. What it registers — one 'data' listener
// on the pod's response body, one 'drain' under backpressure — lives on the attempt's own
// streams, which are let go with the attempt.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Code } from '../h2/constants.ts';
import { HeadersKind, type H2Connection, type H2Stream, type HeadersKindValue } from '../h2/connection.ts';
import { headersToObject, objectToHeaders } from '../h2/header-object.ts';
import { StreamState } from '../h2/stream-state.ts';
import type { H2StreamHandler } from '../h2/stream-handler.ts';
import { endRequest, type AttemptSink, type ResponseBody, type UpstreamAttempt } from '../http/upstream.ts';
import type { CodecPeer } from './hbone/server.ts';
import { FAILED_DELIVERED, FAILED_NOT_DELIVERED, failureLabel, reportPeerRequest, responseHeadList, wantsTrailers, type InboundHttpCore, type RequestReport } from './inbound-http-admit.ts';


const EMPTY = Buffer.alloc(0);
const CONTINUE: readonly string[] = [':status', '100'];

/** A complete answer with END_STREAM; a request still being sent is declined (RST_STREAM NO_ERROR, RFC 9113 §8.1). */
function answer(conn: H2Connection, s: H2Stream, list: string[]): void {
  conn.sendHeaders(s, list, true);
  if (s.state === StreamState.HALF_CLOSED_LOCAL) conn.reset(s, H2Code.NO_ERROR);
}

function finish(r: CodecPeerRequest): void {
  r.finish();
}

export class CodecPeerRequest implements H2StreamHandler, AttemptSink {
  /**
   * Takes a request head: decided by the core, then refused on the stream or forwarded to the
   * local pod with a CodecPeerRequest attached to the codec stream (its `ctx`).
   */
  static take(core: InboundHttpCore, peer: CodecPeer, s: H2Stream, list: string[], endStream: boolean): void {
    const a = core.admit({
      headers: list,
      peerIdentity: peer.peerIdentity,
      localIdentity: peer.localIdentity,
      remoteAddress: peer.remoteAddress,
      bodyless: endStream,
    });
    if (a.refuse !== undefined) {
      answer(peer.conn, s, objectToHeaders(a.refuse));
      return;
    }
    const r = new CodecPeerRequest(peer.conn, s, a.report, core);
    // Attached before the attempt starts: whatever it reports, the stream's close reaches `r`.
    s.ctx = r;
    r.attempt = core.deps.local.start(a.forward, r);
  }

  readonly #conn: H2Connection;
  readonly #s: H2Stream;
  readonly #report: RequestReport;
  readonly #core: InboundHttpCore;
  attempt: UpstreamAttempt | undefined = undefined;
  #status = 0;
  #requestBytes = 0;
  #responseBytes = 0;
  #error: string | undefined = undefined;
  #trailers: IncomingHttpHeaders | undefined = undefined;
  /** Our response head (or a complete answer) went out. */
  #headersSent = false;
  #wantTrailers = false;
  /** Our END_STREAM is sent or queued behind the body. */
  #endSent = false;
  /** Request octets the attempt's body holds over its high-water mark: window returned on 'drain'. */
  #owed = 0;
  #drainArmed = false;
  #onDrain: (() => void) | undefined = undefined;
  #body: ResponseBody | undefined = undefined;
  #onBodyData: ((c: Buffer) => void) | undefined = undefined;
  #bodyPaused = false;
  #closed = false;
  /** RST_STREAM code either way (0: none, or NO_ERROR). */
  #rstCode = 0;

  private constructor(conn: H2Connection, s: H2Stream, report: RequestReport, core: InboundHttpCore) {
    this.#conn = conn;
    this.#s = s;
    this.#report = report;
    this.#core = core;
  }

  // ---- H2StreamHandler: the peer's side ----

  onHeaders(headers: string[], _endStream: boolean, kind: HeadersKindValue): void {
    // Request trailers end the body, and end the pod's request too (the core's rule, trailer-fields.ts).
    if (kind === HeadersKind.TRAILERS) this.#peerEnd(headers.length > 0 ? this.#core.forwardTrailers(headersToObject(headers)) : undefined);
  }

  onData(data: Buffer, endStream: boolean): void {
    const n = data.length;
    if (n > 0) {
      this.#requestBytes += n;
      const body = this.attempt?.body;
      if (body === undefined || body.destroyed || body.writableEnded) {
        // Nobody takes it any more (the attempt failed or answered early): dropped, window returned.
        this.#conn.consume(this.#s, n);
      } else if (!body.write(data) || this.#owed > 0) {
        // Over the body's high-water mark: the peer's window stays spent until the pod reads.
        this.#owed += n;
        if (!this.#drainArmed) {
          this.#drainArmed = true;
          body.once('drain', (this.#onDrain ??= this.#drained.bind(this)));
        }
      } else {
        this.#conn.consume(this.#s, n);
      }
    }
    if (endStream) this.#peerEnd(undefined);
  }

  onReset(code: number): void {
    this.#rstCode = code;
  }

  onClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    // A reset is reported right after this (onReset); the request's end waits for it.
    process.nextTick(finish, this);
  }

  onWritable(): void {
    if (!this.#bodyPaused) return;
    this.#bodyPaused = false;
    this.#body?.resume();
  }

  #drained(): void {
    this.#drainArmed = false;
    const n = this.#owed;
    this.#owed = 0;
    if (n > 0) this.#conn.consume(this.#s, n);
  }

  #peerEnd(trailers: OutgoingHttpHeaders | undefined): void {
    const a = this.attempt;
    if (a !== undefined) endRequest(a, trailers);
  }

  // ---- AttemptSink: the pod's side ----

  onContinue(): void {
    if (!this.#closed && !this.#headersSent) this.#conn.sendHeaders(this.#s, CONTINUE as string[], false);
  }

  onResponse(status: number, headers: IncomingHttpHeaders, body: ResponseBody): void {
    if (this.#closed) {
      body.destroy();
      return;
    }
    this.#status = status;
    this.#wantTrailers = wantsTrailers(headers);
    this.#headersSent = true;
    this.#conn.sendHeaders(this.#s, responseHeadList(status, headers), false);
    this.#body = body;
    body.on('data', (this.#onBodyData ??= this.#bodyData.bind(this)));
  }

  #bodyData(c: Buffer): void {
    this.#responseBytes += c.length;
    if (this.#closed) return;
    const conn = this.#conn;
    const s = this.#s;
    if (!conn.sendData(s, c, false) && conn.stream(s.id) === s) {
      this.#bodyPaused = true;
      this.#body?.pause();
    }
  }

  onEnd(trailers: IncomingHttpHeaders | undefined): void {
    this.#trailers = trailers;
    this.#body = undefined;
    this.#drained();
    if (this.#closed || this.#endSent) return;
    this.#endSent = true;
    const list = this.#wantTrailers && trailers !== undefined ? this.#core.responseTrailerList(trailers) : undefined;
    // Trailers end the stream (queued behind the body); none at all ends it with an empty DATA.
    if (list !== undefined && list.length > 0) this.#conn.sendHeaders(this.#s, list, true);
    else this.#conn.sendData(this.#s, EMPTY, true);
  }

  onFailure(delivered: boolean, err: Error): void {
    this.#error = failureLabel(delivered, err);
    this.#body = undefined;
    // A body that failed may never say 'drain': what it held is given back, the rest dropped as it comes.
    this.#drained();
    if (this.#closed || this.#endSent) return;
    if (this.#headersSent) {
      this.#rstCode = H2Code.INTERNAL_ERROR;
      this.#conn.reset(this.#s, H2Code.INTERNAL_ERROR);
      return;
    }
    // The code tells the originating agent whether the app saw the request (replay rules).
    this.#headersSent = true;
    this.#endSent = true;
    this.#conn.sendHeaders(this.#s, objectToHeaders(delivered ? FAILED_DELIVERED : FAILED_NOT_DELIVERED), true);
  }

  /** The stream closed (next tick, its reset code known): the attempt stops, the request is reported once. */
  finish(): void {
    this.attempt?.abort();
    this.attempt = undefined;
    this.#body = undefined;
    reportPeerRequest(this.#report, this.#status, this.#requestBytes, this.#responseBytes, this.#trailers, this.#error, this.#rstCode !== 0);
  }
}
