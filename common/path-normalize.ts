// Path normalisation: the one place a request path is put in the form policy, routing and the app
// all see. A DENY on "/admin" means nothing if "//admin", "/%61dmin", "/./admin" or "/x/../admin"
// reach an app server that treats them as "/admin" (most do: nginx merges slashes, every server
// resolves dot segments, decodes %61). So the agent rewrites the path once, before routing and
// policy, and forwards the rewritten one: what was authorized is what the app gets.
//
// The modes are Istio's (meshConfig.pathNormalization), each one adding to the one before:
//   none                      the path as received (no protection; for apps that need raw paths)
//   base                      RFC 3986 §6.2.2: percent-encoded unreserved characters decoded
//                             (%61 → a, %2E → .), other escapes upper-cased (%c3 → %C3), then dot
//                             segments removed (§5.2.4: "/a/./b/../c" → "/a/c")
//   merge-slashes (default)   base, and runs of slashes merged first ("//a///b" → "/a/b")
//   decode-and-merge-slashes  merge-slashes, and %2F, %5C and a backslash taken as "/" (what
//                             a server that decodes them sees)
// Below decode-and-merge-slashes, what cannot be given one meaning is refused instead: an encoded
// slash or backslash (one server splits on it, another does not), a raw backslash (Windows and
// some Java servers read it as "/"), and in every mode but none an encoded NUL (C servers cut
// the path there), an overlong UTF-8 escape (%C0%AF is "/" to a lax decoder), a "%" that is no
// escape, and a dot segment with parameters ("..;" is ".." to Tomcat).
//
// Only the path is rewritten; the query is passed on as received. "*" (OPTIONS) is left alone.
// Pure; the common clean path costs one scan and no allocation.

export type PathNormalization = 'none' | 'base' | 'merge-slashes' | 'decode-and-merge-slashes';
export const PATH_NORMALIZATIONS: readonly PathNormalization[] = ['none', 'base', 'merge-slashes', 'decode-and-merge-slashes'];
export const DEFAULT_PATH_NORMALIZATION: PathNormalization = 'merge-slashes';

/** Why a path was refused; each is counted as `weft_rejected_input_total{reason="http_path_<refusal>"}`. */
export type PathRefusal = 'encoded_slash' | 'encoded_backslash' | 'backslash' | 'nul' | 'bad_escape' | 'overlong_utf8' | 'dot_segment_params';

export interface PathRefused {
  readonly refused: PathRefusal;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;

const REFUSED: { [K in PathRefusal]: PathRefused } = {
  encoded_slash: { refused: 'encoded_slash' },
  encoded_backslash: { refused: 'encoded_backslash' },
  backslash: { refused: 'backslash' },
  nul: { refused: 'nul' },
  bad_escape: { refused: 'bad_escape' },
  overlong_utf8: { refused: 'overlong_utf8' },
  dot_segment_params: { refused: 'dot_segment_params' },
};

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** The byte a "%XX" at `i` encodes, or -1 when there is no valid escape there. */
function escapeAt(s: string, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const h = hexValue(s.charCodeAt(i + 1));
  const l = hexValue(s.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === DOT || b === 0x5f || b === 0x7e;
}

const HEX = '0123456789ABCDEF';

/** Whether the path part `[0, end)` needs the slow path: an escape, a backslash, a dot segment, a ";" after a dot, or (merging) "//". */
function needsWork(s: string, end: number, merge: boolean): boolean {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH || c === 0) return true;
    if (c !== SLASH) continue;
    const n = i + 1 < end ? s.charCodeAt(i + 1) : -1;
    if (n === SLASH && merge) return true;
    if (n === DOT) {
      // "/." or "/.." as a whole segment (or followed by parameters).
      let j = i + 2;
      if (j < end && s.charCodeAt(j) === DOT) j++;
      if (j >= end) return true;
      const after = s.charCodeAt(j);
      if (after === SLASH || after === SEMICOLON) return true;
    }
  }
  return false;
}

/** Decodes what may be decoded and refuses what is ambiguous; merges slashes when asked. */
function decode(s: string, end: number, mode: PathNormalization): string | PathRefused {
  const decodeSlashes = mode === 'decode-and-merge-slashes';
  const merge = mode !== 'base';
  let out = '';
  for (let i = 0; i < end; i++) {
    let c = s.charCodeAt(i);
    if (c === PERCENT) {
      const b = escapeAt(s, i, end);
      if (b < 0) return REFUSED.bad_escape;
      if (b === 0) return REFUSED.nul;
      // Overlong forms: C0/C1 lead bytes encode ASCII in two bytes; E0 80–9F and F0 80–8F too many.
      if (b === 0xc0 || b === 0xc1) return REFUSED.overlong_utf8;
      if (b === 0xe0 || b === 0xf0) {
        const next = s.charCodeAt(i + 3) === PERCENT ? escapeAt(s, i + 3, end) : -1;
        if (next >= 0x80 && next <= (b === 0xe0 ? 0x9f : 0x8f)) return REFUSED.overlong_utf8;
      }
      i += 2;
      if (b === SLASH || b === BACKSLASH) {
        if (!decodeSlashes) return b === SLASH ? REFUSED.encoded_slash : REFUSED.encoded_backslash;
        c = SLASH;
      } else if (isUnreserved(b)) {
        out += String.fromCharCode(b);
        continue;
      } else {
        out += '%' + HEX[b >> 4] + HEX[b & 15];
        continue;
      }
    } else if (c === BACKSLASH) {
      if (!decodeSlashes) return REFUSED.backslash;
      c = SLASH;
    } else if (c === 0) {
      return REFUSED.nul;
    }
    if (c === SLASH && merge && out.charCodeAt(out.length - 1) === SLASH) continue;
    out += String.fromCharCode(c);
  }
  return out;
}

/**
 * RFC 3986 §5.2.4 remove_dot_segments for an absolute path, segment by segment: "." is dropped,
 * ".." drops the segment before it, and either one last leaves a trailing "/". A "." or ".."
 * segment with parameters (";x") is refused: Tomcat and others strip parameters first.
 */
function removeDotSegments(p: string): string | PathRefused {
  const segs = p.split('/');
  const out: string[] = [];
  const last = segs.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = segs[i];
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (i === last) out.push('');
      continue;
    }
    const semi = seg.indexOf(';');
    if (semi >= 0) {
      const bare = seg.slice(0, semi);
      if (bare === '.' || bare === '..') return REFUSED.dot_segment_params;
    }
    out.push(seg);
  }
  return '/' + out.join('/');
}

/**
 * The normalised form of an origin-form target ("/path?query") under `mode`, or why it was
 * refused. The query is kept as received; "*" and anything not starting with "/" are returned
 * unchanged (the caller has already refused what is no origin-form target).
 */
export function normalizePath(target: string, mode: PathNormalization): string | PathRefused {
  if (mode === 'none' || target.charCodeAt(0) !== SLASH) return target;
  const q = target.indexOf('?');
  const end = q < 0 ? target.length : q;
  if (!needsWork(target, end, mode !== 'base')) return target;
  const decoded = decode(target, end, mode);
  if (typeof decoded !== 'string') return decoded;
  const path = removeDotSegments(decoded);
  if (typeof path !== 'string') return path;
  return q < 0 ? path : path + target.slice(q);
}

/** Whether `r` is a refusal (rather than the normalised target). */
export function isRefused(r: string | PathRefused): r is PathRefused {
  return typeof r !== 'string';
}
