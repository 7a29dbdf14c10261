// Byte classes of RFC 9110 / 9112 as 256-entry tables: the parser tests a byte with one indexed
// load instead of a regular expression over a decoded string, and never decodes what it refuses.

function table(accepts: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = accepts(b) ? 1 : 0;
  return t;
}

const isAlpha = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

/** tchar (RFC 9110 §5.6.2): method and field-name characters. */
export const TCHAR = table((b) => isAlpha(b) || isDigit(b) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b)));

/**
 * field-vchar, SP and HTAB (RFC 9110 §5.5): what a field value may hold. obs-text (0x80–0xff)
 * is kept as node:http keeps it; NUL, CR, LF, the other controls and DEL are refused.
 */
export const FIELD_VALUE = table((b) => b === 0x09 || (b >= 0x20 && b <= 0x7e) || b >= 0x80);

/** Request-target characters: visible ASCII (RFC 3986 plus what llhttp also lets through). */
export const TARGET = table((b) => b >= 0x21 && b <= 0x7e);

/** reg-name characters of a host (RFC 3986 §3.2.2: unreserved, sub-delims and '%' of pct-encoded). */
export const REG_NAME = table((b) => isAlpha(b) || isDigit(b) || "-._~!$&'()*+,;=%".includes(String.fromCharCode(b)));

/** What an IP-literal ("[...]") may hold: IPv6 hex digits, ':' and '.' (an embedded IPv4). */
export const IP_LITERAL = table((b) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66) || b === 0x3a || b === 0x2e);

/** qdtext (RFC 9110 §5.6.4): HTAB, SP, visible ASCII but '"' and '\\', obs-text. */
export const QDTEXT = table((b) => b === 0x09 || b === 0x20 || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80);

/** Hex digit values; 255 for anything else. */
export const HEX = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let b = 0; b < 256; b++) {
    if (isDigit(b)) t[b] = b - 0x30;
    else if (b >= 0x41 && b <= 0x46) t[b] = b - 0x41 + 10;
    else if (b >= 0x61 && b <= 0x66) t[b] = b - 0x61 + 10;
  }
  return t;
})();

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

/** Whether a whole string is a token (non-empty, every character tchar): the string form of TCHAR. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** Whether every character of a string may stand in a field value (FIELD_VALUE; nothing past U+00FF). */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return false;
  }
  return true;
}
