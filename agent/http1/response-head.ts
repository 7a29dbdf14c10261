// A response head written as raw bytes (RFC 9112 §4, §5): status line, field lines, empty line,
// and optionally a small body after it, in one Buffer so the answer goes out in one write. The
// Buffer comes from Buffer.allocUnsafe, which serves sizes under 4 KiB from node's shared 8 KiB
// pool: most heads cost a slice of a slab, not an allocation of their own.
//
// Field names and values reach this from other hops (a pod's answer, a peer agent's HTTP/2
// headers); one CR or LF in them would let that hop write a second response to the app (response
// splitting). So every name must be a token and every value field-vchar / SP / HTAB — checked
// here, on the one path every head takes, and refused whole: nothing is written.
import http from 'node:http';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { isFieldValue as isValue, isToken } from './chars.ts';

/** Field lines: flat name/value pairs as on the wire, or node's header object (an array value is one line each). */
export type ResponseFields = readonly string[] | Readonly<Record<string, string | number | readonly string[] | undefined>>;

/**
 * The bytes of `HTTP/1.1 <status> <reason>` and `fields`, then `body` (a string is UTF-8) when
 * given. Content-Length (or chunked) is the caller's to set: this writes what it is handed.
 * Throws WEFT_ERR_HTTP_RESPONSE_HEAD for a status outside 100–999 or a field that could split
 * the response.
 */
export function responseHead(status: number, fields: ResponseFields, body?: Buffer | string, reason?: string): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw invalid(`status ${status} is not three digits`);
  const phrase = reason ?? http.STATUS_CODES[status] ?? '';
  if (!isValue(phrase)) throw invalid(`reason phrase ${JSON.stringify(phrase.slice(0, 40))}`);
  let head = `HTTP/1.1 ${status} ${phrase}\r\n${fieldLines(fields)}`;
  head += '\r\n';
  // Every character was checked to be one byte (≤ 0xff): the string's length is its latin1 size.
  const bodyLength = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const out = Buffer.allocUnsafe(head.length + bodyLength);
  out.write(head, 0, 'latin1');
  if (typeof body === 'string') out.write(body, head.length, 'utf8');
  else if (body !== undefined) body.copy(out, head.length);
  return out;
}

/**
 * `fields` as field lines (each ending in CRLF), checked as responseHead checks them: also what a
 * chunked body's trailer section is made of (RFC 9112 §7.1.2). Throws WEFT_ERR_HTTP_RESPONSE_HEAD.
 */
export function fieldLines(fields: ResponseFields): string {
  let out = '';
  if (isFlat(fields)) {
    if (fields.length % 2 !== 0) throw invalid('field pairs of odd length');
    for (let i = 0; i < fields.length; i += 2) out += line(fields[i], fields[i + 1]);
  } else {
    for (const name of Object.keys(fields)) {
      const v = fields[name];
      if (v === undefined) continue;
      if (typeof v === 'string') out += line(name, v);
      else if (typeof v === 'number') out += line(name, String(v));
      else for (const each of v) out += line(name, each);
    }
  }
  return out;
}

function isFlat(f: ResponseFields): f is readonly string[] {
  return Array.isArray(f);
}

function line(name: string, value: string): string {
  if (!isToken(name)) throw invalid(`field name ${JSON.stringify(name.slice(0, 40))} is not a token`);
  if (!isValue(value)) throw invalid(`the value of ${name} holds a control character (CR, LF, NUL…) or a character past U+00FF`);
  return `${name}: ${value}\r\n`;
}

function invalid(what: string): WeftError {
  return new WeftError(ErrorCodes.HTTP_RESPONSE_HEAD, `response head not written: ${what}`);
}
