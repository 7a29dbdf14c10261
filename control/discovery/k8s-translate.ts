// Kubernetes objects → the mesh's records. Pure: no I/O, no clock, so every rule below is
// table-tested. The file source feeds it parsed manifests; a Kubernetes source can feed it the
// JSON of real objects, since the field names are exactly the API's.
//
// Strictness: an object we cannot understand (not an object, unknown kind, a required field
// missing or of the wrong type) makes the whole input invalid. Half a model is worse than the last
// good one: a missing Service would silently black-hole its traffic.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { spiffeId } from '../api/identity.ts';
import { HTTPROUTE_API_VERSIONS, httpRouteRecord, serviceDefaults } from './httproute.ts';
import { isPolicyObject, translatePolicyObject } from '../policy/translate-policy.ts';
import type { PathNormalization } from '../../common/path-normalize.ts';
import { resourceId, type NodeRecord, type PendingWorkloadRecord, type ResourceRecord, type ServicePort, type ServiceRecord, type WorkloadRecord } from '../api/model.ts';

export const MESH_LABEL = 'weft.dev/mesh';
export const MESH_LABEL_ENABLED = 'enabled';
export const MESH_ANNOTATION = 'weft.dev/mesh';
export const MESH_ANNOTATION_DISABLED = 'disabled';

/** One parsed object and where it came from (`file.yaml#3`), for error messages. */
export interface SourceObject {
  origin: string;
  object: unknown;
}

export interface TranslateOptions {
  trustDomain: string;
  /** The mesh's path normalisation (policy rule paths are checked against it); default merge-slashes. */
  pathNormalization?: PathNormalization;
}

type Obj = Record<string, unknown>;

const KINDS = new Set(['Namespace', 'Pod', 'Service', 'ServiceAccount', 'Node', 'HTTPRoute']);
const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);
const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Field reader that names the object and the field path in every complaint. */
class Reader {
  readonly #where: string;
  constructor(where: string) {
    this.#where = where;
  }

  fail(message: string): never {
    throw new WeftError(ErrorCodes.SOURCE_INVALID, `${this.#where}: ${message} — fix the object; the last good model stays in use`);
  }

  obj(parent: Obj, field: string, path: string, required: boolean): Obj | undefined {
    const v = parent[field];
    if (v === undefined || v === null) return required ? this.fail(`${path} is required`) : undefined;
    return isObj(v) ? v : this.fail(`${path} must be a mapping`);
  }

  str(parent: Obj, field: string, path: string, required: boolean): string | undefined {
    const v = parent[field];
    if (v === undefined || v === null || (required && v === '')) return required ? this.fail(`${path} is required`) : undefined;
    return typeof v === 'string' ? v : this.fail(`${path} must be a string`);
  }

  arr(parent: Obj, field: string, path: string): unknown[] {
    const v = parent[field];
    if (v === undefined || v === null) return [];
    return Array.isArray(v) ? v : this.fail(`${path} must be a list`);
  }

  strMap(parent: Obj, field: string, path: string): Record<string, string> {
    const m = this.obj(parent, field, path, false);
    const out: Record<string, string> = {};
    if (m === undefined) return out;
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') this.fail(`${path}.${k} must be a string (quote numbers and booleans in YAML)`);
      out[k] = v;
    }
    return out;
  }
}

function describe(origin: string, kind: unknown, ns: unknown, name: unknown): string {
  const k = typeof kind === 'string' ? kind : 'object';
  const clusterScoped = k === 'Namespace' || k === 'Node' || k.endsWith('List');
  const namespace = typeof ns === 'string' && ns !== '' ? ns : 'default';
  const n = typeof name === 'string' ? (clusterScoped ? name : `${namespace}/${name}`) : '(unnamed)';
  return `${origin}: ${k} ${JSON.stringify(n)}`;
}

interface Flat {
  origin: string;
  object: Obj;
  kind: string;
  name: string;
  namespace: string;
  r: Reader;
}

