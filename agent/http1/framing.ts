// How a request's body is delimited, decided once the header section is read (RFC 9112 §6.3 for
// requests): a pure function of what the header lines said, so each smuggling rule is one table
// row in tests/agent/http1/framing.test.ts. Per-field faults (a non-digit or second
// Content-Length) are found as the line is read; what needs the whole section is decided here.
import type { H1Rule } from './parse-error.ts';

export interface FramingFacts {
  /** HTTP/1.<minor>. */
  minor: 0 | 1;
  connect: boolean;
  /** The one Content-Length's value; -1 when there was none. */
  contentLength: number;
  /** Transfer-Encoding field lines seen. */
  teFields: number;
  /** Whether every Transfer-Encoding line was exactly `chunked` (any case, OWS trimmed). */
  teChunkedOnly: boolean;
}

/** Body length: -1 chunked, 0 none, n > 0 bytes. */
export type Framing = number;

export const CHUNKED: Framing = -1;

export function decideFraming(f: FramingFacts): Framing | H1Rule {
  if (f.teFields > 0) {
    // §6.1 / §6.3 item 3: both is the request-smuggling signature; refused, never guessed.
    if (f.contentLength >= 0) return 'te_and_cl';
    // §6.1: an HTTP/1.0 recipient cannot know chunked; MUST treat the framing as faulty.
    if (f.minor === 0) return 'te_http10';
    // RFC 9110 §9.3.6: CONNECT has no content; what follows its head is the tunnel.
    if (f.connect) return 'connect_body';
    // §6.3 item 4: chunked must be the final coding; and this path decodes no other coding,
    // nor chunked twice (llhttp refuses that too).
    if (f.teFields !== 1 || !f.teChunkedOnly) return 'te_not_chunked';
    return CHUNKED;
  }
  if (f.contentLength > 0 && f.connect) return 'connect_body';
  return f.contentLength > 0 ? f.contentLength : 0;
}
