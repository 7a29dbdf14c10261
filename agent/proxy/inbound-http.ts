// Inbound HTTP on the HBONE port: a peer agent's L7 request (a regular HTTP/2 request on the
// mTLS session, see agent/http/headers.ts), its client certificate already verified. Like a
// CONNECT, it is delivered only to a meshed workload on this node whose identity the peer asked
// for by SNI; then it is restored in the protocol the app spoke (weft-proto) and sent to the pod
// over the local pools, and the answer — 100 Continue, headers, body, trailers — goes back on
// the stream. Failures carry weft-error so the originating agent knows whether the request was
// delivered (UPSTREAM_CONNECT: it was not, and may be replayed).
//
// The decisions are InboundHttpCore's (inbound-http-admit.ts); this file holds the node:http2
// mover (StreamSink, on node:http2's stream or the codec's Duplex facade) and createInboundHttp,
// which pairs it with the codec mover (inbound-http-codec.ts) over one core.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { H2Code } from '../h2/constants.ts';
import { endRequest, type AttemptSink, type ResponseBody, type UpstreamAttempt } from '../http/upstream.ts';
import { releaseClosedStream } from '../http/h2-release.ts';
import type { H2Stream } from '../h2/connection.ts';
import { FAILED_DELIVERED, FAILED_NOT_DELIVERED, InboundHttpCore, failureLabel, reportPeerRequest, responseHead, wantsTrailers, type InboundHttpDeps, type RequestReport } from './inbound-http-admit.ts';
import { CodecPeerRequest } from './inbound-http-codec.ts';
import type { CodecPeer } from './hbone/server.ts';

export type { InboundHttpDeps } from './inbound-http-admit.ts';

export interface PeerHttpRequest {
  stream: ServerHttp2Stream;
  headers: IncomingHttpHeaders;
  peerIdentity: string;
  localIdentity: string;
}

function refuse(stream: ServerHttp2Stream, headers: OutgoingHttpHeaders): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(headers, { endStream: true });
}

/** Relays one upstream answer onto the peer's stream. One per request. */
class StreamSink implements AttemptSink {
  readonly stream: ServerHttp2Stream;
  attempt: UpstreamAttempt | undefined = undefined;
  #trailers: IncomingHttpHeaders | undefined = undefined;
  readonly #report: RequestReport;
  readonly #core: InboundHttpCore;
  /** The peer's request trailers as the pod gets them ('trailers' comes before 'end'). */
  #reqTrailers: OutgoingHttpHeaders | undefined = undefined;
  #status = 0;
  #requestBytes = 0;
  #responseBytes = 0;
  #error: string | undefined = undefined;

  constructor(stream: ServerHttp2Stream, report: RequestReport, core: InboundHttpCore) {
    this.stream = stream;
    this.#report = report;
    this.#core = core;
    stream.on('close', this.#onClose);
  }

  /** Relays the peer's request body into the attempt: one handler counts, writes and applies backpressure. */
  relayRequestBody(): void {
    const s = this.stream;
    s.on('data', this.#onReqData);
    s.once('trailers', this.#onReqTrailers);
    s.once('end', this.#onReqEnd);
  }

  readonly #onReqTrailers = (t: IncomingHttpHeaders): void => {
    for (const _ in t) {
      this.#reqTrailers = this.#core.forwardTrailers(t);
      return;
    }
  };

  readonly #onReqData = (c: Buffer): void => {
    this.#requestBytes += c.length;
    const body = this.attempt?.body;
    if (body === undefined || body.destroyed || body.writableEnded) return;
    if (!body.write(c)) {
      this.stream.pause();
      body.once('drain', this.#resumeReq);
    }
  };

  readonly #resumeReq = (): void => {
    if (!this.stream.destroyed) this.stream.resume();
  };

  readonly #onReqEnd = (): void => {
    const a = this.attempt;
    if (a !== undefined) endRequest(a, this.#reqTrailers);
  };

  #body: ResponseBody | undefined = undefined;

  readonly #onBodyData = (c: Buffer): void => {
    this.#responseBytes += c.length;
    const s = this.stream;
    if (s.destroyed || s.writableEnded) return;
    if (!s.write(c)) {
      this.#body?.pause();
      s.once('drain', this.#resumeBody);
    }
  };

  readonly #resumeBody = (): void => {
    if (!this.stream.destroyed) this.#body?.resume();
  };

  readonly #onBodyEnd = (): void => {
    const s = this.stream;
    if (!s.destroyed && !s.writableEnded) s.end();
  };