/** Unwraps `kind: List` and checks the envelope every object shares. */
function flatten(input: readonly SourceObject[]): Flat[] {
  const out: Flat[] = [];
  const visit = (origin: string, o: unknown): void => {
    if (!isObj(o)) throw new WeftError(ErrorCodes.SOURCE_INVALID, `${origin}: not a Kubernetes object (expected a mapping with apiVersion, kind, metadata)`);
    const meta = isObj(o.metadata) ? o.metadata : undefined;
    const r = new Reader(describe(origin, o.kind, meta?.namespace, meta?.name));
    const kind = r.str(o, 'kind', 'kind', true) as string;
    const apiVersion = r.str(o, 'apiVersion', 'apiVersion', true) as string;
    if (kind === 'List' || kind.endsWith('List')) {
      if (apiVersion !== 'v1') return r.fail(`apiVersion must be v1 for ${kind}, got ${JSON.stringify(apiVersion)}`);
      r.arr(o, 'items', 'items').forEach((item, i) => visit(`${origin} items[${i}]`, item));
      return;
    }
    // weft.dev kinds (AuthorizationPolicy, MeshPolicy) are checked by the policy translator.
    const policy = isPolicyObject(apiVersion, kind);
    if (!policy && !KINDS.has(kind)) return r.fail(`unknown kind ${JSON.stringify(kind)}; the file source understands ${[...KINDS].join(', ')}, weft.dev/v1alpha1 AuthorizationPolicy and MeshPolicy, and List`);
    if (kind === 'HTTPRoute' ? !HTTPROUTE_API_VERSIONS.has(apiVersion) : !policy && apiVersion !== 'v1') {
      return r.fail(`apiVersion must be ${kind === 'HTTPRoute' ? [...HTTPROUTE_API_VERSIONS].join(' or ') : 'v1'} for ${kind}, got ${JSON.stringify(apiVersion)}`);
    }
    const metadata = r.obj(o, 'metadata', 'metadata', true) as Obj;
    const name = r.str(metadata, 'name', 'metadata.name', true) as string;
    const clusterScoped = kind === 'Namespace' || kind === 'Node';
    const namespace = clusterScoped ? '' : (r.str(metadata, 'namespace', 'metadata.namespace', false) ?? 'default');
    out.push({ origin, object: o, kind, name, namespace, r });
  };
  for (const { origin, object } of input) visit(origin, object);
  return out;
}

function isMeshedNamespace(f: Flat): boolean {
  const labels = f.r.strMap(f.object.metadata as Obj, 'labels', 'metadata.labels');
  return labels[MESH_LABEL] === MESH_LABEL_ENABLED;
}

function podRecord(f: Flat, meshedNamespaces: ReadonlySet<string>, trustDomain: string): WorkloadRecord | PendingWorkloadRecord | null {
  const { r, object: o } = f;
  const meta = o.metadata as Obj;
  const uid = r.str(meta, 'uid', 'metadata.uid', true) as string;
  const labels = r.strMap(meta, 'labels', 'metadata.labels');
  const annotations = r.strMap(meta, 'annotations', 'metadata.annotations');
  const spec = r.obj(o, 'spec', 'spec', true) as Obj;
  const status = r.obj(o, 'status', 'status', false) ?? {};
  const phase = r.str(status, 'phase', 'status.phase', false);
  const node = r.str(spec, 'nodeName', 'spec.nodeName', false);
  const ip = r.str(status, 'podIP', 'status.podIP', false);
  // Not yet scheduled, or finished: nothing to route to and nothing to capture.
  if (node === undefined || node === '') return null;
  if (phase !== undefined && TERMINAL_PHASES.has(phase)) return null;
  const serviceAccount = r.str(spec, 'serviceAccountName', 'spec.serviceAccountName', false) || 'default';
  const hostNetwork = spec.hostNetwork === true;
  // hostNetwork pods share the node's address: their traffic cannot be told apart, so never meshed.
  const meshed = meshedNamespaces.has(f.namespace) && annotations[MESH_ANNOTATION] !== MESH_ANNOTATION_DISABLED && !hostNetwork;
  const deleting = meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
  if (ip === undefined || ip === '') {
    // Scheduled, not yet networked: the node's agent decides at the CNI ADD from this.
    if (deleting) return null;
    return { kind: 'pending-workload', key: `${f.namespace}/${f.name}`, uid, name: f.name, namespace: f.namespace, node, serviceAccount, identity: spiffeId(trustDomain, f.namespace, serviceAccount), labels, meshed };
  }
  let ready = false;
  r.arr(status, 'conditions', 'status.conditions').forEach((c, i) => {
    if (!isObj(c)) return r.fail(`status.conditions[${i}] must be a mapping`);
    if (c.type === 'Ready') ready = c.status === 'True';
  });
  // A terminating pod still finishes its requests but must not receive new ones.
  if (deleting) ready = false;
  const namedPorts = namedContainerPorts(f, spec);
  return {
    kind: 'workload',
    key: `${f.namespace}/${f.name}`,
    uid,
    name: f.name,
    namespace: f.namespace,
    node,
    ip,
    serviceAccount,
    identity: spiffeId(trustDomain, f.namespace, serviceAccount),
    labels,
    meshed,
    ready,
    ...(namedPorts === undefined ? {} : { namedPorts }),
  };
}

