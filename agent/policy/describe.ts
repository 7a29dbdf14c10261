// Compiled policies as plain JSON for /config_dump `policies`: sets become sorted lists and
// parsed patterns their text again, so an operator reads back exactly what the agent enforces.
import type { CompiledOperation, CompiledPolicy, CompiledSource, WorkloadPolicy } from './compile.ts';

export interface DescribedSource {
  identities?: string[];
  namespaces?: string[];
  serviceAccounts?: string[];
  ipBlocks?: string[];
  unauthenticated?: boolean;
}

export interface DescribedOperation {
  ports?: number[];
  methods?: string[];
  paths?: string[];
  /** `name` must be present, `!name` absent. */
  headers?: string[];
}

export interface DescribedPolicy {
  policy: string;
  action: string;
  rules: Array<{ from: DescribedSource[]; to: DescribedOperation[] }>;
}

export interface DescribedWorkloadPolicy {
  mtls: string;
  mtlsFrom: string;
  defaultInbound: string;
  defaultInboundFrom: string;
  /** In evaluation order: DENY, then ALLOW; AUDIT alongside. */
  deny: DescribedPolicy[];
  allow: DescribedPolicy[];
  audit: DescribedPolicy[];
}

function source(s: CompiledSource): DescribedSource {
  const out: DescribedSource = {};
  if (s.identities !== null) out.identities = s.identities.map((p) => p.text);
  if (s.namespaces !== null) out.namespaces = [...s.namespaces].sort();
  if (s.serviceAccounts !== null) out.serviceAccounts = [...s.serviceAccounts].sort();
  if (s.ipBlocks !== null) out.ipBlocks = s.ipBlocks.map((c) => c.text);
  if (s.unauthenticated !== null) out.unauthenticated = s.unauthenticated;
  return out;
}

function operation(o: CompiledOperation): DescribedOperation {
  const out: DescribedOperation = {};
  if (o.ports !== null) out.ports = [...o.ports].sort((a, b) => a - b);
  if (o.methods !== null) out.methods = [...o.methods].sort();
  if (o.paths !== null) out.paths = o.paths.map((p) => `${p.type === 'exact' ? p.value : `${p.value}*`}${p.ignoreCase === true ? ' (ignoring case)' : ''}`);
  if (o.headers !== null) out.headers = o.headers.map((h) => (h.present ? h.name : `!${h.name}`));
  return out;
}

function policy(p: CompiledPolicy): DescribedPolicy {
  return { policy: p.key, action: p.action, rules: p.rules.map((r) => ({ from: r.from.map(source), to: r.to.map(operation) })) };
}

export function describeWorkloadPolicy(wp: WorkloadPolicy): DescribedWorkloadPolicy {
  return {
    mtls: wp.mtls,
    mtlsFrom: wp.mtlsFrom,
    defaultInbound: wp.defaultInbound,
    defaultInboundFrom: wp.defaultInboundFrom,
    deny: wp.deny.map(policy),
    allow: wp.allow.map(policy),
    audit: wp.audit.map(policy),
  };
}
