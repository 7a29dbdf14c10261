// SPIFFE IDs of workloads: spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface WorkloadIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9.]{0,253}[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** Parses a workload SPIFFE ID; null when it is not exactly of the mesh's shape. */
export function parseSpiffeId(id: string): WorkloadIdentity | null {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  if (m === null) return null;
  const [, trustDomain, namespace, serviceAccount] = m;
  if (!TRUST_DOMAIN.test(trustDomain) || !DNS_LABEL.test(namespace) || !SUBDOMAIN.test(serviceAccount)) return null;
  return { trustDomain, namespace, serviceAccount };
}
