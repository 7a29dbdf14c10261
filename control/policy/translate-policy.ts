// weft.dev/v1alpha1 AuthorizationPolicy and MeshPolicy objects → PolicyRecord / MeshPolicyRecord.
// Pure. Two passes: the CRD schema (shape, every problem at once), then meaning (CIDRs, SPIFFE
// patterns, contradictions). Either failing throws WEFT_ERR_POLICY_INVALID naming the object and
// every bad field; nothing of the object is emitted, so a policy is never half-applied.
import { DEFAULT_PATH_NORMALIZATION, normalizePath, type PathNormalization } from '../../common/path-normalize.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { LabelRequirement, MeshPolicyRecord, PolicyOperation, PolicyRecord, PolicyRule, PolicySource, PolicyTarget } from '../api/model.ts';
import { ROOT_NAMESPACE, parseCidr, parseIdentityPattern } from '../api/policy-patterns.ts';
import { AUTHORIZATION_POLICY_SCHEMA, MESH_POLICY_SCHEMA, POLICY_API_VERSION } from './crd-schema.ts';
import { validateSchema, type SchemaProblem } from './schema-validate.ts';

export const AUTHORIZATION_POLICY_KIND = 'AuthorizationPolicy';
export const MESH_POLICY_KIND = 'MeshPolicy';
export const POLICY_KINDS: readonly string[] = [AUTHORIZATION_POLICY_KIND, MESH_POLICY_KIND];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The object as the source found it: where from, and its namespace and name already read. */
export interface PolicyObject {
  origin: string;
  kind: string;
  namespace: string;
  name: string;
  object: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

function refuse(p: PolicyObject, problems: readonly SchemaProblem[]): never {
  const what = problems.map((x) => `${x.path}: ${x.message}`).join('; ');
  throw new WeftError(
    ErrorCodes.POLICY_INVALID,
    `${p.origin}: ${p.kind} ${JSON.stringify(`${p.namespace}/${p.name}`)} is invalid — ${what}. The object is not applied (nor is the rest of this load); fix it and the last good model is replaced`,
  );
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.length > 0 ? (v as string[]) : undefined;
}

function matchLabelsOf(spec: Obj): Record<string, string> | undefined {
  const sel = spec.selector as Obj | undefined | null;
  if (sel === undefined || sel === null) return undefined;
  return { ...((sel.matchLabels as Record<string, string> | undefined | null) ?? {}) };
}

function source(p: PolicyObject, s: Obj, path: string, problems: SchemaProblem[]): PolicySource {
  const out: PolicySource = {};
  const ids = strings(s.identities);
  if (ids !== undefined) {
    ids.forEach((id, i) => {
      const parsed = parseIdentityPattern(id);
      if (typeof parsed === 'string') problems.push({ path: `${path}.identities[${i}]`, message: `${JSON.stringify(id)} is not a SPIFFE ID pattern: ${parsed}` });
    });
    out.identities = [...ids];
  }
  const nss = strings(s.namespaces);
  if (nss !== undefined) {
    nss.forEach((ns, i) => {
      if (!DNS_LABEL.test(ns)) problems.push({ path: `${path}.namespaces[${i}]`, message: `${JSON.stringify(ns)} is not a namespace name` });
    });
    out.namespaces = [...nss];
  }
  const sas = strings(s.serviceAccounts);
  if (sas !== undefined) {
    out.serviceAccounts = sas.map((sa, i) => {
      const parts = sa.split('/');
      const [ns, name] = parts.length === 1 ? [p.namespace, parts[0]] : parts;
      if (parts.length > 2 || !DNS_LABEL.test(ns ?? '') || !SA_NAME.test(name ?? '')) {
        problems.push({ path: `${path}.serviceAccounts[${i}]`, message: `${JSON.stringify(sa)} must be a service account name or namespace/name` });
      }
      return `${ns}/${name}`;
    });
  }
  const blocks = strings(s.ipBlocks);
  if (blocks !== undefined) {
    out.ipBlocks = blocks.map((b, i) => {
      const c = parseCidr(b);
      if (typeof c === 'string') {
        problems.push({ path: `${path}.ipBlocks[${i}]`, message: `${JSON.stringify(b)} is not a CIDR: ${c}` });
        return b;
      }
      return c.text;
    });
  }
  if (typeof s.unauthenticated === 'boolean') {
    out.unauthenticated = s.unauthenticated;
    // A peer without an identity has no namespace or service account: such a source never matches.
    if (s.unauthenticated && (ids !== undefined || nss !== undefined || sas !== undefined)) {
      problems.push({ path: `${path}.unauthenticated`, message: 'true cannot be combined with identities, namespaces or serviceAccounts (an unauthenticated peer has none), so this source could never match' });
    }
  }
  return out;
}

/**
 * Why a rule's path can never match, or null. Requests are matched after normalisation
 * (common/path-normalize.ts), so a value the normaliser would change — "//", a dot segment, "%61",
 * a lower-case escape — or refuse — "%2F", a backslash — would silently match nothing: for a
 * DENY, a hole. Checked against the mesh's mode, and the query and fragment never reach a rule.
 */
function unnormalisedRulePath(value: string, mode: PathNormalization): string | null {
  if (/[?#]/.test(value)) return `${JSON.stringify(value)} has a query or fragment; rules match the path only`;
  const n = normalizePath(value, mode);
  if (typeof n !== 'string') return `${JSON.stringify(value)} is a path the agent refuses (${n.refused.replaceAll('_', ' ')}), so it can never match`;
  if (n !== value) return `${JSON.stringify(value)} is not normalised and would never match a request (paths are normalised first): write ${JSON.stringify(n)}`;
  return null;
}

function operation(o: Obj, path: string, problems: SchemaProblem[], mode: PathNormalization): PolicyOperation {
  const out: PolicyOperation = {};
  if (Array.isArray(o.ports) && o.ports.length > 0) out.ports = [...new Set(o.ports as number[])].sort((a, b) => a - b);
  const methods = strings(o.methods);
  if (methods !== undefined) out.methods = [...new Set(methods)];
  if (Array.isArray(o.paths) && o.paths.length > 0) {
    out.paths = (o.paths as Obj[]).map((m, i) => {
      // The CRD's CEL rule: has(self.exact) != has(self.prefix).
      if ((typeof m.exact === 'string') === (typeof m.prefix === 'string')) problems.push({ path: `${path}.paths[${i}]`, message: 'a path has exactly one of exact and prefix' });
      const type = typeof m.exact === 'string' ? 'exact' : 'prefix';
      const value = String(type === 'exact' ? m.exact : m.prefix);
      const why = unnormalisedRulePath(value, mode);
      if (why !== null) problems.push({ path: `${path}.paths[${i}].${type}`, message: why });
      return m.ignoreCase === true ? { type, value, ignoreCase: true } : { type, value };
    });
  }
  if (Array.isArray(o.headers) && o.headers.length > 0) {
    // Node delivers header names lowercase; `present` defaults to true as in the CRD.
    out.headers = (o.headers as Obj[]).map((h) => ({ name: String(h.name).toLowerCase(), present: h.present !== false }));
  }
  return out;
}

function authorizationPolicy(p: PolicyObject, mode: PathNormalization): PolicyRecord {
  const problems = validateSchema(AUTHORIZATION_POLICY_SCHEMA, p.object);
  if (problems.length > 0) refuse(p, problems);
  const spec = p.object.spec as Obj;
  const labels = matchLabelsOf(spec);
  const ref = spec.targetRef as Obj | undefined | null;
  if (labels !== undefined && ref !== undefined && ref !== null) {
    problems.push({ path: 'spec.targetRef', message: 'cannot be combined with spec.selector; select workloads by labels or by Service, not both' });
  }
  const expressions = ((spec.selector as Obj | undefined | null)?.matchExpressions as Obj[] | undefined | null) ?? [];
  let target: PolicyTarget = { kind: 'namespace' };
  if (ref !== undefined && ref !== null) target = { kind: 'service', name: ref.name as string };
  else if (expressions.length > 0) {
    const matchExpressions = expressions.map((e, i) => {
      const values = ((e.values as string[] | undefined | null) ?? []).slice();
      const op = e.operator as LabelRequirement['operator'];
      // The API server's own selector rules: In/NotIn need values, Exists/DoesNotExist none.
      if ((op === 'In' || op === 'NotIn') !== values.length > 0) {
        problems.push({ path: `spec.selector.matchExpressions[${i}].values`, message: op === 'In' || op === 'NotIn' ? `${op} needs at least one value` : `${op} takes no values` });
      }
      return { key: e.key as string, operator: op, values };
    });
    target = { kind: 'selector', matchLabels: labels ?? {}, matchExpressions };
  } else if (labels !== undefined && Object.keys(labels).length > 0) target = { kind: 'selector', matchLabels: labels };
  const rules: PolicyRule[] = ((spec.rules as Obj[] | undefined | null) ?? []).map((r, i) => ({
    from: ((r.from as Obj[] | undefined | null) ?? []).map((s, j) => source(p, s, `spec.rules[${i}].from[${j}]`, problems)),
    to: ((r.to as Obj[] | undefined | null) ?? []).map((o, j) => operation(o, `spec.rules[${i}].to[${j}]`, problems, mode)),
  }));
  if (problems.length > 0) refuse(p, problems);
  return {
    kind: 'policy',
    key: `${p.namespace}/${p.name}`,
    name: p.name,
    namespace: p.namespace,
    meshWide: p.namespace === ROOT_NAMESPACE && target.kind !== 'service',
    action: spec.action as PolicyRecord['action'],
    target,
    rules,
  };
}

function meshPolicy(p: PolicyObject): MeshPolicyRecord {
  const problems = validateSchema(MESH_POLICY_SCHEMA, p.object);
  if (problems.length > 0) refuse(p, problems);
  const spec = p.object.spec as Obj;
  const mtls = ((spec.mtls as Obj | undefined | null)?.mode ?? undefined) as MeshPolicyRecord['mtls'];
  const defaultInbound = (spec.defaultInbound ?? undefined) as MeshPolicyRecord['defaultInbound'];
  if (mtls === undefined && defaultInbound === undefined) refuse(p, [{ path: 'spec', message: 'sets neither mtls.mode nor defaultInbound, so it would change nothing' }]);
  const labels = matchLabelsOf(spec) ?? {};
  const scope = Object.keys(labels).length > 0 ? 'workload' : p.namespace === ROOT_NAMESPACE ? 'mesh' : 'namespace';
  const out: MeshPolicyRecord = { kind: 'meshpolicy', key: `${p.namespace}/${p.name}`, name: p.name, namespace: p.namespace, scope, matchLabels: labels };
  if (mtls !== undefined) out.mtls = mtls;
  if (defaultInbound !== undefined) out.defaultInbound = defaultInbound;
  return out;
}

/** Is this a kind this module translates (the caller checked the object is a mapping)? */
export function isPolicyObject(apiVersion: string, kind: string): boolean {
  return apiVersion.startsWith(`${POLICY_API_VERSION.split('/')[0]}/`) && POLICY_KINDS.includes(kind);
}

/** Translates one object; throws WEFT_ERR_POLICY_INVALID naming the object and every bad field. */
export function translatePolicyObject(p: PolicyObject, mode: PathNormalization = DEFAULT_PATH_NORMALIZATION): PolicyRecord | MeshPolicyRecord {
  const apiVersion = p.object.apiVersion;
  if (apiVersion !== POLICY_API_VERSION) refuse(p, [{ path: 'apiVersion', message: `must be ${POLICY_API_VERSION}; got ${JSON.stringify(apiVersion)}` }]);
  if (p.kind === AUTHORIZATION_POLICY_KIND) return authorizationPolicy(p, mode);
  if (p.kind === MESH_POLICY_KIND) return meshPolicy(p);
  return refuse(p, [{ path: 'kind', message: `must be ${POLICY_KINDS.join(' or ')}` }]);
}
