// Authorization policy evaluation (agent/policy) over random policy sets, peers and requests.
// What must hold, whatever the policies:
//   - evaluation is total: it never throws and always names what decided;
//   - deny overrides: a DENY that matches everything refuses, whatever ALLOWs say;
//   - no allow without a matching rule: when ALLOW policies select the workload, an allowed
//     decision names one of them and the rule it names allows on its own, and a refusal for "no
//     ALLOW rule matched" means no single rule would have allowed;
//   - AUDIT never changes the outcome; STRICT refuses every unauthenticated peer;
//   - a connection allowed at L4 (opaque TCP, no request known) allows every request on it, so
//     carrying HTTP as TCP (a detection miss, an opaque port) can never widen access.
import t from 'tap';
import fc from 'fast-check';
import { compileWorkload, type WorkloadPolicy } from '../../agent/policy/compile.ts';
import { evaluate, type ConnectionContext, type HttpRequestAttributes } from '../../agent/policy/evaluate.ts';
import type { MeshPolicyRecord, PolicyAction, PolicyOperation, PolicyRecord, PolicyRule, PolicySource, WorkloadRecord } from '../../control/api/model.ts';
import { assertProperty, runs } from './fuzz.ts';

const RUNS = runs(2000);
const NS = ['demo', 'prod'];
const SA = ['web', 'api', 'db'];
const id = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
const workload: WorkloadRecord = {
  kind: 'workload', key: 'demo/server', uid: 'u', name: 'server', namespace: 'demo', node: 'n1', ip: '10.0.0.9',
  serviceAccount: 'server', identity: id('demo', 'server'), labels: { app: 'server' }, meshed: true, ready: true,
};

const ns = fc.constantFrom(...NS);
const sa = fc.constantFrom(...SA);
const source: fc.Arbitrary<PolicySource> = fc.record({
  identities: fc.array(fc.oneof(fc.constant('*'), fc.tuple(ns, sa).map(([a, b]) => id(a, b)), ns.map((a) => `spiffe://cluster.local/ns/${a}/*`)), { minLength: 1, maxLength: 2 }),
  namespaces: fc.array(ns, { minLength: 1, maxLength: 2 }),
  serviceAccounts: fc.array(fc.tuple(ns, sa).map(([a, b]) => `${a}/${b}`), { minLength: 1, maxLength: 2 }),
  ipBlocks: fc.array(fc.constantFrom('10.0.0.0/8', '10.1.0.0/16', '192.168.0.0/16', 'fd00::/8'), { minLength: 1, maxLength: 2 }),
  unauthenticated: fc.boolean(),
}, { requiredKeys: [] });
const operation: fc.Arbitrary<PolicyOperation> = fc.record({
  ports: fc.array(fc.constantFrom(80, 8080, 9090), { minLength: 1, maxLength: 2 }),
  methods: fc.array(fc.constantFrom('GET', 'POST', 'DELETE'), { minLength: 1, maxLength: 2 }),
  paths: fc.array(fc.record({ type: fc.constantFrom('exact' as const, 'prefix' as const), value: fc.constantFrom('/', '/api', '/api/v1', '/admin') }), { minLength: 1, maxLength: 2 }),
  headers: fc.array(fc.record({ name: fc.constantFrom('x-user', 'authorization'), present: fc.boolean() }), { minLength: 1, maxLength: 2 }),
}, { requiredKeys: [] });
const rule: fc.Arbitrary<PolicyRule> = fc.record({ from: fc.array(source, { maxLength: 2 }), to: fc.array(operation, { maxLength: 2 }) });
const policy = (action: fc.Arbitrary<PolicyAction>): fc.Arbitrary<PolicyRecord> => fc.record({
  name: fc.constantFrom('a', 'b', 'c', 'd', 'e'), action, rules: fc.array(rule, { maxLength: 3 }),
  target: fc.oneof(fc.constant({ kind: 'namespace' as const }), fc.constantFrom({ app: 'server' }, { app: 'other' }).map((matchLabels) => ({ kind: 'selector' as const, matchLabels }))),
}).map((p) => ({ kind: 'policy', key: `demo/${p.name}-${p.action}`, name: `${p.name}-${p.action}`, namespace: 'demo', meshWide: false, action: p.action, target: p.target, rules: p.rules }));
const mesh: fc.Arbitrary<MeshPolicyRecord[]> = fc.array(fc.record({ mtls: fc.constantFrom('STRICT' as const, 'PERMISSIVE' as const), defaultInbound: fc.constantFrom('allow' as const, 'deny' as const, 'authenticated-only' as const) }, { requiredKeys: [] })
  .map((m) => ({ kind: 'meshpolicy' as const, key: 'demo/mesh', name: 'mesh', namespace: 'demo', scope: 'namespace' as const, matchLabels: {}, ...m })), { maxLength: 1 });
