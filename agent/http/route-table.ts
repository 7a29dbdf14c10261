// HTTPRoute matching for one parent Service port (Gateway API v1 semantics). The routes attached
// to a Service are compiled once into one ordered list of (match, rule) pairs; a request takes the
// first pair that matches. The order is the spec's precedence:
//   1. Exact path before PathPrefix; 2. longer prefix first; 3. a method match first;
//   4. more header matches first; then the older route, then namespace/name, then rule order.
// PathPrefix matches whole path elements: "/api" matches "/api" and "/api/x", never "/apix".
import type { RouteMatch, RouteRecord, RouteRule } from '../../control/api/model.ts';
import { fieldValue } from '../http1/header-object.ts';

export interface CompiledMatch {
  route: RouteRecord;
  rule: RouteRule;
  ruleIndex: number;
  match: RouteMatch;
}

export interface RouteTable {
  readonly entries: readonly CompiledMatch[];
}

/**
 * Read-only header access: both node:http and node:http2 give lower-cased names. Or the agent's
 * HTTP/1 codec's header list (names lower case), read with node:http's rules (fieldValue).
 */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>> | readonly string[];

const CATCH_ALL: RouteMatch = { path: { type: 'PathPrefix', value: '/' } };

function pathLen(m: RouteMatch): number {
  return m.path?.value.length ?? 1;
}

function compare(a: CompiledMatch, b: CompiledMatch): number {
  const ae = a.match.path?.type === 'Exact' ? 1 : 0;
  const be = b.match.path?.type === 'Exact' ? 1 : 0;
  if (ae !== be) return be - ae;
  if (pathLen(a.match) !== pathLen(b.match)) return pathLen(b.match) - pathLen(a.match);
  const am = a.match.method === undefined ? 0 : 1;
  const bm = b.match.method === undefined ? 0 : 1;
  if (am !== bm) return bm - am;
  const ah = a.match.headers?.length ?? 0;
  const bh = b.match.headers?.length ?? 0;
  if (ah !== bh) return bh - ah;
  if (a.route.createdAt !== b.route.createdAt) return a.route.createdAt < b.route.createdAt ? -1 : 1;
  if (a.route.key !== b.route.key) return a.route.key < b.route.key ? -1 : 1;
  return a.ruleIndex - b.ruleIndex;
}

/** Compiles the routes attached to `service` (port `port`) into one precedence-ordered table. */
export function compileRoutes(routes: readonly RouteRecord[], service: string, port: number): RouteTable {
  const entries: CompiledMatch[] = [];
  for (const route of routes) {
    const attached = route.parents.some((p) => p.service === service && (p.port === undefined || p.port === port));
    if (!attached) continue;
    route.rules.forEach((rule, ruleIndex) => {
      const matches = rule.matches.length === 0 ? [CATCH_ALL] : rule.matches;
      for (const match of matches) entries.push({ route, rule, ruleIndex, match });
    });
  }
  entries.sort(compare);
  return { entries };
}

function pathMatches(m: RouteMatch['path'], path: string): boolean {
  if (m === undefined) return true;
  if (m.type === 'Exact') return path === m.value;
  const prefix = m.value.length > 1 && m.value.endsWith('/') ? m.value.slice(0, -1) : m.value;
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f;
}

function headerValue(h: HeaderBag, name: string): string | undefined {
  if (isHeaderList(h)) return fieldValue(h, name);
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function isHeaderList(h: HeaderBag): h is readonly string[] {
  return Array.isArray(h);
}

export function matchOne(m: RouteMatch, method: string, path: string, headers: HeaderBag): boolean {
  if (m.method !== undefined && m.method !== method) return false;
  if (!pathMatches(m.path, path)) return false;
  if (m.headers !== undefined) {
    for (const hm of m.headers) if (headerValue(headers, hm.name) !== hm.value) return false;
  }
  return true;
}

/** The path of a request target without its query ("/a/b?x=1" → "/a/b"). */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/** The first matching entry, or undefined (the request then goes to the parent Service itself). */
export function matchRoute(table: RouteTable, method: string, target: string, headers: HeaderBag): CompiledMatch | undefined {
  if (table.entries.length === 0) return undefined;
  const path = pathOf(target);
  for (const e of table.entries) if (matchOne(e.match, method, path, headers)) return e;
  return undefined;
}
