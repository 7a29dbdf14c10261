// Whether a Host field value or a CONNECT target is an authority this path will carry:
// `uri-host [":" port]` (RFC 9112 §3.2, §3.2.3; RFC 3986 §3.2.2–3.2.3). RFC 9112 §3.2 makes an
// invalid Host a 400, and a Host that parses one way here and another way at the next hop is how
// routing and policy get confused; userinfo ("u@h") is never part of it.
import { HEX, IP_LITERAL, REG_NAME } from './chars.ts';

/**
 * Whether `s` is `uri-host [":" port]`; with `needPort` (CONNECT's authority-form) the host is
 * non-empty and the port is 1–5 digits. An empty Host is allowed (RFC 9112 §3.2: a target without
 * an authority is sent with an empty Host).
 */
export function isAuthority(s: string, needPort: boolean): boolean {
  const n = s.length;
  let i = 0;
  if (n > 0 && s.charCodeAt(0) === 0x5b) {
    // IP-literal: "[" hex, ":" and "." "]".
    const close = s.indexOf(']');
    if (close < 3) return false;
    for (i = 1; i < close; i++) if (IP_LITERAL[s.charCodeAt(i) & 0xff] !== 1 || s.charCodeAt(i) > 0xff) return false;
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x3a) break;
      if (c > 0xff || REG_NAME[c] !== 1) return false;
      // pct-encoded: "%" HEXDIG HEXDIG
      if (c === 0x25 && (i + 2 >= n || HEX[s.charCodeAt(i + 1) & 0xff] === 255 || HEX[s.charCodeAt(i + 2) & 0xff] === 255)) return false;
    }
  }
  const hostEnd = i;
  if (i === n) return !needPort;
  if (s.charCodeAt(i) !== 0x3a) return false;
  const digits = n - i - 1;
  if (needPort && (hostEnd === 0 || digits < 1 || digits > 5)) return false;
  for (i++; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
