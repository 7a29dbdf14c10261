// What one HTTP/2 stream's owner hears from an H2Session: the session keeps the handler in the
// codec stream's `ctx` and forwards the connection's per-stream events to it. H2DuplexStream is one
// (a node Duplex with node:http2's stream surface, for the callers that pipe); a plain object per
// stream is another, for the hot paths that need no stream machinery per request.
import type { H2Stream, HeadersKindValue } from './connection.ts';

export interface H2StreamHandler {
  /** A header block: the response or request head, a 1xx, or trailers (`kind`). */
  onHeaders(headers: string[], endStream: boolean, kind: HeadersKindValue): void;
  onData(data: Buffer, endStream: boolean): void;
  /** The stream was reset, by the peer or by us; `onClosed` has run just before. */
  onReset(code: number): void;
  /** The stream reached `closed`. */
  onClosed(): void;
  /** Send window or the codec's high-water mark opened again after sendData returned false. */
  onWritable(): void;
}

/**
 * A client stream waiting in H2Session's queue for the connection to open it (H2Session.open;
 * H2DuplexStream from request() is one too): the session calls `attach` once the stream's
 * HEADERS went, or `failOpen` when it never will (no stream id: the request was not delivered).
 */
export interface H2PendingStream extends H2StreamHandler {
  /** Abandoned before it was opened: the session skips it. */
  readonly destroyed: boolean;
  attach(stream: H2Stream): void;
  failOpen(err: Error): void;
}
