// The two pattern languages of authorization policy — SPIFFE ID patterns and CIDR blocks — parsed
// and matched in one place, because control must refuse what the agent could not compile and the
// agent must match exactly what control accepted. Pure: no I/O.
//
// SPIFFE patterns: `*` alone is any verified identity; otherwise `spiffe://` and `/`-separated
// segments, where a segment `*` matches exactly one segment, and a LAST segment `*` matches one or
// more (so `spiffe://cluster.local/ns/prod/*` is every service account of prod). Partial wildcards
// (`web-*`) are refused: they read like globs but would silently match more than intended.
import { isIPv4, isIPv6 } from 'node:net';

/** Where mesh-wide policy lives (AuthorizationPolicy without a target, MeshPolicy without a selector). */
export const ROOT_NAMESPACE = 'weft-system';

export interface IdentityPattern {
  /** The source text, for dumps and logs. */
  readonly text: string;
  /** null: matches any identity (`*`). */
  readonly segments: readonly string[] | null;
  /** The last segment was `*`: it matches the remaining one or more segments. */
  readonly tail: boolean;
}

const SEGMENT = /^[A-Za-z0-9._~-]+$/;
const PREFIX = 'spiffe://';

/** Parses a pattern; returns a reason string when it is not one. */
export function parseIdentityPattern(text: string): IdentityPattern | string {
  if (text === '*') return { text, segments: null, tail: false };
  if (!text.startsWith(PREFIX)) return `must start with ${PREFIX} (or be * for any identity)`;
  const parts = text.slice(PREFIX.length).split('/');
  if (parts.length < 2) return 'needs a trust domain and a path, e.g. spiffe://cluster.local/ns/prod/sa/web';
  for (let i = 0; i < parts.length; i++) {
    const s = parts[i];
    if (s === '') return `segment ${i + 1} is empty (doubled or trailing /)`;
    if (s === '*') continue;
    if (s.includes('*')) return `segment ${JSON.stringify(s)} mixes * with text; * must be a whole segment`;
    if (!SEGMENT.test(s)) return `segment ${JSON.stringify(s)} has characters a SPIFFE ID cannot contain`;
  }
  const tail = parts[parts.length - 1] === '*';
  return { text, segments: tail ? parts.slice(0, -1) : parts, tail };
}

/** Does `identity` (a verified SPIFFE ID) match? */
export function matchIdentity(p: IdentityPattern, identity: string): boolean {
  if (p.segments === null) return true;
  if (!identity.startsWith(PREFIX)) return false;
  const parts = identity.slice(PREFIX.length).split('/');
  const segs = p.segments;
  if (p.tail ? parts.length <= segs.length : parts.length !== segs.length) return false;
  for (let i = 0; i < segs.length; i++) {
    if (segs[i] !== '*' && segs[i] !== parts[i]) return false;
  }
  return true;
}

export interface Cidr {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
  /** Canonical text: `10.0.0.0/8`. */
  readonly text: string;
}

function v4ToBigint(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v6ToBigint(ip: string): bigint {
  let s = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4 !== null) {
    const n = v4ToBigint(v4[1]);
    s = `${s.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, rest] = s.split('::');
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function v4Text(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((n >> sh) & 0xffn)).join('.');
}

function v6Text(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952) so canonical text is what people write.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parses `a.b.c.d/n` or `x::/n` (a bare address is a host route); a reason string when invalid. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : 0;
  if (family === 0) return `${JSON.stringify(addr)} is not an IPv4 or IPv6 address`;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return `prefix length ${JSON.stringify(p)} must be 0–${bits}`;
    prefix = Number(p);
  }
  const value = family === 4 ? v4ToBigint(addr) : v6ToBigint(addr);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const base = value & ~hostMask;
    return `${text} has host bits set; did you mean ${family === 4 ? v4Text(base) : v6Text(base)}/${prefix}?`;
  }
  return { family, base: value, prefix, text: `${family === 4 ? v4Text(value) : v6Text(value)}/${prefix}` };
}

/** A connection's source address, parsed once and matched against many blocks. */
export interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
}

export function parseAddress(ip: string): ParsedAddress | null {
  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d: match them as the IPv4 they are.
  const plain = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (isIPv4(plain)) return { family: 4, value: v4ToBigint(plain) };
  if (isIPv6(plain)) return { family: 6, value: v6ToBigint(plain) };
  return null;
}

export function cidrContains(c: Cidr, a: ParsedAddress): boolean {
  if (c.family !== a.family) return false;
  const shift = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
  return a.value >> shift === c.base >> shift;
}
