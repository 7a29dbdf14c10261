// The normalized model: what control knows of the cluster and what agents route by. Both the
// file source and the Kubernetes source produce exactly these records, so the data plane cannot
// tell them apart. Records are plain JSON: they cross the config stream as they are.

/** A pod as the mesh sees it. `meshed` is already resolved from namespace label + pod annotation. */
export interface WorkloadRecord {
  kind: 'workload';
  /** `namespace/name`: unique and stable for the pod's lifetime. */
  key: string;
  uid: string;
  name: string;
  namespace: string;
  node: string;
  ip: string;
  serviceAccount: string;
  /** SPIFFE ID, `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`. */
  identity: string;
  labels: Record<string, string>;
  meshed: boolean;
  ready: boolean;
  /**
   * The pod's named TCP container ports (`spec.containers[].ports[]` that have a name), name →
   * number: what a Service's named `targetPort` resolves to for this pod, as Kubernetes'
   * EndpointSlice controller resolves it. Absent when the pod names none, and in records from a
   * control that predates the field (such a Service then has no endpoints on that pod).
   */
  namedPorts?: Record<string, number>;
}

/**
 * A pod scheduled to a node that has no address yet: the window between the scheduler's binding
 * and the kubelet publishing `status.podIP`, which is when the container runtime runs the CNI
 * ADD. It tells the node's agent, at ADD, whether the pod is meshed and under which identity, so
 * a meshed pod is captured before its first byte; the ADD itself supplies the address. Replaced
 * by the pod's `workload` record once the address is published. Sent only to agents that announce
 * the `pending-workload` feature in their hello (an older agent refuses unknown kinds).
 */
export interface PendingWorkloadRecord {
  kind: 'pending-workload';
  key: string;
  uid: string;
  name: string;
  namespace: string;
  node: string;
  serviceAccount: string;
  identity: string;
  labels: Record<string, string>;
  meshed: boolean;
}

/** Record kinds an agent sees only when its hello announces them as features. */
export const FEATURE_KINDS: ReadonlySet<string> = new Set(['pending-workload']);

export interface ServicePort {
  name?: string;
  port: number;
  /** A number, or a named container port (resolved per workload from WorkloadRecord.namedPorts; a pod that does not declare it is no endpoint of this port). */
  targetPort: number | string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  appProtocol?: string;
}

export interface ServiceRecord {
  kind: 'service';
  key: string;
  name: string;
  namespace: string;
  clusterIP: string | null;
  ports: ServicePort[];
  selector: Record<string, string>;
  /** L7 defaults from `weft.dev/*` annotations, used where no HTTPRoute says otherwise. */
  defaults?: ServiceDefaults;
}

/** From Service annotations: `weft.dev/timeout`, `weft.dev/retry-limit`, `weft.dev/opaque-ports`. */
export interface ServiceDefaults {
  /** Request timeout in ms; 0 means none. */
  timeoutMs?: number;
  /** Retries per request (on top of the first attempt). */
  retryLimit?: number;
  /** Service ports (by number) carried as opaque TCP: no protocol detection. */
  opaquePorts?: number[];
}

/** One HTTPRoute match (Gateway API v1): every given part must hold. */
export interface RouteMatch {
  path?: { type: 'Exact' | 'PathPrefix'; value: string };
  /** Exact header matches; names lower-case. */
  headers?: { name: string; value: string }[];
  method?: string;
}

export interface RouteBackend {
  /** The backend Service's key (`namespace/name`). */
  service: string;
  port: number;
  weight: number;
}

export interface RouteRetry {
  /** Total retries allowed after the first attempt. */
  attempts: number;
  /** Response statuses that may be retried (connect failures and refused streams always may). */
  codes: number[];
  /** Base backoff in ms (jittered, doubled per attempt). */
  backoffMs: number;
}

export interface RouteRule {
  /** Any one must match; empty means every request (PathPrefix "/"). */
  matches: RouteMatch[];
  /** Weighted traffic split; empty means the parent Service itself. */
  backends: RouteBackend[];
  /** `timeouts.request` in ms; 0 means none, absent means the Service/agent default. */
  timeoutMs?: number;
  retry?: RouteRetry;
}

/** An HTTPRoute attached to Services (GAMMA: parentRefs of kind Service). */
export interface RouteRecord {
  kind: 'route';
  key: string;
  name: string;
  namespace: string;
  /** ISO time; the older route wins ties (Gateway API precedence). */
  createdAt: string;
  /** Parent Service keys, with the port when the parentRef names one. */
  parents: { service: string; port?: number }[];
  rules: RouteRule[];
}

/** A node's agent, as peers reach it for HBONE. */
export interface NodeRecord {
  kind: 'node';
  key: string;
  name: string;
  /** The address peers dial on the HBONE port. */
  address: string;
}