  onContinue(): void {
    if (!this.stream.destroyed && !this.stream.headersSent) this.stream.additionalHeaders({ ':status': 100 });
  }

  onResponse(status: number, headers: IncomingHttpHeaders, body: ResponseBody): void {
    const s = this.stream;
    if (s.destroyed) {
      body.destroy();
      return;
    }
    const wantTrailers = wantsTrailers(headers);
    this.#status = status;
    s.respond(responseHead(status, headers), { waitForTrailers: wantTrailers });
    if (wantTrailers) s.once('wantTrailers', this.#sendTrailers);
    // One 'data' handler copies, counts and applies backpressure (cheaper per request than pipe()).
    this.#body = body;
    body.on('data', this.#onBodyData);
    body.once('end', this.#onBodyEnd);
  }

  onEnd(trailers: IncomingHttpHeaders | undefined): void {
    this.#trailers = trailers;
  }

  onFailure(delivered: boolean, err: Error): void {
    const s = this.stream;
    this.#error = failureLabel(delivered, err);
    if (s.headersSent) {
      if (!s.destroyed) s.close(H2Code.INTERNAL_ERROR);
      return;
    }
    // The code tells the originating agent whether the app saw the request (replay rules).
    refuse(s, delivered ? FAILED_DELIVERED : FAILED_NOT_DELIVERED);
  }

  readonly #sendTrailers = (): void => {
    if (this.stream.destroyed) return;
    this.stream.sendTrailers((this.#trailers === undefined ? undefined : this.#core.responseTrailers(this.#trailers)) ?? {});
  };

  readonly #onClose = (): void => {
    this.attempt?.abort();
    reportPeerRequest(this.#report, this.#status, this.#requestBytes, this.#responseBytes, this.#trailers, this.#error, this.stream.rstCode !== 0);
    releaseClosedStream(this.stream);
  };
}

/** The two movers of the inbound L7 path, over one InboundHttpCore (the decisions). */
export interface InboundHttp {
  /** node:http2's stream (WEFT_L7_H2_ENGINE=node, or a codec session without onCodecHttp). */
  onHttp(req: PeerHttpRequest): void;
  /** agent/h2's codec stream (WEFT_L7_H2_ENGINE=weft): answered, or one CodecPeerRequest attached as the stream's handler. */
  onCodecHttp(peer: CodecPeer, s: H2Stream, headers: string[], endStream: boolean): void;
}

export function createInboundHttp(deps: InboundHttpDeps): InboundHttp {
  const core = new InboundHttpCore(deps);
  return {
    onHttp(req) {
      const { stream, headers } = req;
      const a = core.admit({
        headers,
        peerIdentity: req.peerIdentity,
        localIdentity: req.localIdentity,
        remoteAddress: stream.session?.socket?.remoteAddress ?? '',
        bodyless: stream.endAfterHeaders,
      });
      if (a.refuse !== undefined) {
        refuse(stream, a.refuse);
        return;
      }
      const sink = new StreamSink(stream, a.report, core);
      const attempt = deps.local.start(a.forward, sink);
      sink.attempt = attempt;
      // A bodyless request went out whole (its attempt's body is already ended); piping would end it twice.
      if (stream.endAfterHeaders) stream.resume();
      else sink.relayRequestBody();
    },
    onCodecHttp(peer, s, headers, endStream) {
      CodecPeerRequest.take(core, peer, s, headers, endStream);
    },
  };
}

/** The node:http2 mover alone (tests, and callers that serve node:http2 only). */
export function createInboundHttpHandler(deps: InboundHttpDeps): (req: PeerHttpRequest) => void {
  return createInboundHttp(deps).onHttp;
}
