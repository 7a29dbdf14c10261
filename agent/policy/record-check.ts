// Policy records as they arrive on the config stream are checked before anything is applied: a
// record the agent could not compile is a reason to nack the message and keep enforcing the last
// good policy, rather than to compile half of it (a half-compiled DENY is an open door).
import { parseCidr, parseIdentityPattern } from '../../control/api/policy-patterns.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);
const isStrMap = (v: unknown): boolean => isObj(v) && Object.values(v).every((x) => typeof x === 'string');
const isPort = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;

function checkSource(s: unknown, at: string): string | null {
  if (!isObj(s)) return `${at} must be an object`;
  for (const f of ['identities', 'namespaces', 'serviceAccounts', 'ipBlocks'] as const) {
    if (s[f] !== undefined && !isStrList(s[f])) return `${at}.${f} must be a list of strings`;
  }
  for (const id of (s.identities as string[] | undefined) ?? []) {
    const p = parseIdentityPattern(id);
    if (typeof p === 'string') return `${at}: identity pattern ${JSON.stringify(id)}: ${p}`;
  }
  for (const b of (s.ipBlocks as string[] | undefined) ?? []) {
    const c = parseCidr(b);
    if (typeof c === 'string') return `${at}: ${c}`;
  }
  if (s.unauthenticated !== undefined && typeof s.unauthenticated !== 'boolean') return `${at}.unauthenticated must be a boolean`;
  return null;
}

function checkOperation(o: unknown, at: string): string | null {
  if (!isObj(o)) return `${at} must be an object`;
  if (o.ports !== undefined && !(Array.isArray(o.ports) && o.ports.every(isPort))) return `${at}.ports must be port numbers`;
  if (o.methods !== undefined && !isStrList(o.methods)) return `${at}.methods must be a list of strings`;
  if (o.headers !== undefined && !(Array.isArray(o.headers) && o.headers.every((h) => isObj(h) && isStr(h.name) && typeof h.present === 'boolean'))) return `${at}.headers must be a list of {name, present}`;
  if (o.paths !== undefined) {
    if (!Array.isArray(o.paths)) return `${at}.paths must be a list`;
    for (const p of o.paths as unknown[]) {
      if (!isObj(p) || (p.type !== 'exact' && p.type !== 'prefix') || typeof p.value !== 'string' || (p.ignoreCase !== undefined && typeof p.ignoreCase !== 'boolean')) return `${at}.paths entries need type exact|prefix, a value and an optional boolean ignoreCase`;
    }
  }
  return null;
}

export function checkPolicyRecord(r: Obj, where: string): string | null {
  if (!isStr(r.name) || !isStr(r.namespace)) return `${where}: name and namespace are required`;
  if (r.action !== 'ALLOW' && r.action !== 'DENY' && r.action !== 'AUDIT') return `${where}: action must be ALLOW, DENY or AUDIT`;
  if (typeof r.meshWide !== 'boolean') return `${where}: meshWide must be a boolean`;
  const t = r.target;
  if (!isObj(t)) return `${where}: target is required`;
  if (t.kind === 'selector' ? !isStrMap(t.matchLabels) : t.kind === 'service' ? !isStr(t.name) : t.kind !== 'namespace') return `${where}: target is malformed`;
  if (t.kind === 'selector' && t.matchExpressions !== undefined) {
    const ops = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
    if (!Array.isArray(t.matchExpressions) || !t.matchExpressions.every((e) => isObj(e) && isStr(e.key) && ops.includes(e.operator as string) && isStrList(e.values))) {
      return `${where}: target.matchExpressions is malformed`;
    }
  }
  if (!Array.isArray(r.rules)) return `${where}: rules must be a list`;
  for (const [i, rule] of (r.rules as unknown[]).entries()) {
    if (!isObj(rule) || !Array.isArray(rule.from) || !Array.isArray(rule.to)) return `${where}: rules[${i}] needs from and to lists`;
    for (const [j, s] of (rule.from as unknown[]).entries()) {
      const p = checkSource(s, `${where}: rules[${i}].from[${j}]`);
      if (p !== null) return p;
    }
    for (const [j, o] of (rule.to as unknown[]).entries()) {
      const p = checkOperation(o, `${where}: rules[${i}].to[${j}]`);
      if (p !== null) return p;
    }
  }
  return null;
}

export function checkMeshPolicyRecord(r: Obj, where: string): string | null {
  if (!isStr(r.name) || !isStr(r.namespace)) return `${where}: name and namespace are required`;
  if (r.scope !== 'mesh' && r.scope !== 'namespace' && r.scope !== 'workload') return `${where}: scope must be mesh, namespace or workload`;
  if (!isStrMap(r.matchLabels)) return `${where}: matchLabels must map strings to strings`;
  if (r.mtls !== undefined && r.mtls !== 'STRICT' && r.mtls !== 'PERMISSIVE') return `${where}: mtls must be STRICT or PERMISSIVE`;
  if (r.defaultInbound !== undefined && r.defaultInbound !== 'allow' && r.defaultInbound !== 'deny' && r.defaultInbound !== 'authenticated-only') {
    return `${where}: defaultInbound must be allow, deny or authenticated-only`;
  }
  return null;
}
