// The door to authorization policy in the agent. Proxy handlers use InboundAuthorizer.admit for
// connections; every HTTP path (requests, upgrades, CONNECT; same node and cross node) calls the
// one request check, authorizeHttp, and on a denial answers 403 with deniedHeaders/deniedHttp1.
export { Authorizer, DENIED_BY_HEADER, type Admission, type InboundAuthorizer, type PolicyStateView } from './authorizer.ts';
export { authorizeHttp, deniedHeaders, deniedHttp1, type HttpVerdict } from './http-authz.ts';
export type { ConnectionContext, HttpRequestAttributes, PolicyDecision, Transport } from './evaluate.ts';
export { PolicyCounters, mergePolicyCounters, type PolicyCountersJson, type PolicyCounterRow } from './counters.ts';
export type { DescribedWorkloadPolicy } from './describe.ts';
