// Whether a server's RST_STREAM ends a response rather than failing it. RFC 9113 §8.1 lets a
// server that has sent its complete response decline the rest of the request with
// RST_STREAM(NO_ERROR); node:http2's server (nghttp2) also does so when its body is written but the
// empty END_STREAM DATA frame is still waiting for flow-control window (§6.9.1 says such a frame
// MAY be sent into a zero window; nghttp2 does not send it), i.e. whenever a body ends exactly as
// the client's stream window does. node:http2's client takes RST_STREAM(NO_ERROR) after the head as
// the end of the body; the codec's client (h2-stream-attempt.ts) does the same, except when the
// head announced a content-length the DATA fell short of: that body was cut, a delivered failure.

import { H2Code } from './constants.ts';

/**
 * `responded`: a final response head arrived; `contentLength`: what it announced (-1: none);
 * `received`: DATA content octets received on the stream.
 */
export function resetEndsResponse(code: number, responded: boolean, contentLength: number, received: number): boolean {
  if (code !== H2Code.NO_ERROR || !responded) return false;
  return contentLength < 0 || received === contentLength;
}

/** A response head's content-length as a number; -1 when absent or not one non-negative integer. */
export function announcedLength(value: string | string[] | undefined): number {
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return -1;
  return Number(value);
}
