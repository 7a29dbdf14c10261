// The door to authorization policy in the agent. Proxy handlers use InboundAuthorizer.admit for
// connections; the L7 work calls authorizeRequest per HTTP request and, on a denial, answers 403
// (gRPC: PERMISSION_DENIED) with `weft-denied-by: <decision.policy>`.
export { Authorizer, DENIED_BY_HEADER, type Admission, type InboundAuthorizer, type PolicyStateView } from './authorizer.ts';
export type { ConnectionContext, HttpRequestAttributes, PolicyDecision, Transport } from './evaluate.ts';
export { PolicyCounters, mergePolicyCounters, type PolicyCountersJson, type PolicyCounterRow } from './counters.ts';
export type { DescribedWorkloadPolicy } from './describe.ts';
