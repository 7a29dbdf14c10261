// Header lists (the codec's flat [name, value, …] arrays) to and from the header objects the
// agent's L7 stages were written against (node:http2's IncomingHttpHeaders / OutgoingHttpHeaders),
// so both engines hand the stages the same shape. Pure functions, table-tested.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

/**
 * A received list as an object, the way node:http2 builds one: names as they came (HTTP/2 names are
 * lowercase), repeated `set-cookie` kept as an array, repeated `cookie` joined with "; " (RFC 9113
 * §8.2.3), other repeats joined with ", " (RFC 9110 §5.3). `:status` becomes a number.
 */
export function headersToObject(list: readonly string[]): IncomingHttpHeaders {
  const o: Record<string, string | string[] | number> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    const value = list[i + 1];
    const prev = o[name];
    if (prev === undefined) {
      if (name === 'set-cookie') o[name] = [value];
      else if (name === ':status') o[name] = Number(value);
      else o[name] = value;
    } else if (Array.isArray(prev)) prev.push(value);
    else if (name === 'cookie') o[name] = `${prev as string}; ${value}`;
    else if (name[0] !== ':') o[name] = `${prev as string}, ${value}`;
    // A repeated pseudo-header is refused by the codec before this; the first would win.
  }
  return o as IncomingHttpHeaders;
}

/**
 * What headersToObject(list)[name] would be, for a regular field other than Cookie and Set-Cookie
 * (repeats joined with ", "), without making the object.
 */
export function joinedValue(list: readonly string[], name: string): string | undefined {
  let v: string | undefined = undefined;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === name) v = v === undefined ? list[i + 1] : `${v}, ${list[i + 1]}`;
  }
  return v;
}

/**
 * An object to send as a list: pseudo-headers first (RFC 9113 §8.3), names lowercased, arrays as
 * repeated fields, numbers as decimal; undefined values skipped.
 */
export function objectToHeaders(o: OutgoingHttpHeaders): string[] {
  const pseudo: string[] = [];
  const regular: string[] = [];
  for (const key in o) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    const name = key.toLowerCase();
    const out = name.charCodeAt(0) === 58 /* ':' */ ? pseudo : regular;
    if (Array.isArray(v)) for (const one of v) out.push(name, String(one));
    else out.push(name, String(v));
  }
  for (let i = 0; i < regular.length; i++) pseudo.push(regular[i]);
  return pseudo;
}
