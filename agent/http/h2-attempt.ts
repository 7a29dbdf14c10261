// An attempt carried as one node:http2 stream (WEFT_L7_H2_ENGINE=node; on the codec it is
// h2-stream-attempt.ts): to a peer agent over the pooled mTLS session, or h2c to a local pod. A
// stream the server never saw (no stream id yet: the session failed to connect) or refused
// (REFUSED_STREAM, RFC 9113 §8.7) was not delivered and may be replayed.
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Code } from '../h2/constants.ts';
import type { Writable } from 'node:stream';
import type { AttemptSink, UpstreamAttempt } from './upstream.ts';
import { releaseClosedStream } from './h2-release.ts';

// RFC 9113 §7 codes (the same numbers as node:http2's NGHTTP2_* constants), without loading node:http2.
const { REFUSED_STREAM: NGHTTP2_REFUSED_STREAM, CANCEL: NGHTTP2_CANCEL } = H2Code;

export class H2Attempt implements UpstreamAttempt {
  readonly stream: ClientHttp2Stream;
  readonly #sink: AttemptSink;
  #done = false;
  #responded = false;
  #trailers: IncomingHttpHeaders | undefined = undefined;
  #error: Error | undefined = undefined;
  readonly #mayTrail: boolean;
  /** The request's trailers, sent when node:http2 asks for them ('wantTrailers'). */
  #reqTrailers: OutgoingHttpHeaders | undefined = undefined;

  /**
   * `endStream`: the request has no body; its HEADERS frame ends the stream (see AttemptRequest).
   * `mayTrail`: its body may end with trailers — node:http2 then holds END_STREAM after the body
   * (`waitForTrailers`) and asks for them; with none it ends the stream with an empty DATA frame.
   */
  constructor(session: ClientHttp2Session, headers: OutgoingHttpHeaders, endStream: boolean, sink: AttemptSink, onClose?: () => void, mayTrail = false) {
    this.#sink = sink;
    this.#mayTrail = mayTrail && !endStream;
    this.stream = session.request(headers, this.#mayTrail ? { endStream, waitForTrailers: true } : { endStream });
    const s = this.stream;
    if (this.#mayTrail) s.once('wantTrailers', this.#onWantTrailers);
    s.on('continue', this.#onContinue);
    s.on('response', this.#onResponse);
    s.on('trailers', this.#onTrailers);
    s.on('end', this.#onEnd);
    s.on('error', this.#onError);
    s.on('close', this.#onClose);
    if (onClose !== undefined) s.once('close', onClose);
  }

  get body(): Writable {
    return this.stream;
  }

  /**
   * Trailers end the body. Without `mayTrail` the stream was opened without waitForTrailers and
   * cannot carry them: the body ends bare (every caller that can have trailers sets it).
   */
  endWithTrailers(trailers: OutgoingHttpHeaders): void {
    if (this.#mayTrail) this.#reqTrailers = trailers;
    this.stream.end();
  }

  readonly #onWantTrailers = (): void => {
    const s = this.stream;
    if (!s.destroyed && !s.closed) s.sendTrailers(this.#reqTrailers ?? {});
  };

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  readonly #onContinue = (): void => {
    if (!this.#done) this.#sink.onContinue();
  };

  readonly #onResponse = (h: IncomingHttpHeaders): void => {
    if (this.#done) return;
    this.#responded = true;
    this.#sink.onResponse(Number(h[':status']), h, this.stream);
  };

  readonly #onTrailers = (t: IncomingHttpHeaders): void => {
    for (const _ in t) {
      this.#trailers = t;
      return;
    }
  };

  readonly #onEnd = (): void => {
    if (this.#done || !this.#responded) return;
    this.#done = true;
    this.#sink.onEnd(this.#trailers);
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
  };

  // 'close' is the stream's last event: report how it ended, then let go of what hangs on it
  // (the pool's release, registered after this listener, still runs: emit walks a copy).
  readonly #onClose = (): void => {
    this.#reportClose();
    releaseClosedStream(this.stream);
  };

  #reportClose(): void {
    if (this.#done) return;
    // A clean end is reported by 'end'; any other close before it is a failure.
    if (this.#responded && this.stream.readableEnded && this.stream.rstCode === H2Code.NO_ERROR) return;
    this.#done = true;
    const s = this.stream;
    const delivered = !(s.id === undefined || s.rstCode === NGHTTP2_REFUSED_STREAM) || this.#responded;
    this.#sink.onFailure(delivered, this.#error ?? Object.assign(new Error(`HTTP/2 stream closed (code ${s.rstCode ?? 'none'})`), { code: 'ERR_HTTP2_STREAM_ERROR' }));
  }
}