/**
 * The mesh's trust anchors as control currently has them (one record, key `anchors`). Only
 * fingerprints travel here — the PEMs come with every CSR answer. An agent that sees `version`
 * change re-issues its certificates early, which is how a root rotation reaches every workload.
 */
export interface TrustRecord {
  kind: 'trust';
  key: string;
  /** Changes whenever the anchor set or the signing anchor changes. */
  version: string;
  /** SHA-256 fingerprint of the anchor that signs new certificates. */
  signing: string;
  /** SHA-256 fingerprints of every anchor to accept, signing anchor first. */
  anchors: string[];
}


export type PolicyAction = 'ALLOW' | 'DENY' | 'AUDIT';

/** Who a rule admits. Fields AND together; an absent field does not constrain. */
export interface PolicySource {
  /** SPIFFE ID patterns: `*` as a whole segment matches one segment, a trailing `/*` the rest. */
  identities?: string[];
  namespaces?: string[];
  /** `ns/name`, already qualified by control (a bare name means the policy's namespace). */
  serviceAccounts?: string[];
  /** CIDRs, canonical (`10.0.0.0/8`, `fd00::/8`). */
  ipBlocks?: string[];
  /** true: only peers without a verified identity; false: only authenticated ones. */
  unauthenticated?: boolean;
}

/** `ignoreCase`: compare lower-cased (paths are case-sensitive otherwise). */
export type PolicyPathMatch = { type: 'exact' | 'prefix'; value: string; ignoreCase?: boolean };
export type PolicyHeaderMatch = { name: string; present: boolean };

/** A Kubernetes label selector requirement. */
export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

/** What a rule admits on the destination. Fields AND together. */
export interface PolicyOperation {
  ports?: number[];
  /** HTTP only (uppercase). */
  methods?: string[];
  paths?: PolicyPathMatch[];
  /** HTTP only: header names (lowercase) that must be present (or, present: false, absent). */
  headers?: PolicyHeaderMatch[];
}

export interface PolicyRule {
  /** Empty: any source. */
  from: PolicySource[];
  /** Empty: any operation. */
  to: PolicyOperation[];
}

export type PolicyTarget =
  /** Every workload of the policy's namespace (mesh-wide when that is the root namespace). */
  | { kind: 'namespace' }
  | { kind: 'selector'; matchLabels: Record<string, string>; matchExpressions?: LabelRequirement[] }
  /** The pods a Service of the policy's namespace selects. */
  | { kind: 'service'; name: string };

/** A weft.dev/v1alpha1 AuthorizationPolicy, validated and normalized by control. */
export interface PolicyRecord {
  kind: 'policy';
  /** `namespace/name`. */
  key: string;
  name: string;
  namespace: string;
  /** True for policies in the root namespace (weft-system) without a target: they select every workload. */
  meshWide: boolean;
  action: PolicyAction;
  target: PolicyTarget;
  rules: PolicyRule[];
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE';
export type DefaultInbound = 'allow' | 'deny' | 'authenticated-only';

/** A weft.dev/v1alpha1 MeshPolicy: mTLS mode and default inbound policy at one scope. */
export interface MeshPolicyRecord {
  kind: 'meshpolicy';
  key: string;
  name: string;
  namespace: string;
  /** mesh: the root namespace without selector; namespace: no selector; workload: with a selector. */
  scope: 'mesh' | 'namespace' | 'workload';
  matchLabels: Record<string, string>;
  mtls?: MtlsMode;
  defaultInbound?: DefaultInbound;
}

/** One object the discovery source refuses (invalid), and what stays in force for it. */
export interface RefusedObject {
  kind: string;
  /** Empty for cluster-scoped kinds. */
  namespace: string;
  name: string;
  reason: string;
  /** `last-good`: the version before the bad edit still applies; `none`: it never translated. */
  inForce: 'last-good' | 'none';
}

/**
 * The Kubernetes objects control refuses now (one record, key `discovery`, present only while
 * there are some). It rides the config stream so `weft check` on any node can show it; agents
 * route by nothing in it.
 */
export interface RefusedRecord {
  kind: 'refused';
  key: string;
  objects: RefusedObject[];
}

export type ResourceRecord = RouteRecord | WorkloadRecord | PendingWorkloadRecord | ServiceRecord | NodeRecord | TrustRecord | PolicyRecord | MeshPolicyRecord | RefusedRecord;
export type ResourceKind = ResourceRecord['kind'];

/** Key used on the stream and in maps: `kind:key`, unique across kinds. */
export function resourceId(r: Pick<ResourceRecord, 'kind' | 'key'>): string {
  return `${r.kind}:${r.key}`;
}
