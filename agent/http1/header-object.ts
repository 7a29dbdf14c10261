// The request's header object as node:http builds it (IncomingMessage#headers), from the parser's
// flat name/value list: lower-case names; a repeated field joined with ", " (RFC 9110 §5.3),
// Cookie with "; " (RFC 6265 §5.4), Set-Cookie kept as an array, and the fields node keeps once
// keeping their first value. Routing, policy and the forwarded head read this object on either
// engine (WEFT_L7_H1_ENGINE), so it must say what node's says.
import type { IncomingHttpHeaders } from 'node:http';

/** Fields node:http keeps the first of (its matchKnownFields list). */
const FIRST_ONLY: ReadonlySet<string> = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
]);

export function headerObject(raw: readonly string[]): IncomingHttpHeaders {
  const h: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    const had = h[name];
    if (had === undefined) {
      h[name] = name === 'set-cookie' ? [value] : value;
    } else if (name === 'set-cookie') {
      (had as string[]).push(value);
    } else if (!FIRST_ONLY.has(name)) {
      h[name] = `${had as string}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
  }
  return h as IncomingHttpHeaders;
}
