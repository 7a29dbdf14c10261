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
  const h: IncomingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) addField(h, raw[i].toLowerCase(), raw[i + 1]);
  return h;
}

/**
 * The value `name` (lower case) would have in headerObject(list) — `list` a head's fields with
 * lower-case names — without building the object: what a reader of one field of a head kept as a
 * list gets (route header matches). Set-Cookie's values joined with ",", as a reader of the
 * object's array would.
 */
export function fieldValue(list: readonly string[], name: string): string | undefined {
  let v: string | undefined = undefined;
  if (name === '__proto__') return undefined;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] !== name) continue;
    const x = list[i + 1];
    if (v === undefined) v = x;
    else if (name === 'set-cookie') v = `${v},${x}`;
    else if (FIRST_ONLY.has(name)) return v;
    else v = `${v}${name === 'cookie' ? '; ' : ', '}${x}`;
  }
  return v;
}

/** Adds one field (`name` lower-case) to `h` by the rules above; the pod-side response parser uses it too. */
export function addField(h: IncomingHttpHeaders, name: string, value: string): void {
  if (name === '__proto__') return;
  const prev = h[name];
  if (prev === undefined) {
    h[name] = name === 'set-cookie' ? [value] : value;
  } else if (name === 'set-cookie') {
    (prev as string[]).push(value);
  } else if (!FIRST_ONLY.has(name)) {
    h[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
}
