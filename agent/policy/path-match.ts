// How a policy path rule meets a request path. The path has already been normalised
// (common/path-normalize.ts: the mesh's mode); what is left here is what app servers still
// read differently among themselves, resolved towards the reading that makes a rule match:
//   - the query is not part of the path a rule names;
//   - path parameters (";jsessionid=…" after a segment) are stripped from every segment, as
//     Tomcat, Jetty and Spring do before routing: "/admin;x" is "/admin" to them;
//   - an exact rule also matches the path with one trailing "/" ("/admin/"), which Express,
//     Spring and many others route like "/admin".
// So a DENY on exact "/admin" refuses "/admin/" and "/admin;x", and an ALLOW on it admits them: the
// app serves them as "/admin" or not at all. Paths are case-sensitive (RFC 3986 §6.2.2.1); a rule
// with `ignoreCase` compares both sides lower-cased (ASCII), for apps on case-insensitive stores.
import type { PolicyPathMatch } from '../../control/api/model.ts';

/** The request path as rules see it: no query, no segment parameters. Allocates only when there is a ";". */
export function policyPath(target: string): string {
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  if (p.indexOf(';') < 0) return p;
  let out = '';
  let skip = false;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 0x2f) skip = false;
    else if (c === 0x3b) skip = true;
    if (!skip) out += p[i];
  }
  return out;
}

/** A request's path for matching: as is, and lower-cased on first use by an ignoreCase rule. */
export class MatchPath {
  readonly path: string;
  #lower: string | undefined = undefined;
  constructor(target: string) {
    this.path = policyPath(target);
  }
  get lower(): string {
    return (this.#lower ??= this.path.toLowerCase());
  }
}

/** The rule as compiled: an ignoreCase rule's value is lower-cased once. */
export function compilePathMatch(m: PolicyPathMatch): PolicyPathMatch {
  return m.ignoreCase === true ? { type: m.type, value: m.value.toLowerCase(), ignoreCase: true } : m;
}

/** Whether one compiled rule matches the path. */
export function pathRuleMatches(m: PolicyPathMatch, p: MatchPath): boolean {
  const path = m.ignoreCase === true ? p.lower : p.path;
  const v = m.value;
  if (m.type === 'prefix') return path.startsWith(v);
  if (path === v) return true;
  // One trailing slash: "/admin/" is "/admin" to most routers.
  return path.length === v.length + 1 && path.charCodeAt(v.length) === 0x2f && path.startsWith(v) && v.charCodeAt(v.length - 1) !== 0x2f;
}
