// How a response body is delimited on the app's connection (RFC 9112 §6.1–§6.3, §7.1): a pure
// function of the request and the response head, so each case is one table row
// (tests/agent/http1/response-framing.test.ts). The writer (agent/proxy/outbound-h1.ts) adds the
// framing field it implies (Transfer-Encoding: chunked, or Connection: close).

/** `none`: no body bytes at all; `length`: the Content-Length given; `chunked`; `close`: the end of the connection ends the body. */
export type ResponseFraming = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseFramingFacts {
  /** The request's method (HEAD: a response with no body, whatever its fields say). */
  method: string;
  /** The request's HTTP/1.<minor>: chunked is HTTP/1.1 only (§7). */
  minor: 0 | 1;
  status: number;
  /** Whether the response head carries a Content-Length. */
  contentLength: boolean;
}

export function responseFraming(f: ResponseFramingFacts): ResponseFraming {
  // §6.3 item 1: HEAD, 1xx, 204 and 304 responses end at the head; a Content-Length on them
  // describes the representation, not bytes that follow (RFC 9110 §8.6), and is kept as is.
  if (f.method === 'HEAD' || f.status < 200 || f.status === 204 || f.status === 304) return 'none';
  if (f.contentLength) return 'length';
  // Unknown length: chunked to an HTTP/1.1 client (trailers possible); an HTTP/1.0 client knows
  // no chunked, so the body ends with the connection (§6.3 item 8).
  return f.minor === 1 ? 'chunked' : 'close';
}