/**
 * The pod's named TCP container ports, for Services whose targetPort is a name. Kubernetes looks
 * the name up among the pod's containers with the Service port's protocol; the mesh carries TCP
 * alone, so only TCP ports are kept. Undefined when there are none (most pods: no field at all).
 */
function namedContainerPorts(f: Flat, spec: Obj): Record<string, number> | undefined {
  const { r } = f;
  let out: Record<string, number> | undefined;
  r.arr(spec, 'containers', 'spec.containers').forEach((c, i) => {
    if (!isObj(c)) return r.fail(`spec.containers[${i}] must be a mapping`);
    r.arr(c, 'ports', `spec.containers[${i}].ports`).forEach((p, j) => {
      const path = `spec.containers[${i}].ports[${j}]`;
      if (!isObj(p)) return r.fail(`${path} must be a mapping`);
      const name = r.str(p, 'name', `${path}.name`, false);
      if (name === undefined || name === '') return;
      const protocol = r.str(p, 'protocol', `${path}.protocol`, false) ?? 'TCP';
      if (protocol !== 'TCP') return;
      const port = p.containerPort;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return r.fail(`${path}.containerPort must be an integer in 1–65535`);
      out ??= {};
      // The API server refuses a name used twice in a pod; a file that does it keeps the first, as kube's lookup does.
      if (!Object.hasOwn(out, name)) out[name] = port;
    });
  });
  return out;
}

function servicePort(f: Flat, p: unknown, i: number): ServicePort {
  const { r } = f;
  const path = `spec.ports[${i}]`;
  if (!isObj(p)) return r.fail(`${path} must be a mapping`);
  const port = p.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return r.fail(`${path}.port must be an integer in 1–65535`);
  let targetPort: number | string = port;
  const tp = p.targetPort;
  if (typeof tp === 'number') {
    if (!Number.isInteger(tp) || tp < 1 || tp > 65535) return r.fail(`${path}.targetPort must be in 1–65535`);
    targetPort = tp;
  } else if (typeof tp === 'string' && tp !== '') {
    // The API accepts "8080" as a string too (IntOrString); treat digits as the number they are.
    targetPort = /^\d+$/.test(tp) ? Number(tp) : tp;
  } else if (tp !== undefined && tp !== null) {
    r.fail(`${path}.targetPort must be a port number or a port name`);
  }
  const protocol = r.str(p, 'protocol', `${path}.protocol`, false) ?? 'TCP';
  if (!PROTOCOLS.has(protocol)) return r.fail(`${path}.protocol must be TCP, UDP or SCTP`);
  const out: ServicePort = { port, targetPort, protocol: protocol as ServicePort['protocol'] };
  const name = r.str(p, 'name', `${path}.name`, false);
  if (name !== undefined && name !== '') out.name = name;
  const appProtocol = r.str(p, 'appProtocol', `${path}.appProtocol`, false);
  if (appProtocol !== undefined && appProtocol !== '') out.appProtocol = appProtocol;
  return out;
}

