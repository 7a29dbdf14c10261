// Which trailer fields cross the mesh, both ways: one rule for requests and responses. A request's
// trailer section (HTTP/1.1: the chunked body's trailer section, RFC 9112 §7.1.2; HTTP/2: a
// HEADERS frame with END_STREAM after the body, RFC 9113 §8.1) travels app → source agent →
// HTTP/2 hop (trailing HEADERS) → destination agent → pod (chunked trailer section, or trailing
// HEADERS to an HTTP/2 pod), and a response's back the other way (a gRPC status, a checksum); each
// is checked here on both agents (the sender's before its hop, the receiver's before its app or
// pod: a peer is trusted with identity, not with framing). Until 2026-12-07 response trailers
// went through the header section's hop-by-hop rule instead (agent/http/headers.ts), so a pod's
// trailer could carry `weft-error`, `content-length` or `set-cookie` to the app; the same check
// written twice had drifted.
//
// The rule (RFC 9110 §6.5.1: "many fields cannot be processed outside the header section
// because their evaluation is necessary prior to receiving the content"; a sender must not
// generate a trailer field whose definition does not permit it, and §6.5.2 forbids merging a
// trailer into the header section, so a trailer is only ever forwarded as a trailer). Dropped:
//   - pseudo-header fields (RFC 9113 §8.1: never in trailers);
//   - hop-by-hop and connection fields (RFC 9110 §7.6.1; RFC 9113 §8.2.2): connection,
//     keep-alive, proxy-connection, upgrade, te, http2-settings;
//   - message framing: content-length, transfer-encoding (RFC 9112 §7.1.2; the HTTP/1 parser
//     already refuses these in a trailer section, 400);
//   - routing: host, and the mesh's own hop fields (weft-target, weft-proto, weft-retry-attempt,
//     weft-timeout, weft-error: a trailer must never steer or mislabel the hop);
//   - request modifiers, controls and conditionals: cache-control, expect, max-forwards, pragma,
//     range, if-match, if-none-match, if-modified-since, if-unmodified-since, if-range;
//   - authentication and session state: authorization, proxy-authorization, cookie, and their
//     response twins www-authenticate, proxy-authenticate, set-cookie;
//   - how to process the content: content-encoding, content-type, content-range, trailer.
// Everything else passes unchanged (a checksum, a signature, grpc-* fields). The section's size
// and field count are bounded where it is parsed (agent/http1/request-parser.ts: the header
// limits, 431; agent/h2: SETTINGS_MAX_HEADER_LIST_SIZE); nothing here grows them.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const NEVER_TRAILER: ReadonlySet<string> = new Set([
  // hop-by-hop
  'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'http2-settings',
  // framing
  'content-length', 'transfer-encoding',
  // routing, and the hop's own fields (agent/http/headers.ts)
  'host', 'weft-target', 'weft-proto', 'weft-retry-attempt', 'weft-timeout', 'weft-error',
  // request modifiers: controls and conditionals
  'cache-control', 'expect', 'max-forwards', 'pragma', 'range',
  'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range',
  // authentication, session state
  'authorization', 'proxy-authorization', 'cookie', 'www-authenticate', 'proxy-authenticate', 'set-cookie',
  // content processing
  'content-encoding', 'content-type', 'content-range', 'trailer',
]);

/** Whether `name` (lower-case) may be forwarded as a trailer field (request or response). */
export function mayForwardTrailer(name: string): boolean {
  return name.charCodeAt(0) !== 0x3a /* ':' */ && !NEVER_TRAILER.has(name);
}

/** What forwarding a trailer section did: the fields to send (undefined: none), and how many were dropped by the rule. */
export interface TrailerVerdict {
  readonly forward: OutgoingHttpHeaders | undefined;
  readonly dropped: number;
}

const NONE: TrailerVerdict = { forward: undefined, dropped: 0 };

/**
 * The trailer fields of a message to forward, as an object (node:http's addTrailers, the
 * exchange's response). An empty (or absent) section costs nothing: no object is made. Names are
 * lower-case already (both parsers lower-case them).
 */
export function trailerFields(t: IncomingHttpHeaders | undefined): TrailerVerdict {
  if (t === undefined) return NONE;
  let out: OutgoingHttpHeaders | undefined;
  let dropped = 0;
  for (const k in t) {
    const v = t[k];
    if (v === undefined) continue;
    if (!mayForwardTrailer(k)) {
      dropped++;
      continue;
    }
    (out ??= {})[k] = v;
  }
  return dropped === 0 && out === undefined ? NONE : { forward: out, dropped };
}

/**
 * The same rule appending to an HTTP/2 header list (the codec's trailing HEADERS), with no object
 * in between; returns how many fields were dropped.
 */
export function appendTrailerFields(list: string[], t: IncomingHttpHeaders): number {
  let dropped = 0;
  for (const k in t) {
    const v = t[k];
    if (v === undefined) continue;
    if (!mayForwardTrailer(k)) {
      dropped++;
      continue;
    }
    if (typeof v === 'string') list.push(k, v);
    else for (const one of v) list.push(k, one);
  }
  return dropped;
}
