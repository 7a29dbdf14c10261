// One attempt of a request towards one endpoint, whatever carries it (HTTP/1.1 to a local pod,
// h2c to a local pod, HTTP/2 to a peer agent). The exchange drives every kind through this shape:
// it writes the body into `body` and hears back through an AttemptSink.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { HeaderList } from './header-list.ts';

export type AppProtocol = 'http1' | 'h2';

/**
 * An attempt's response body as its consumers read it: 'data' and 'end', pause/resume for
 * backpressure, destroy to let go. Structural, so a codec stream's plain object fits as well as a
 * node Readable (h1-client's response, an H2DuplexStream): no stream object per request is required.
 */
export interface ResponseBody {
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  off(event: 'data', fn: (chunk: Buffer) => void): unknown;
  once(event: 'end', fn: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
}

/**
 * An attempt's request body as the exchange writes it: write() returns false past the high-water
 * mark, then one 'drain' says go on. Structural for the same reason as ResponseBody.
 */
export interface AttemptBody {
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain', fn: () => void): unknown;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
}

export interface AttemptSink {
  /** The server sent 100 Continue. */
  onContinue(): void;
  /**
   * Final response headers; `body` streams the response (consume or destroy it). `list`, when the
   * attempt has it: the same head as received, a header list (names lower case, `:status` among
   * them), so a sink that relays the head goes list to list.
   */
  onResponse(status: number, headers: IncomingHttpHeaders, body: ResponseBody, list?: readonly string[]): void;
  /**
   * The same for a sink that reads the head as a list (the exchange): an attempt that has the
   * list calls this instead, and no header object is made unless the sink needs one.
   */
  onResponseList?(status: number, list: readonly string[], body: ResponseBody): void;
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
  readonly body: AttemptBody;
  /** Stops the attempt (timeout, client gone, retry decided). Idempotent; no sink calls after. */
  abort(): void;
  /**
   * Ends the request body with a trailer section (fields already checked by trailer-fields.ts,
   * at least one): trailing HEADERS with END_STREAM on HTTP/2, the chunked trailer section on
   * HTTP/1.1 — or dropped and counted where the request cannot carry one (h1-client.ts).
   */
  endWithTrailers(trailers: OutgoingHttpHeaders): void;
}

export interface AttemptRequest {
  method: string;
  path: string;
  authority: string;
  /**
   * The end-to-end fields as they go to the next hop: a header list (agent/http/header-list.ts),
   * names lower case, built once by the hop rule (headers.ts appendEndToEnd) and walked by every
   * writer — the hop's HTTP/2 list (requestHeaderList), the pod's HTTP/1.1 head (h1-client.ts).
   */
  headers: HeaderList;
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
  /**
   * The body may end with trailers (an HTTP/1.1 chunked body, any HTTP/2 body). Only node:http2's
   * client (WEFT_L7_H2_ENGINE=node) must know before the stream opens (`waitForTrailers`); absent: false.
   */
  mayTrail?: boolean;
}

/** Ends an attempt's body once: end() on a finished or destroyed stream builds an error object. */
export function endBody(body: AttemptBody): void {
  if (!body.writableEnded && !body.destroyed) body.end();
}

/** Ends an attempt's request: with its trailer section when there is one, else as endBody. */
export function endRequest(a: UpstreamAttempt, trailers: OutgoingHttpHeaders | undefined): void {
  const body = a.body;
  if (body.writableEnded || body.destroyed) return;
  if (trailers === undefined) body.end();
  else a.endWithTrailers(trailers);
}