function serviceRecord(f: Flat): ServiceRecord {
  const { r, object: o } = f;
  const spec = r.obj(o, 'spec', 'spec', true) as Obj;
  const ip = r.str(spec, 'clusterIP', 'spec.clusterIP', false);
  const defaults = serviceDefaults(describe(f.origin, f.kind, f.namespace, f.name), r.strMap(o.metadata as Obj, 'annotations', 'metadata.annotations'));
  const rec: ServiceRecord = {
    kind: 'service',
    key: `${f.namespace}/${f.name}`,
    name: f.name,
    namespace: f.namespace,
    // "None" is a headless Service: clients resolve pod IPs directly, there is no VIP to capture.
    clusterIP: ip === undefined || ip === '' || ip === 'None' ? null : ip,
    ports: r.arr(spec, 'ports', 'spec.ports').map((p, i) => servicePort(f, p, i)),
    selector: r.strMap(spec, 'selector', 'spec.selector'),
  };
  if (defaults !== undefined) rec.defaults = defaults;
  return rec;
}

function nodeRecord(f: Flat): NodeRecord | null {
  const { r, object: o } = f;
  const status = r.obj(o, 'status', 'status', false) ?? {};
  const addresses = r.arr(status, 'addresses', 'status.addresses').map((a, i) => {
    if (!isObj(a)) return r.fail(`status.addresses[${i}] must be a mapping`);
    return { type: r.str(a, 'type', `status.addresses[${i}].type`, true), address: r.str(a, 'address', `status.addresses[${i}].address`, true) };
  });
  // Peers dial HBONE on the node's internal address; a node without one cannot be reached yet.
  const address = addresses.find((a) => a.type === 'InternalIP')?.address;
  if (address === undefined) return null;
  return { kind: 'node', key: f.name, name: f.name, address };
}

/**
 * Translates every object; throws WEFT_ERR_SOURCE_INVALID (WEFT_ERR_POLICY_INVALID for weft.dev
 * policy objects) naming the first bad object: the whole load is refused, never half-applied.
 */
export function translateObjects(input: readonly SourceObject[], options: TranslateOptions): ResourceRecord[] {
  const flat = flatten(input);
  const seen = new Map<string, string>();
  for (const f of flat) {
    const id = `${f.kind}/${f.namespace}/${f.name}`;
    const first = seen.get(id);
    if (first !== undefined) return f.r.fail(`defined twice (first in ${first})`);
    seen.set(id, f.origin);
  }
  const meshedNamespaces = new Set(flat.filter((f) => f.kind === 'Namespace' && isMeshedNamespace(f)).map((f) => f.name));
  const out: ResourceRecord[] = [];
  const ips = new Map<string, string>();
  for (const f of flat) {
    let rec: ResourceRecord | null = null;
    if (f.kind === 'Pod') {
      const w = podRecord(f, meshedNamespaces, options.trustDomain);
      // Two live pods on one IP would make source identification ambiguous: refuse the input.
      if (w !== null && w.kind === 'workload' && w.meshed) {
        const other = ips.get(w.ip);
        if (other !== undefined) return f.r.fail(`status.podIP ${w.ip} is also the IP of meshed pod ${other}`);
        ips.set(w.ip, w.key);
      }
      rec = w;
    } else if (f.kind === 'Service') rec = serviceRecord(f);
    else if (f.kind === 'Node') rec = nodeRecord(f);
    else if (f.kind === 'HTTPRoute') rec = httpRouteRecord(describe(f.origin, f.kind, f.namespace, f.name), f.object, f.namespace, f.name);
    else if (isPolicyObject(f.object.apiVersion as string, f.kind)) rec = translatePolicyObject({ origin: f.origin, kind: f.kind, namespace: f.namespace, name: f.name, object: f.object }, options.pathNormalization);
    else if (f.kind === 'Namespace') isMeshedNamespace(f); // validates labels
    // ServiceAccount: accepted (manifests carry them) but the identity comes from the pod's spec.
    if (rec !== null) out.push(rec);
  }
  out.sort((a, b) => (resourceId(a) < resourceId(b) ? -1 : resourceId(a) > resourceId(b) ? 1 : 0));
  return out;
}