const policies = fc.array(policy(fc.constantFrom<PolicyAction>('ALLOW', 'DENY', 'AUDIT')), { maxLength: 5 })
  .map((ps) => [...new Map(ps.map((p) => [p.key, p])).values()]);
const ctx: fc.Arbitrary<ConnectionContext> = fc.record({
  sourceIdentity: fc.option(fc.tuple(ns, sa).map(([a, b]) => id(a, b))),
  sourceAddress: fc.constantFrom('10.0.0.5', '10.1.2.3', '192.168.1.1', 'fd00::5', '', 'garbage'),
  port: fc.constantFrom(80, 8080, 9090),
  transport: fc.constantFrom('hbone' as const, 'local' as const, 'plaintext' as const),
}).map((c) => ({ ...c, destination: workload.key, destinationIdentity: workload.identity }));
const request: fc.Arbitrary<HttpRequestAttributes> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'get', 'PATCH'),
  path: fc.constantFrom('/', '/api', '/api/v1/x', '/apix', '/admin', '/admin?x=1', ''),
  headers: fc.dictionary(fc.constantFrom('x-user', 'authorization', 'other'), fc.string({ maxLength: 4 }), { maxKeys: 3 }),
});

const compile = (ps: PolicyRecord[], m: MeshPolicyRecord[]): WorkloadPolicy => compileWorkload(workload, ps, m, () => undefined);
const everything: PolicyRecord = { kind: 'policy', key: 'demo/zz-deny-all', name: 'zz-deny-all', namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'namespace' }, rules: [{ from: [], to: [] }] };

t.test('total, and deny overrides', async (t) => {
  assertProperty(fc.property(policies, mesh, ctx, fc.option(request), (ps, m, c, r) => {
    const d = evaluate(compile(ps, m), c, r ?? undefined);
    const denied = evaluate(compile([...ps, everything], m), c, r ?? undefined);
    return typeof d.allowed === 'boolean' && d.policy !== '' && !denied.allowed;
  }), RUNS);
  t.pass(`${RUNS} policy sets`);
});

t.test('no allow without a matching rule', async (t) => {
  assertProperty(fc.property(policies, mesh, ctx, fc.option(request), (ps, m, c, r) => {
    const wp = compile(ps, m);
    if (wp.allow.length === 0) return true;
    const d = evaluate(wp, c, r ?? undefined);
    const alone = (p: PolicyRecord, ruleIndex: number): boolean =>
      evaluate(compile([{ ...p, rules: [p.rules[ruleIndex]] }], m), c, r ?? undefined).allowed;
    const allows = ps.filter((p) => p.action === 'ALLOW' && wp.allow.some((a) => a.key === p.key));
    if (d.allowed) {
      const p = allows.find((x) => x.key === d.policy);
      const i = Number(/ALLOW rule (\d+) matched/.exec(d.reason)?.[1] ?? -1);
      return p !== undefined && i >= 0 && alone(p, i);
    }
    if (/no ALLOW rule matched/.test(d.reason)) return allows.every((p) => p.rules.every((_r, i) => !alone(p, i)));
    return true;
  }), RUNS);
  t.pass(`${RUNS} policy sets`);
});

t.test('AUDIT never decides; STRICT refuses the unauthenticated', async (t) => {
  assertProperty(fc.property(policies, mesh, ctx, fc.option(request), (ps, m, c, r) => {
    const all = evaluate(compile(ps, m), c, r ?? undefined);
    const noAudit = evaluate(compile(ps.filter((p) => p.action !== 'AUDIT'), m), c, r ?? undefined);
    const strict = evaluate(compile(ps, [{ kind: 'meshpolicy', key: 'demo/strict', name: 'strict', namespace: 'demo', scope: 'namespace', matchLabels: {}, mtls: 'STRICT' }]), { ...c, sourceIdentity: null }, r ?? undefined);
    return all.allowed === noAudit.allowed && !strict.allowed;
  }), RUNS);
  t.pass(`${RUNS} policy sets`);
});

t.test('allowed at L4 means allowed for every request (TCP never widens access)', async (t) => {
  assertProperty(fc.property(policies, mesh, ctx, fc.array(request, { minLength: 1, maxLength: 4 }), (ps, m, c, reqs) => {
    const wp = compile(ps, m);
    if (!evaluate(wp, c).allowed) return true;
    return reqs.every((r) => evaluate(wp, c, r).allowed);
  }), RUNS);
  t.pass(`${RUNS} policy sets`);
});
