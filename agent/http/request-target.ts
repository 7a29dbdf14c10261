// The request target the L7 path routes, authorizes and forwards is always origin-form
// ("/path?query", RFC 9112 §3.2.1) or "*". An absolute-form target ("http://host/admin") is what a
// client sends a forward proxy; left as is, route and policy path rules (which compare against
// "/admin") would not see "/admin" while many app servers route it there — a policy bypass. So
// it is turned into origin-form, its authority becoming the request's (RFC 9112 §3.2.2: the
// target's authority wins over Host). Any other shape (authority-form outside CONNECT, a bare
// word) is refused.

export interface OriginTarget {
  /** Origin-form path and query, or "*". */
  path: string;
  /** The authority an absolute-form target carried; undefined for origin-form. */
  authority?: string;
}

const ABSOLUTE = /^https?:\/\/([^/?#\s]+)([^#\s]*)$/i;
// No controls, spaces or fragments: llhttp refuses them on HTTP/1, but an HTTP/2 :path is a
// header value and reaches us unchecked.
const ORIGIN = /^\/[^\s#\x00-\x1f\x7f]*$/;

/** Whether `target` is already a clean origin-form target (nothing to rewrite). */
export function isOriginForm(target: string): boolean {
  return ORIGIN.test(target);
}

/** The origin-form of `target`, or null when it cannot be one. */
export function originForm(target: string): OriginTarget | null {
  if (target === '*') return { path: '*' };
  if (target.charCodeAt(0) === 0x2f) return ORIGIN.test(target) ? { path: target } : null;
  const m = ABSOLUTE.exec(target);
  if (m === null) return null;
  const authority = m[1];
  // userinfo ("http://user@host/") is deprecated and a classic way to confuse host parsers.
  if (authority.includes('@')) return null;
  const rest = m[2] === '' ? '/' : m[2];
  if (rest.charCodeAt(0) === 0x3f) return ORIGIN.test(`/${rest}`) ? { path: `/${rest}`, authority } : null; // "http://h?x" → "/?x"
  return ORIGIN.test(rest) ? { path: rest, authority } : null;
}
