// Deciding one connection (L4) or one HTTP request (L7) against a workload's compiled policy.
// Pure and O(rules): no allocation beyond parsing the source once per call.
//
// Order (docs/policy.md): mTLS STRICT refuses unauthenticated peers → DENY policies → ALLOW
// policies (if any select the workload, it is default-deny for everything they do not allow) →
// the MeshPolicy default (allow / deny / authenticated-only). AUDIT policies never change the
// outcome; the ones that match are listed so the caller logs and counts them.
//
// L4 and HTTP conditions: at connection level (opaque TCP) a rule's methods/paths/headers cannot
// be known. An ALLOW (or AUDIT) rule that needs them does not match — it cannot prove the traffic
// is what it allows — while a DENY rule that has them matches on its other conditions alone: both
// err towards refusing. HTTP traffic is decided per request instead, with every condition known —
// except what a CONNECT tunnel will carry: a CONNECT meets DENY rules as opaque TCP does.
import { parseSpiffeId } from '../../control/api/identity.ts';
import { cidrContains, matchIdentity, parseAddress, type ParsedAddress } from '../../control/api/policy-patterns.ts';
import { MatchPath, pathRuleMatches } from './path-match.ts';
import type { CompiledOperation, CompiledPolicy, CompiledSource, WorkloadPolicy } from './compile.ts';

/** How the connection reached the destination's agent. */
export type Transport = 'hbone' | 'local' | 'plaintext';

export interface ConnectionContext {
  /** Verified SPIFFE ID of the source (HBONE peer certificate, or the local source pod), or null for plaintext. */
  sourceIdentity: string | null;
  /** The source address this agent sees (the peer node's for HBONE; see docs/policy.md). */
  sourceAddress: string;
  /** Destination workload key (`namespace/name`). */
  destination: string;
  destinationIdentity: string;
  /** Destination (pod) port. */
  port: number;
  transport: Transport;
}

/** What an HTTP request adds for L7 rules. Header names lowercase, as Node delivers them. */
export interface HttpRequestAttributes {
  method: string;
  path: string;
  /** A header object (lower-case keys) or a header list (agent/http/header-list.ts); only presence is asked. */
  headers: Readonly<Record<string, unknown>> | readonly string[];
}

