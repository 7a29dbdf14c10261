// Policies → what one workload gets, precompiled when the state changes so that deciding a
// connection is O(rules) with no parsing: identity patterns split, CIDRs as bigints, lists as sets.
// Pure: the records and a Service lookup in, a WorkloadPolicy out.
import type { DefaultInbound, LabelRequirement, MeshPolicyRecord, PolicyHeaderMatch, MtlsMode, PolicyAction, PolicyOperation, PolicyPathMatch, PolicyRecord, PolicySource, ServiceRecord, WorkloadRecord } from '../../control/api/model.ts';
import { compilePathMatch } from './path-match.ts';
import { parseCidr, parseIdentityPattern, type Cidr, type IdentityPattern } from '../../control/api/policy-patterns.ts';

/** Where a setting came from when no MeshPolicy sets it. */
export const MESH_DEFAULT = 'weft:default';
export const DEFAULT_MTLS: MtlsMode = 'PERMISSIVE';
export const DEFAULT_INBOUND: DefaultInbound = 'allow';

export interface CompiledSource {
  identities: IdentityPattern[] | null;
  namespaces: ReadonlySet<string> | null;
  /** `ns/sa` */
  serviceAccounts: ReadonlySet<string> | null;
  ipBlocks: Cidr[] | null;
  unauthenticated: boolean | null;
}

export interface CompiledOperation {
  ports: ReadonlySet<number> | null;
  methods: ReadonlySet<string> | null;
  paths: readonly PolicyPathMatch[] | null;
  headers: readonly PolicyHeaderMatch[] | null;
  /** Has a condition only an HTTP request can answer (methods, paths, headers). */
  http: boolean;
}

export interface CompiledRule {
  /** Empty: any source. */
  from: CompiledSource[];
  /** Empty: any operation. */
  to: CompiledOperation[];
}

export interface CompiledPolicy {
  key: string;
  action: PolicyAction;
  rules: CompiledRule[];
}

export interface WorkloadPolicy {
  workload: string;
  mtls: MtlsMode;
  /** The MeshPolicy key that set the mode, or MESH_DEFAULT. */
  mtlsFrom: string;
  defaultInbound: DefaultInbound;
  defaultInboundFrom: string;
  deny: CompiledPolicy[];
  allow: CompiledPolicy[];
  audit: CompiledPolicy[];
}

export type ServiceLookup = (key: string) => ServiceRecord | undefined;

function labelsMatch(want: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k in want) if (labels[k] !== want[k]) return false;
  return true;
}

function requirementsMatch(reqs: readonly LabelRequirement[] | undefined, labels: Record<string, string>): boolean {
  for (const r of reqs ?? []) {
    const has = Object.hasOwn(labels, r.key);
    switch (r.operator) {
      case 'In': if (!has || !r.values.includes(labels[r.key])) return false; break;
      case 'NotIn': if (has && r.values.includes(labels[r.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

/** Does the AuthorizationPolicy select this workload? */
export function policySelects(p: PolicyRecord, w: WorkloadRecord, services: ServiceLookup): boolean {
  if (!p.meshWide && p.namespace !== w.namespace) return false;
  switch (p.target.kind) {
    case 'namespace':
      return true;
    case 'selector':
      return labelsMatch(p.target.matchLabels, w.labels) && requirementsMatch(p.target.matchExpressions, w.labels);
    case 'service': {
      const svc = services(`${p.namespace}/${p.target.name}`);
      // A Service without a selector selects no pods (its endpoints are hand-managed).
      return svc !== undefined && Object.keys(svc.selector).length > 0 && labelsMatch(svc.selector, w.labels);
    }
  }
}

function compileSource(s: PolicySource): CompiledSource {
  const patterns: IdentityPattern[] = [];
  for (const id of s.identities ?? []) {
    const p = parseIdentityPattern(id);
    if (typeof p !== 'string') patterns.push(p); // records are checked on arrival: never a string here
  }
  const blocks: Cidr[] = [];
  for (const b of s.ipBlocks ?? []) {
    const c = parseCidr(b);
    if (typeof c !== 'string') blocks.push(c);
  }
  return {
    identities: s.identities === undefined ? null : patterns,
    namespaces: s.namespaces === undefined ? null : new Set(s.namespaces),
    serviceAccounts: s.serviceAccounts === undefined ? null : new Set(s.serviceAccounts),
    ipBlocks: s.ipBlocks === undefined ? null : blocks,
    unauthenticated: s.unauthenticated ?? null,
  };
}

function compileOperation(o: PolicyOperation): CompiledOperation {
  return {
    ports: o.ports === undefined ? null : new Set(o.ports),
    methods: o.methods === undefined ? null : new Set(o.methods),
    paths: o.paths === undefined ? null : o.paths.map(compilePathMatch),
    headers: o.headers ?? null,
    http: o.methods !== undefined || o.paths !== undefined || o.headers !== undefined,
  };
}

export function compilePolicy(p: PolicyRecord): CompiledPolicy {
  return { key: p.key, action: p.action, rules: p.rules.map((r) => ({ from: r.from.map(compileSource), to: r.to.map(compileOperation) })) };
}

const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * The mTLS mode and default inbound policy, each from the most specific MeshPolicy that sets it:
 * workload (selector, same namespace) > namespace > mesh (root namespace). Ties go to the
 * alphabetically first name, so every agent resolves the same way.
 */
export function resolveMeshSettings(w: WorkloadRecord, meshPolicies: readonly MeshPolicyRecord[]): Pick<WorkloadPolicy, 'mtls' | 'mtlsFrom' | 'defaultInbound' | 'defaultInboundFrom'> {
  const rank = (m: MeshPolicyRecord): number => {
    if (m.scope === 'workload') return m.namespace === w.namespace && labelsMatch(m.matchLabels, w.labels) ? 0 : -1;
    if (m.scope === 'namespace') return m.namespace === w.namespace ? 1 : -1;
    return 2;
  };
  const applicable = meshPolicies
    .map((m) => ({ m, r: rank(m) }))
    .filter((x) => x.r >= 0)
    .sort((a, b) => a.r - b.r || (a.m.key < b.m.key ? -1 : a.m.key > b.m.key ? 1 : 0));
  const mtls = applicable.find((x) => x.m.mtls !== undefined)?.m;
  const inbound = applicable.find((x) => x.m.defaultInbound !== undefined)?.m;
  return {
    mtls: mtls?.mtls ?? DEFAULT_MTLS,
    mtlsFrom: mtls?.key ?? MESH_DEFAULT,
    defaultInbound: inbound?.defaultInbound ?? DEFAULT_INBOUND,
    defaultInboundFrom: inbound?.key ?? MESH_DEFAULT,
  };
}

/** Everything that applies to one workload, compiled. */
export function compileWorkload(w: WorkloadRecord, policies: readonly PolicyRecord[], meshPolicies: readonly MeshPolicyRecord[], services: ServiceLookup): WorkloadPolicy {
  const out: WorkloadPolicy = { workload: w.key, ...resolveMeshSettings(w, meshPolicies), deny: [], allow: [], audit: [] };
  for (const p of [...policies].sort(byKey)) {
    if (!policySelects(p, w, services)) continue;
    const c = compilePolicy(p);
    if (p.action === 'DENY') out.deny.push(c);
    else if (p.action === 'ALLOW') out.allow.push(c);
    else out.audit.push(c);
  }
  return out;
}
