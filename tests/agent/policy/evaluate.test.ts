// Policy evaluation, table-driven: every rule field, wildcards, precedence, the default modes and
// mTLS. Policies are written as records (what control sends) and compiled exactly as the agent does.
import t from 'tap';
import type { MeshPolicyRecord, PolicyRecord, PolicyRule, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { compileWorkload } from '../../../agent/policy/compile.ts';
import { evaluate, type ConnectionContext, type HttpRequestAttributes } from '../../../agent/policy/evaluate.ts';

const server: WorkloadRecord = {
  kind: 'workload', key: 'prod/server-1', uid: 'u', name: 'server-1', namespace: 'prod', node: 'n2', ip: '10.244.2.10',
  serviceAccount: 'server', identity: 'spiffe://cluster.local/ns/prod/sa/server', labels: { app: 'server', tier: 'back' }, meshed: true, ready: true,
};
const services = new Map<string, ServiceRecord>([
  ['prod/server', { kind: 'service', key: 'prod/server', name: 'server', namespace: 'prod', clusterIP: '10.96.0.1', ports: [], selector: { app: 'server' } }],
  ['prod/other', { kind: 'service', key: 'prod/other', name: 'other', namespace: 'prod', clusterIP: '10.96.0.2', ports: [], selector: { app: 'other' } }],
]);

let n = 0;
function pol(action: PolicyRecord['action'], rules: PolicyRule[], extra: Partial<PolicyRecord> = {}): PolicyRecord {
  const name = extra.name ?? `p${++n}`;
  const namespace = extra.namespace ?? 'prod';
  return { kind: 'policy', key: `${namespace}/${name}`, name, namespace, meshWide: false, action, target: { kind: 'namespace' }, rules, ...extra };
}
function mp(name: string, namespace: string, scope: MeshPolicyRecord['scope'], settings: Partial<MeshPolicyRecord>): MeshPolicyRecord {
  return { kind: 'meshpolicy', key: `${namespace}/${name}`, name, namespace, scope, matchLabels: {}, ...settings };
}
const rule = (from: PolicyRule['from'] = [], to: PolicyRule['to'] = []): PolicyRule => ({ from, to });

const WEB = 'spiffe://cluster.local/ns/prod/sa/web';
const STAGING_WEB = 'spiffe://cluster.local/ns/staging/sa/web';
const PROD_DB = 'spiffe://cluster.local/ns/prod/sa/db';
const FOREIGN = 'spiffe://other.domain/ns/prod/sa/web';

function ctx(sourceIdentity: string | null, over: Partial<ConnectionContext> = {}): ConnectionContext {
  return { sourceIdentity, sourceAddress: '10.244.1.10', destination: server.key, destinationIdentity: server.identity, port: 8080, transport: sourceIdentity === null ? 'plaintext' : 'hbone', ...over };
}

interface Case {
  name: string;
  policies?: PolicyRecord[];
  mesh?: MeshPolicyRecord[];
  ctx: ConnectionContext;
  req?: HttpRequestAttributes;
  allowed: boolean;
  /** Exact, or a RegExp, for the deciding policy. */
  policy?: string | RegExp;
  audits?: string[];
}

const get = (path: string, headers: Record<string, string> = {}): HttpRequestAttributes => ({ method: 'GET', path, headers });

const cases: Case[] = [
  // Defaults
  { name: 'no policy at all: allowed by the mesh default', ctx: ctx(WEB), allowed: true, policy: 'weft:default' },
  { name: 'no policy: plaintext allowed (PERMISSIVE default)', ctx: ctx(null), allowed: true, policy: 'weft:default' },

  // from.identities, exact and wildcards
  { name: 'identity exact match allows', policies: [pol('ALLOW', [rule([{ identities: [WEB] }])], { name: 'allow-web' })], ctx: ctx(WEB), allowed: true, policy: 'prod/allow-web' },
  { name: 'identity mismatch: default-deny once an ALLOW selects', policies: [pol('ALLOW', [rule([{ identities: [WEB] }])], { name: 'allow-web' })], ctx: ctx(PROD_DB), allowed: false, policy: 'prod/allow-web' },
  { name: 'ns/*/sa/web matches web in any namespace', policies: [pol('ALLOW', [rule([{ identities: ['spiffe://cluster.local/ns/*/sa/web'] }])])], ctx: ctx(STAGING_WEB), allowed: true },
  { name: 'ns/*/sa/web does not match db', policies: [pol('ALLOW', [rule([{ identities: ['spiffe://cluster.local/ns/*/sa/web'] }])])], ctx: ctx(PROD_DB), allowed: false },
  { name: 'ns/prod/* matches every prod service account', policies: [pol('ALLOW', [rule([{ identities: ['spiffe://cluster.local/ns/prod/*'] }])])], ctx: ctx(PROD_DB), allowed: true },
  { name: 'ns/prod/* does not match staging', policies: [pol('ALLOW', [rule([{ identities: ['spiffe://cluster.local/ns/prod/*'] }])])], ctx: ctx(STAGING_WEB), allowed: false },
  { name: 'trust domain is part of the match', policies: [pol('ALLOW', [rule([{ identities: [WEB] }])])], ctx: ctx(FOREIGN), allowed: false },
  { name: '* matches any authenticated peer', policies: [pol('ALLOW', [rule([{ identities: ['*'] }])])], ctx: ctx(PROD_DB), allowed: true },
  { name: '* does not match an unauthenticated peer', policies: [pol('ALLOW', [rule([{ identities: ['*'] }])])], ctx: ctx(null), allowed: false },

  // from.namespaces / serviceAccounts
  { name: 'namespaces matches the source namespace', policies: [pol('ALLOW', [rule([{ namespaces: ['staging'] }])])], ctx: ctx(STAGING_WEB), allowed: true },
  { name: 'namespaces mismatch', policies: [pol('ALLOW', [rule([{ namespaces: ['staging'] }])])], ctx: ctx(WEB), allowed: false },
  { name: 'namespaces never matches plaintext', policies: [pol('ALLOW', [rule([{ namespaces: ['prod'] }])])], ctx: ctx(null), allowed: false },
  { name: 'serviceAccounts ns/name matches', policies: [pol('ALLOW', [rule([{ serviceAccounts: ['staging/web'] }])])], ctx: ctx(STAGING_WEB), allowed: true },
  { name: 'serviceAccounts: same name, other namespace does not match', policies: [pol('ALLOW', [rule([{ serviceAccounts: ['prod/web'] }])])], ctx: ctx(STAGING_WEB), allowed: false },

  // from.ipBlocks
  { name: 'ipBlocks contains the source', policies: [pol('ALLOW', [rule([{ ipBlocks: ['10.244.1.0/24'] }])])], ctx: ctx(null), allowed: true },
  { name: 'ipBlocks excludes the source', policies: [pol('ALLOW', [rule([{ ipBlocks: ['10.244.2.0/24'] }])])], ctx: ctx(null), allowed: false },
  { name: 'ipBlocks matches a v4-mapped v6 source as IPv4', policies: [pol('ALLOW', [rule([{ ipBlocks: ['10.0.0.0/8'] }])])], ctx: ctx(null, { sourceAddress: '::ffff:10.1.2.3' }), allowed: true },
  { name: 'ipBlocks IPv6', policies: [pol('ALLOW', [rule([{ ipBlocks: ['fd00::/8'] }])])], ctx: ctx(null, { sourceAddress: 'fd00::1' }), allowed: true },
  { name: 'ipBlocks family mismatch', policies: [pol('ALLOW', [rule([{ ipBlocks: ['fd00::/8'] }])])], ctx: ctx(null), allowed: false },

  // from.unauthenticated
  { name: 'unauthenticated: true matches plaintext', policies: [pol('ALLOW', [rule([{ unauthenticated: true }])])], ctx: ctx(null), allowed: true },
  { name: 'unauthenticated: true does not match an identity', policies: [pol('ALLOW', [rule([{ unauthenticated: true }])])], ctx: ctx(WEB), allowed: false },
  { name: 'unauthenticated: false matches only identities', policies: [pol('ALLOW', [rule([{ unauthenticated: false }])])], ctx: ctx(null), allowed: false },

  // Fields in one source AND; sources OR
  { name: 'AND within a source: namespace and ipBlock both needed', policies: [pol('ALLOW', [rule([{ namespaces: ['prod'], ipBlocks: ['10.9.0.0/16'] }])])], ctx: ctx(WEB), allowed: false },
  { name: 'OR across sources', policies: [pol('ALLOW', [rule([{ namespaces: ['staging'] }, { ipBlocks: ['10.244.0.0/16'] }])])], ctx: ctx(WEB), allowed: true },

  // to.ports
  { name: 'to.ports match', policies: [pol('ALLOW', [rule([], [{ ports: [8080] }])])], ctx: ctx(WEB), allowed: true },
  { name: 'to.ports mismatch', policies: [pol('ALLOW', [rule([], [{ ports: [9090] }])])], ctx: ctx(WEB), allowed: false },
  { name: 'from AND to in one rule', policies: [pol('ALLOW', [rule([{ identities: [WEB] }], [{ ports: [9090] }])])], ctx: ctx(WEB), allowed: false },

  // HTTP conditions at L4 and L7
  { name: 'L4: an ALLOW that needs methods cannot prove a TCP connection', policies: [pol('ALLOW', [rule([], [{ methods: ['GET'] }])])], ctx: ctx(WEB), allowed: false },
  { name: 'L4: a DENY with paths matches on its other conditions (fail closed)', policies: [pol('DENY', [rule([{ identities: [WEB] }], [{ paths: [{ type: 'prefix', value: '/admin' }] }])], { name: 'no-admin' })], ctx: ctx(WEB), allowed: false, policy: 'prod/no-admin' },
  { name: 'L7: method allowed', policies: [pol('ALLOW', [rule([], [{ methods: ['GET'] }])])], ctx: ctx(WEB), req: get('/'), allowed: true },
  { name: 'L7: method refused', policies: [pol('ALLOW', [rule([], [{ methods: ['GET'] }])])], ctx: ctx(WEB), req: { method: 'POST', path: '/', headers: {} }, allowed: false },
  { name: 'L7: exact path', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'exact', value: '/health' }] }])])], ctx: ctx(WEB), req: get('/health?x=1'), allowed: true },
  { name: 'L7: exact path is not a prefix', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'exact', value: '/health' }] }])])], ctx: ctx(WEB), req: get('/healthz'), allowed: false },
  { name: 'L7: prefix path', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'prefix', value: '/api/' }] }])])], ctx: ctx(WEB), req: get('/api/v1/x'), allowed: true },
  { name: 'L7: prefix path mismatch', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'prefix', value: '/api/' }] }])])], ctx: ctx(WEB), req: get('/apix'), allowed: false },
  { name: 'L7: header presence', policies: [pol('ALLOW', [rule([], [{ headers: [{ name: 'x-user', present: true }] }])])], ctx: ctx(WEB), req: get('/', { 'x-user': '' }), allowed: true },
  { name: 'L7: header absent', policies: [pol('ALLOW', [rule([], [{ headers: [{ name: 'x-user', present: true }] }])])], ctx: ctx(WEB), req: get('/'), allowed: false },
  { name: 'L7: header presence, the request\'s headers as a list (the forwarded form)', policies: [pol('ALLOW', [rule([], [{ headers: [{ name: 'x-user', present: true }] }])])], ctx: ctx(WEB), req: { method: 'GET', path: '/', headers: ['accept', '*/*', 'x-user', ''] }, allowed: true },
  { name: 'L7: header absent from a list; a value equal to the name does not count', policies: [pol('ALLOW', [rule([], [{ headers: [{ name: 'x-user', present: true }] }])])], ctx: ctx(WEB), req: { method: 'GET', path: '/', headers: ['accept', 'x-user'] }, allowed: false },
  { name: 'L7: present: false matches a list without the header', policies: [pol('DENY', [rule([], [{ headers: [{ name: 'x-debug', present: false }] }])])], ctx: ctx(WEB), req: { method: 'GET', path: '/', headers: ['x-debug-not', '1'] }, allowed: false },
  { name: 'L7: header required absent (present: false)', policies: [pol('DENY', [rule([], [{ headers: [{ name: 'x-debug', present: false }] }])])], ctx: ctx(WEB), req: get('/'), allowed: false },
  { name: 'L7: present: false does not match when the header is there', policies: [pol('DENY', [rule([], [{ headers: [{ name: 'x-debug', present: false }] }])])], ctx: ctx(WEB), req: get('/', { 'x-debug': '1' }), allowed: true },
  // What app servers still read differently after normalisation (agent/policy/path-match.ts, docs/policy.md).
  { name: 'L7: exact DENY also matches one trailing slash', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'exact', value: '/admin' }] }])])], ctx: ctx(WEB), req: get('/admin/'), allowed: false },
  { name: 'L7: exact DENY does not match two trailing slashes worth of path', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'exact', value: '/admin' }] }])])], ctx: ctx(WEB), req: get('/admin/x'), allowed: true },
  { name: 'L7: exact DENY matches with segment parameters stripped', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'exact', value: '/admin' }] }])])], ctx: ctx(WEB), req: get('/admin;jsessionid=1?x=1'), allowed: false },
  { name: 'L7: prefix DENY sees through parameters on an earlier segment', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'prefix', value: '/admin/users' }] }])])], ctx: ctx(WEB), req: get('/admin;a=b/users'), allowed: false },
  { name: 'L7: paths are case-sensitive', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'prefix', value: '/admin' }] }])])], ctx: ctx(WEB), req: get('/ADMIN'), allowed: true },
  { name: 'L7: ignoreCase prefix DENY matches any case', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'prefix', value: '/Admin', ignoreCase: true }] }])])], ctx: ctx(WEB), req: get('/aDMIN/x'), allowed: false },
  { name: 'L7: ignoreCase exact ALLOW matches any case', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'exact', value: '/health', ignoreCase: true }] }])])], ctx: ctx(WEB), req: get('/HEALTH'), allowed: true },
  { name: 'L7: a trailing slash on the rule itself is not dropped', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'exact', value: '/dir/' }] }])])], ctx: ctx(WEB), req: get('/dir//'), allowed: false },
  { name: 'L7: CONNECT meets a path DENY as opaque TCP does (its tunnel can carry /admin)', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'prefix', value: '/admin' }] }])], { name: 'no-admin' })], ctx: ctx(WEB), req: { method: 'CONNECT', path: '10.0.0.9:8080', headers: {} }, allowed: false, policy: 'prod/no-admin' },
  { name: 'L7: CONNECT meets a DENY on other methods too (the tunnel can carry any)', policies: [pol('DENY', [rule([], [{ methods: ['POST'] }])])], ctx: ctx(WEB), req: { method: 'connect', path: 'h:1', headers: {} }, allowed: false },
  { name: 'L7: a DENY for other sources still does not touch CONNECT', policies: [pol('DENY', [rule([{ identities: [PROD_DB] }], [{ paths: [{ type: 'prefix', value: '/admin' }] }])])], ctx: ctx(WEB), req: { method: 'CONNECT', path: 'h:1', headers: {} }, allowed: true },
  { name: 'L7: CONNECT is allowed by an ALLOW that names it', policies: [pol('ALLOW', [rule([], [{ methods: ['CONNECT'] }])])], ctx: ctx(WEB), req: { method: 'CONNECT', path: 'h:1', headers: {} }, allowed: true },
  { name: 'L7: CONNECT is not allowed by an ALLOW on paths', policies: [pol('ALLOW', [rule([], [{ paths: [{ type: 'prefix', value: '/' }] }])])], ctx: ctx(WEB), req: { method: 'CONNECT', path: 'h:1', headers: {} }, allowed: false },
  { name: 'L7: DENY on a path only denies that path', policies: [pol('DENY', [rule([], [{ paths: [{ type: 'prefix', value: '/admin' }] }])])], ctx: ctx(WEB), req: get('/public'), allowed: true },

  // Precedence
  { name: 'DENY wins over ALLOW', policies: [pol('ALLOW', [rule([{ identities: [WEB] }])], { name: 'a' }), pol('DENY', [rule([{ identities: [WEB] }])], { name: 'z-deny' })], ctx: ctx(WEB), allowed: false, policy: 'prod/z-deny' },
  { name: 'DENY that does not match leaves ALLOW to decide', policies: [pol('ALLOW', [rule([{ identities: [WEB] }])], { name: 'a' }), pol('DENY', [rule([{ identities: [PROD_DB] }])])], ctx: ctx(WEB), allowed: true, policy: 'prod/a' },
  { name: 'a DENY alone does not make the workload default-deny', policies: [pol('DENY', [rule([{ identities: [PROD_DB] }])])], ctx: ctx(WEB), allowed: true, policy: 'weft:default' },
  { name: 'ALLOW with no rules denies everything', policies: [pol('ALLOW', [], { name: 'nothing' })], ctx: ctx(WEB), allowed: false, policy: 'prod/nothing' },
  { name: 'ALLOW with one empty rule allows everything', policies: [pol('ALLOW', [rule()])], ctx: ctx(null), allowed: true },
  { name: 'DENY with no rules matches nothing', policies: [pol('DENY', [])], ctx: ctx(WEB), allowed: true },
  { name: 'several ALLOWs: any may allow', policies: [pol('ALLOW', [rule([{ identities: [PROD_DB] }])]), pol('ALLOW', [rule([{ identities: [WEB] }])], { name: 'second' })], ctx: ctx(WEB), allowed: true, policy: 'prod/second' },
  { name: 'no ALLOW matched: the decision names the ALLOW policies', policies: [pol('ALLOW', [rule([{ identities: [PROD_DB] }])], { name: 'a1' }), pol('ALLOW', [rule([{ identities: [PROD_DB] }])], { name: 'a2' })], ctx: ctx(WEB), allowed: false, policy: 'prod/a1,prod/a2' },

  // AUDIT
  { name: 'AUDIT matches, logs, allows', policies: [pol('AUDIT', [rule([{ identities: [WEB] }])], { name: 'watch' })], ctx: ctx(WEB), allowed: true, audits: ['prod/watch'] },
  { name: 'AUDIT does not make the workload default-deny', policies: [pol('AUDIT', [rule([{ identities: [PROD_DB] }])])], ctx: ctx(WEB), allowed: true, audits: [] },
  { name: 'AUDIT is reported even when a DENY decides', policies: [pol('AUDIT', [rule()], { name: 'all' }), pol('DENY', [rule()], { name: 'deny-all' })], ctx: ctx(WEB), allowed: false, policy: 'prod/deny-all', audits: ['prod/all'] },

  // Selection
  { name: 'another namespace\'s policy does not apply', policies: [pol('DENY', [rule()], { namespace: 'staging' })], ctx: ctx(WEB), allowed: true },
  { name: 'selector matching the labels applies', policies: [pol('DENY', [rule()], { target: { kind: 'selector', matchLabels: { app: 'server' } } })], ctx: ctx(WEB), allowed: false },
  { name: 'selector not matching does not apply', policies: [pol('DENY', [rule()], { target: { kind: 'selector', matchLabels: { app: 'server', tier: 'front' } } })], ctx: ctx(WEB), allowed: true },
  { name: 'Service target selects its pods', policies: [pol('DENY', [rule()], { target: { kind: 'service', name: 'server' } })], ctx: ctx(WEB), allowed: false },
  { name: 'matchExpressions In/NotIn/Exists/DoesNotExist all hold', policies: [pol('DENY', [rule()], { target: { kind: 'selector', matchLabels: {}, matchExpressions: [{ key: 'app', operator: 'In', values: ['server', 'x'] }, { key: 'tier', operator: 'NotIn', values: ['front'] }, { key: 'tier', operator: 'Exists', values: [] }, { key: 'canary', operator: 'DoesNotExist', values: [] }] } })], ctx: ctx(WEB), allowed: false },
  { name: 'matchExpressions: one failing requirement unselects', policies: [pol('DENY', [rule()], { target: { kind: 'selector', matchLabels: { app: 'server' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front'] }] } })], ctx: ctx(WEB), allowed: true },
  { name: 'matchExpressions: NotIn holds for a missing label', policies: [pol('DENY', [rule()], { target: { kind: 'selector', matchLabels: {}, matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] } })], ctx: ctx(WEB), allowed: false },
  { name: 'another Service does not select', policies: [pol('DENY', [rule()], { target: { kind: 'service', name: 'other' } })], ctx: ctx(WEB), allowed: true },
  { name: 'an unknown Service selects nothing', policies: [pol('DENY', [rule()], { target: { kind: 'service', name: 'gone' } })], ctx: ctx(WEB), allowed: true },
  { name: 'a mesh-wide policy (root namespace) applies everywhere', policies: [pol('DENY', [rule([{ namespaces: ['prod'] }])], { namespace: 'weft-system', name: 'global', meshWide: true })], ctx: ctx(WEB), allowed: false, policy: 'weft-system/global' },

  // MeshPolicy: mTLS and default inbound, most specific wins
  { name: 'STRICT refuses plaintext', mesh: [mp('m', 'prod', 'namespace', { mtls: 'STRICT' })], ctx: ctx(null), allowed: false, policy: 'prod/m' },
  { name: 'STRICT admits mTLS', mesh: [mp('m', 'prod', 'namespace', { mtls: 'STRICT' })], ctx: ctx(WEB), allowed: true },
  { name: 'STRICT is not overridden by an ALLOW for unauthenticated', policies: [pol('ALLOW', [rule([{ unauthenticated: true }])])], mesh: [mp('m', 'prod', 'namespace', { mtls: 'STRICT' })], ctx: ctx(null), allowed: false, policy: 'prod/m' },
  { name: 'PERMISSIVE delivers plaintext', mesh: [mp('m', 'prod', 'namespace', { mtls: 'PERMISSIVE' })], ctx: ctx(null), allowed: true },
  { name: 'default deny', mesh: [mp('m', 'prod', 'namespace', { defaultInbound: 'deny' })], ctx: ctx(WEB), allowed: false, policy: 'prod/m' },
  { name: 'default deny yields to an ALLOW', policies: [pol('ALLOW', [rule([{ identities: [WEB] }])], { name: 'ok' })], mesh: [mp('m', 'prod', 'namespace', { defaultInbound: 'deny' })], ctx: ctx(WEB), allowed: true, policy: 'prod/ok' },
  { name: 'authenticated-only admits an identity', mesh: [mp('m', 'prod', 'namespace', { defaultInbound: 'authenticated-only' })], ctx: ctx(WEB), allowed: true },
  { name: 'authenticated-only refuses plaintext', mesh: [mp('m', 'prod', 'namespace', { defaultInbound: 'authenticated-only' })], ctx: ctx(null), allowed: false, policy: 'prod/m' },
  { name: 'namespace beats mesh-wide', mesh: [mp('mesh', 'weft-system', 'mesh', { mtls: 'STRICT' }), mp('ns', 'prod', 'namespace', { mtls: 'PERMISSIVE' })], ctx: ctx(null), allowed: true, policy: 'weft:default' },
  { name: 'mesh-wide applies when nothing narrower does', mesh: [mp('mesh', 'weft-system', 'mesh', { mtls: 'STRICT' })], ctx: ctx(null), allowed: false, policy: 'weft-system/mesh' },
  { name: 'workload beats namespace', mesh: [mp('ns', 'prod', 'namespace', { mtls: 'STRICT' }), mp('wl', 'prod', 'workload', { mtls: 'PERMISSIVE', matchLabels: { app: 'server' } })], ctx: ctx(null), allowed: true },
  { name: 'a workload MeshPolicy not selecting this pod is ignored', mesh: [mp('ns', 'prod', 'namespace', { mtls: 'STRICT' }), mp('wl', 'prod', 'workload', { mtls: 'PERMISSIVE', matchLabels: { app: 'web' } })], ctx: ctx(null), allowed: false, policy: 'prod/ns' },
  { name: 'per setting: workload sets mtls, namespace still sets the default', mesh: [mp('ns', 'prod', 'namespace', { defaultInbound: 'deny' }), mp('wl', 'prod', 'workload', { mtls: 'PERMISSIVE', matchLabels: { app: 'server' } })], ctx: ctx(null), allowed: false, policy: 'prod/ns' },
  { name: 'another namespace\'s MeshPolicy does not apply', mesh: [mp('ns', 'staging', 'namespace', { mtls: 'STRICT' })], ctx: ctx(null), allowed: true },
  { name: 'DENY still applies under default allow and STRICT', policies: [pol('DENY', [rule([{ identities: [WEB] }])], { name: 'd' })], mesh: [mp('m', 'prod', 'namespace', { mtls: 'STRICT', defaultInbound: 'allow' })], ctx: ctx(WEB), allowed: false, policy: 'prod/d' },

  // Same-node traffic carries the local source identity
  { name: 'same-node: identity rules apply to the local path', policies: [pol('DENY', [rule([{ identities: [WEB] }])])], ctx: ctx(WEB, { transport: 'local' }), allowed: false },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const wp = compileWorkload(server, c.policies ?? [], c.mesh ?? [], (k) => services.get(k));
    const d = evaluate(wp, c.ctx, c.req);
    t.equal(d.allowed, c.allowed, `allowed=${c.allowed} (${d.policy}: ${d.reason})`);
    if (c.policy !== undefined) {
      if (typeof c.policy === 'string') t.equal(d.policy, c.policy);
      else t.match(d.policy, c.policy);
    }
    if (c.audits !== undefined) t.same(d.audits, c.audits);
  });
}
