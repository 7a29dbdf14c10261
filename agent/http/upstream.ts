// One attempt of a request towards one endpoint, whatever carries it (HTTP/1.1 to a local pod,
// h2c to a local pod, HTTP/2 to a peer agent). The exchange drives every kind through this shape:
// it writes the body into `body` and hears back through an AttemptSink.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';

export type AppProtocol = 'http1' | 'h2';

export interface AttemptSink {
  /** The server sent 100 Continue. */
  onContinue(): void;
  /** Final response headers; `body` streams the response (consume or destroy it). */
  onResponse(status: number, headers: IncomingHttpHeaders, body: Readable): void;
  /** The response body ended; `trailers` when the server sent any. */
  onEnd(trailers: IncomingHttpHeaders | undefined): void;
  /**
   * The attempt failed. `delivered` false means the request provably never reached the app
   * (connect failure, refused stream), so it may be replayed whatever its method.
   */
  onFailure(delivered: boolean, err: Error): void;
}

export interface UpstreamAttempt {
  /** Request body sink; end() it when the body is complete. */
  readonly body: Writable;
  /** Stops the attempt (timeout, client gone, retry decided). Idempotent; no sink calls after. */
  abort(): void;
}

export interface AttemptRequest {
  method: string;
  path: string;
  authority: string;
  headers: OutgoingHttpHeaders;
  proto: AppProtocol;
  target: { ip: string; port: number };
  /** The app's SPIFFE ID: the certificate a peer hop presents. */
  source: string;
  /** The app's address as this agent saw it (policy `ipBlocks` for a same-node request). */
  sourceAddress: string;
  /**
   * The request has no body (HTTP/1.1 without Content-Length or Transfer-Encoding, RFC 9112 §6.3;
   * HTTP/2 with END_STREAM on its HEADERS). An HTTP/2 hop then ends the stream with its HEADERS
   * frame instead of sending an empty DATA frame after it: one frame, one write, one read fewer
   * per request. The attempt's `body` is already ended then; end it only if `writableEnded` is false.
   */
  bodyless: boolean;
}

/** Ends an attempt's body once: end() on a finished or destroyed stream builds an error object. */
export function endBody(body: Writable): void {
  if (!body.writableEnded && !body.destroyed) body.end();
}