/** Whether the request has field `name`: the one presence test, for either form of its headers. */
function hasHeader(headers: HttpRequestAttributes['headers'], name: string): boolean {
  if (!Array.isArray(headers)) return (headers as Readonly<Record<string, unknown>>)[name] !== undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

export interface PolicyDecision {
  allowed: boolean;
  /** What decided: an AuthorizationPolicy or MeshPolicy key (`ns/name`), a comma list of the ALLOW policies none of which matched, or `weft:default`. */
  policy: string;
  reason: string;
  /** AUDIT policies that matched (logged and counted, never deciding). */
  audits: string[];
}

/**
 * The source as the rules see it. Its parsed forms are made on first use: most policies name
 * identities only, and parsing the SPIFFE ID and the address (a BigInt) for every request showed
 * in the destination agent's profile for nothing.
 */
class Source {
  readonly identity: string | null;
  readonly #address: string;
  #id: ReturnType<typeof parseSpiffeId> | undefined = undefined;
  #parsedAddress: ParsedAddress | null | undefined = undefined;

  constructor(ctx: ConnectionContext) {
    this.identity = ctx.sourceIdentity;
    this.#address = ctx.sourceAddress;
  }

  #spiffe(): ReturnType<typeof parseSpiffeId> {
    if (this.#id === undefined) this.#id = this.identity === null ? null : parseSpiffeId(this.identity);
    return this.#id;
  }

  get namespace(): string | null {
    return this.#spiffe()?.namespace ?? null;
  }

  get serviceAccount(): string | null {
    const id = this.#spiffe();
    return id === null ? null : `${id.namespace}/${id.serviceAccount}`;
  }

  get address(): ParsedAddress | null {
    if (this.#parsedAddress === undefined) this.#parsedAddress = parseAddress(this.#address);
    return this.#parsedAddress;
  }
}

function sourceMatches(s: CompiledSource, src: Source): boolean {
  if (s.unauthenticated !== null && s.unauthenticated !== (src.identity === null)) return false;
  if (s.identities !== null) {
    if (src.identity === null) return false;
    let hit = false;
    for (const p of s.identities) if (matchIdentity(p, src.identity)) { hit = true; break; }
    if (!hit) return false;
  }
  if (s.namespaces !== null && (src.namespace === null || !s.namespaces.has(src.namespace))) return false;
  if (s.serviceAccounts !== null && (src.serviceAccount === null || !s.serviceAccounts.has(src.serviceAccount))) return false;
  if (s.ipBlocks !== null) {
    const address = src.address;
    if (address === null) return false;
    let hit = false;
    for (const c of s.ipBlocks) if (cidrContains(c, address)) { hit = true; break; }
    if (!hit) return false;
  }
  return true;
}

function pathMatches(o: CompiledOperation, path: MatchPath): boolean {
  for (const m of o.paths ?? []) if (pathRuleMatches(m, path)) return true;
  return false;
}

/** `l4Lenient`: what an HTTP condition counts as when there is no request (see the file comment). */
function operationMatches(o: CompiledOperation, port: number, req: HttpRequestAttributes | undefined, path: MatchPath | undefined, l4Lenient: boolean): boolean {
  if (o.ports !== null && !o.ports.has(port)) return false;
  if (!o.http) return true;
  if (req === undefined || path === undefined) return l4Lenient;
  if (o.methods !== null && !o.methods.has(req.method.toUpperCase())) return false;
  if (o.paths !== null && !pathMatches(o, path)) return false;
  if (o.headers !== null) for (const h of o.headers) if (hasHeader(req.headers, h.name) !== h.present) return false;
  return true;
}

/** The index of the first matching rule, or -1. */
function firstMatch(p: CompiledPolicy, src: Source, port: number, req: HttpRequestAttributes | undefined, path: MatchPath | undefined): number {
  const lenient = p.action === 'DENY';
  for (let i = 0; i < p.rules.length; i++) {
    const r = p.rules[i];
    let from = r.from.length === 0;
    for (const s of r.from) if (sourceMatches(s, src)) { from = true; break; }
    if (!from) continue;
    let to = r.to.length === 0;
    for (const o of r.to) if (operationMatches(o, port, req, path, lenient)) { to = true; break; }
    if (to) return i;
  }
  return -1;
}

function isConnect(method: string): boolean {
  return method.length === 7 && method.toUpperCase() === 'CONNECT';
}

/** Decides a connection (req undefined) or one HTTP request on it. */
export function evaluate(wp: WorkloadPolicy, ctx: ConnectionContext, req?: HttpRequestAttributes): PolicyDecision {
  const src = new Source(ctx);
  const path = req === undefined ? undefined : new MatchPath(req.path);
  const audits: string[] = [];
  for (const p of wp.audit) if (firstMatch(p, src, ctx.port, req, path) >= 0) audits.push(p.key);
  if (src.identity === null && wp.mtls === 'STRICT') {
    return { allowed: false, policy: wp.mtlsFrom, reason: 'mTLS mode STRICT refuses plaintext from outside the mesh', audits };
  }
  // A CONNECT opens a tunnel whose requests no agent sees: DENY rules are matched as for opaque
  // TCP (their HTTP conditions count as met), so a DENY on /admin is not dodged by asking for
  // /admin inside it. ALLOW rules must match the CONNECT itself (e.g. methods: [CONNECT]).
  const tunnel = req !== undefined && isConnect(req.method);
  for (const p of wp.deny) {
    const i = tunnel ? firstMatch(p, src, ctx.port, undefined, undefined) : firstMatch(p, src, ctx.port, req, path);
    if (i >= 0) return { allowed: false, policy: p.key, reason: tunnel ? `DENY rule ${i} matched (a CONNECT tunnel is opaque: its HTTP conditions count as met)` : `DENY rule ${i} matched`, audits };
  }
  if (wp.allow.length > 0) {
    for (const p of wp.allow) {
      const i = firstMatch(p, src, ctx.port, req, path);
      if (i >= 0) return { allowed: true, policy: p.key, reason: `ALLOW rule ${i} matched`, audits };
    }
    return { allowed: false, policy: wp.allow.map((p) => p.key).join(','), reason: 'no ALLOW rule matched (ALLOW policies make the workload default-deny)', audits };
  }
  switch (wp.defaultInbound) {
    case 'allow':
      return { allowed: true, policy: wp.defaultInboundFrom, reason: 'default inbound policy allow', audits };
    case 'deny':
      return { allowed: false, policy: wp.defaultInboundFrom, reason: 'default inbound policy deny', audits };
    case 'authenticated-only':
      return src.identity === null
        ? { allowed: false, policy: wp.defaultInboundFrom, reason: 'default inbound policy authenticated-only refuses an unauthenticated peer', audits }
        : { allowed: true, policy: wp.defaultInboundFrom, reason: 'default inbound policy authenticated-only', audits };
  }
}
