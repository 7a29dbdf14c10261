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
}

export interface ServicePort {
  name?: string;
  port: number;
  /** A number, or a named container port (resolved per workload when the pod declares it). */
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

export type ResourceRecord = WorkloadRecord | ServiceRecord | NodeRecord | TrustRecord;
export type ResourceKind = ResourceRecord['kind'];

/** Key used on the stream and in maps: `kind:key`, unique across kinds. */
export function resourceId(r: Pick<ResourceRecord, 'kind' | 'key'>): string {
  return `${r.kind}:${r.key}`;
}
