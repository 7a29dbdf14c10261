// HTTP/2 field and message rules (RFC 9113 §8.2, §8.3): what makes a decoded header list
// malformed — a stream error PROTOCOL_ERROR (§8.1.1). Pure functions over the flat
// [name, value, …] list; they return the reason, or null when the list is well-formed.

/**
 * §8.2.2's connection-specific fields: connection, proxy-connection, keep-alive,
 * transfer-encoding, upgrade. By length first: this runs on every field of every HEADERS frame,
 * and most names are rejected on their length alone, with no hashing of a fresh string.
 */
function isConnectionSpecific(name: string): boolean {
  switch (name.length) {
    case 7: return name === 'upgrade';
    case 10: return name === 'connection' || name === 'keep-alive';
    case 16: return name === 'proxy-connection';
    case 17: return name === 'transfer-encoding';
    default: return false;
  }
}
/** §8.2.1: a name with no upper case, no 0x00–0x20, 0x7f–0xff; a value with no NUL/CR/LF and no leading/trailing space or tab. */
export function fieldError(name: string, value: string): string | null {
  if (name.length === 0) return 'empty field name';
  for (let i = name[0] === ':' ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) return `field name ${JSON.stringify(name)} has a forbidden character`;
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return `field ${name} has NUL, CR or LF in its value`;
  }
  if (value.length > 0) {
    const a = value.charCodeAt(0);
    const z = value.charCodeAt(value.length - 1);
    if (a === 0x20 || a === 0x09 || z === 0x20 || z === 0x09) return `field ${name} has leading or trailing whitespace`;
  }
  if (isConnectionSpecific(name)) return `connection-specific field ${name}`;
  if (name === 'te' && value !== 'trailers') return 'te other than "trailers"';
  return null;
}

// The pseudo-headers as bits: which ones a list has is one small integer, not a Set per list
// (this runs on every HEADERS frame the agent receives).
const METHOD = 1;
const SCHEME = 2;
const AUTHORITY_BIT = 4;
const PATH = 8;
const STATUS = 16;
function pseudoBit(name: string): number {
  switch (name) {
    case ':method': return METHOD;
    case ':scheme': return SCHEME;
    case ':authority': return AUTHORITY_BIT;
    case ':path': return PATH;
    case ':status': return STATUS;
    default: return 0;
  }
}
// No ':protocol': extended CONNECT (RFC 8441) needs SETTINGS_ENABLE_CONNECT_PROTOCOL, which we do not announce.
const REQUEST_PSEUDO = METHOD | SCHEME | AUTHORITY_BIT | PATH;
const RESPONSE_PSEUDO = STATUS;

/**
 * Pseudo-headers first, each once; regular fields valid. `allowed` says which pseudo-headers may
 * appear (bits; 0: none, trailers). Returns the bits of the pseudo-headers seen, or the reason.
 */
function common(h: readonly string[], allowed: number): number | string {
  let regular = false;
  let seen = 0;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    const bad = fieldError(name, h[i + 1]);
    if (bad !== null) return bad;
    if (name.charCodeAt(0) === 0x3a) {
      if (allowed === 0) return `pseudo-header ${name} in trailers`;
      if (regular) return `pseudo-header ${name} after a regular field`;
      const bit = pseudoBit(name) & allowed;
      if (bit === 0) return `unknown pseudo-header ${name}`;
      if ((seen & bit) !== 0) return `duplicate ${name}`;
      seen |= bit;
    } else regular = true;
  }
  return seen;
}

/** A request's header list (§8.3.1): :method, and :scheme + :path (non-empty) unless CONNECT, which has :authority and neither. */
export function requestHeadersError(h: readonly string[]): string | null {
  const seen = common(h, REQUEST_PSEUDO);
  if (typeof seen === 'string') return seen;
  if ((seen & METHOD) === 0) return 'no :method';
  const method = valueOf(h, ':method');
  const authority = (seen & AUTHORITY_BIT) === 0 ? undefined : valueOf(h, ':authority');
  if (authority !== undefined && !AUTHORITY.test(authority)) return 'malformed :authority';
  if (method === 'CONNECT') {
    if ((seen & (SCHEME | PATH)) !== 0) return 'CONNECT with :scheme or :path';
    if ((seen & AUTHORITY_BIT) === 0) return 'CONNECT without :authority';
    return null;
  }
  if ((seen & SCHEME) === 0) return 'no :scheme';
  const path = valueOf(h, ':path');
  if (path === undefined || path === '') return 'no :path';
  if (!pathOk(path, method, valueOf(h, ':scheme'))) return 'malformed :path';
  return null;
}

// §8.3.1: :authority is the URI's authority without userinfo (RFC 3986 §3.2: host as reg-name,
// IPv4 or [IPv6], and an optional port), so no '@', no space, no control octet.
const AUTHORITY = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]+$/;

/**
 * §8.3.1: for http and https, :path is origin-form (starts with "/"), or "*" for OPTIONS; anything
 * else (absolute-form, a bare word) is malformed. Never a space or control octet (RFC 3986).
 */
function pathOk(path: string, method: string | undefined, scheme: string | undefined): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  if (scheme !== 'http' && scheme !== 'https') return true;
  return path.charCodeAt(0) === 0x2f /* '/' */ || (path === '*' && method === 'OPTIONS');
}

/** A response's header list (§8.3.2): exactly one :status, three digits. */
export function responseHeadersError(h: readonly string[]): string | null {
  const seen = common(h, RESPONSE_PSEUDO);
  if (typeof seen === 'string') return seen;
  const status = valueOf(h, ':status');
  if (status === undefined || !/^[1-9][0-9][0-9]$/.test(status)) return 'no valid :status';
  return null;
}

/** Trailers (§8.1): no pseudo-headers. */
export function trailersError(h: readonly string[]): string | null {
  const seen = common(h, 0);
  return typeof seen === 'string' ? seen : null;
}

export function valueOf(h: readonly string[], name: string): string | undefined {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

/** content-length as a number (§8.1.1: must match the DATA total), -1 if absent, -2 if malformed or conflicting. */
export function contentLength(h: readonly string[]): number {
  let n = -1;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'content-length') continue;
    const v = h[i + 1];
    if (!/^[0-9]{1,15}$/.test(v)) return -2;
    const x = Number(v);
    if (n !== -1 && n !== x) return -2;
    n = x;
  }
  return n;
}
