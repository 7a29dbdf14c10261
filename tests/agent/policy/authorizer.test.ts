// The authorizer over a real AgentState: compiled per workload and rebuilt when policies change,
// live connections re-checked (a new DENY closes them, an unrelated change does not), one JSON log
// line per denial, counters by policy/source/destination, and the L7 hook.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { memoryLogger } from '../../../common/log.ts';
import type { PolicyRecord, ResourceRecord, WorkloadRecord, MeshPolicyRecord } from '../../../control/api/model.ts';
import { AgentState } from '../../../agent/state/index.ts';
import { checkRecord } from '../../../agent/state/record-check.ts';
import { Authorizer, DENIED_BY_HEADER } from '../../../agent/policy/authorizer.ts';
import { mergePolicyCounters, PolicyCounters, MAX_SERIES } from '../../../agent/policy/counters.ts';
import type { ConnectionContext } from '../../../agent/policy/evaluate.ts';

const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const DB = 'spiffe://cluster.local/ns/demo/sa/db';

function wl(name: string, node: string, ip: string): WorkloadRecord {
  return { kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node, ip, serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true };
}
const server = wl('server', 'n2', '10.244.2.10');
const other = wl('other', 'n2', '10.244.2.11');
const remote = wl('web', 'n1', '10.244.1.10');

function deny(name: string, identities: string[]): PolicyRecord {
  return { kind: 'policy', key: `demo/${name}`, name, namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'selector', matchLabels: { app: 'server' } }, rules: [{ from: [{ identities }], to: [] }] };
}
const strict: MeshPolicyRecord = { kind: 'meshpolicy', key: 'demo/strict', name: 'strict', namespace: 'demo', scope: 'namespace', matchLabels: {}, mtls: 'STRICT' };

function ctx(sourceIdentity: string | null, destination = server): ConnectionContext {
  return { sourceIdentity, sourceAddress: '172.31.0.11', destination: destination.key, destinationIdentity: destination.identity, port: 8080, transport: sourceIdentity === null ? 'plaintext' : 'hbone' };
}

function setup(records: ResourceRecord[] = [server, other, remote]) {
  const state = new AgentState();
  const log = memoryLogger();
  const authz = new Authorizer({ view: state, localNode: 'n2', log });
  state.onChange((c) => authz.onStateChange(c));
  state.applySnapshot(1, records);
  return { state, log, authz };
}

t.test('a new DENY closes the open connections it denies, and only those', async (t) => {
  const { state, log, authz } = setup();
  const closed: string[] = [];
  const a = authz.admit(ctx(WEB), (d) => closed.push(`web:${d.policy}`));
  const b = authz.admit(ctx(DB), () => closed.push('db'));
  const c = authz.admit(ctx(WEB, other), () => closed.push('web→other'));
  t.ok(a.decision.allowed && b.decision.allowed && c.decision.allowed);
  t.equal(authz.liveCount(), 3);
  t.equal(authz.liveCount('demo/server'), 2);

  // An unrelated change (a node) does not re-evaluate anything.
  const gen = authz.generation;
  state.applyDelta(2, [{ kind: 'node', key: 'n3', name: 'n3', address: '172.31.0.13' }], []);
  t.equal(authz.generation, gen, 'node changes cost nothing');
  state.applyDelta(2, [{ ...remote, ready: false }], []);
  t.equal(authz.generation, gen, 'nor do workloads on other nodes');

  state.applyDelta(3, [deny('no-web', [WEB])], []);
  t.same(closed, ['web:demo/no-web'], 'only the web → server connection was closed');
  t.equal(authz.liveCount(), 2);
  const line = log.lines.find((l) => l.msg === 'open connection closed by policy');
  t.match(line, { code: 'WEFT_ERR_POLICY_DENIED', policy: 'demo/no-web', sourceIdentity: WEB, destinationWorkload: 'demo/server', port: 8080 });
  t.match(authz.counters.toJSON(), { closed: 1, rows: [{ kind: 'closed', policy: 'demo/no-web', source: WEB, destination: 'demo/server', count: 1 }] });

  // Released connections are forgotten; a later policy does not touch them.
  b.release();
  b.release();
  state.applyDelta(4, [deny('no-db', [DB])], []);
  t.same(closed, ['web:demo/no-web'], 'db had been released');
  c.release();
  t.equal(authz.liveCount(), 0);
});

t.test('release works as a detached listener, and after a policy close it is a no-op', async (t) => {
  const { state, authz } = setup();
  const emitter = new EventEmitter();
  const a = authz.admit(ctx(WEB), () => undefined);
  const b = authz.admit(ctx(DB), () => undefined);
  emitter.once('close', a.release); // as socket-admission.ts hands it over: called with the emitter as this
  emitter.emit('close');
  t.equal(authz.liveCount('demo/server'), 1, 'only b is still watched');
  state.applyDelta(2, [deny('no-db', [DB])], []);
  t.equal(authz.liveCount(), 0, 'b was closed by policy');
  const c = authz.admit(ctx(WEB), () => undefined);
  b.release(); // late release of the closed entry must not remove the new one
  t.equal(authz.liveCount('demo/server'), 1);
  c.release();
  t.equal(authz.liveCount(), 0);
});

t.test('a new connection is decided with the current policy; denials are logged and counted', async (t) => {
  const { state, log, authz } = setup();
  state.applyDelta(2, [deny('no-web', [WEB])], []);
  const d = authz.admit(ctx(WEB), () => t.fail('a denied connection is never watched'));
  t.equal(d.decision.allowed, false);
  t.equal(authz.liveCount(), 0);
  t.match(log.lines.at(-1), { level: 'warn', msg: 'connection denied by policy', code: 'WEFT_ERR_POLICY_DENIED', policy: 'demo/no-web', sourceIdentity: WEB, sourceAddress: '172.31.0.11', destinationWorkload: 'demo/server', port: 8080, transport: 'hbone' });
  t.match(authz.counters.toJSON(), { denied: 1, rows: [{ kind: 'denied', policy: 'demo/no-web', source: WEB, destination: 'demo/server', count: 1 }] });
  // Removing the policy lets the next connection through.
  state.applyDelta(3, [], ['policy:demo/no-web']);
  t.equal(authz.admit(ctx(WEB), () => undefined).decision.allowed, true);
});

t.test('STRICT arriving later closes open plaintext connections', async (t) => {
  const { state, authz } = setup();
  let closed = 0;
  authz.admit(ctx(null), () => closed++);
  authz.admit(ctx(WEB), () => closed++);
  state.applyDelta(2, [strict], []);
  t.equal(closed, 1, 'the plaintext one only');
  t.match(authz.counters.toJSON().rows, [{ kind: 'closed', policy: 'demo/strict', source: 'unauthenticated' }]);
});

t.test('a label change that moves a workload under a DENY re-checks it', async (t) => {
  const { state, authz } = setup();
  state.applyDelta(2, [deny('no-web', [WEB])], []);
  let closed = 0;
  t.ok(authz.admit(ctx(WEB, other), () => closed++).decision.allowed, 'other is not selected');
  state.applyDelta(3, [{ ...other, labels: { app: 'server' } }], []);
  t.equal(closed, 1);
});

t.test('AUDIT: logged and counted, allowed', async (t) => {
  const { state, log, authz } = setup();
  const audit: PolicyRecord = { ...deny('watch', [WEB]), action: 'AUDIT' };
  state.applyDelta(2, [audit], []);
  t.equal(authz.authorizeConnection(ctx(WEB)).allowed, true);
  t.match(log.lines.at(-1), { level: 'info', msg: 'policy audit', policy: 'demo/watch', allowed: true, sourceIdentity: WEB });
  t.match(authz.counters.toJSON(), { audited: 1, denied: 0 });
});

t.test('L7 hook: authorizeRequest decides per request and names the policy', async (t) => {
  const { state, log, authz } = setup();
  const admin: PolicyRecord = {
    kind: 'policy', key: 'demo/no-admin', name: 'no-admin', namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'namespace' },
    rules: [{ from: [], to: [{ paths: [{ type: 'prefix', value: '/admin' }], methods: ['POST'] }] }],
  };
  const api: PolicyRecord = {
    kind: 'policy', key: 'demo/api', name: 'api', namespace: 'demo', meshWide: false, action: 'ALLOW', target: { kind: 'namespace' },
    rules: [{ from: [{ identities: [WEB] }], to: [{ methods: ['GET', 'POST'], paths: [{ type: 'prefix', value: '/' }] }] }],
  };
  state.applyDelta(2, [admin, api], []);
  t.equal(DENIED_BY_HEADER, 'weft-denied-by');
  t.match(authz.authorizeRequest(ctx(WEB), { method: 'GET', path: '/admin/x', headers: {} }), { allowed: true, policy: 'demo/api' });
  t.match(authz.authorizeRequest(ctx(WEB), { method: 'POST', path: '/admin/x', headers: {} }), { allowed: false, policy: 'demo/no-admin' });
  t.match(log.lines.at(-1), { msg: 'request denied by policy', method: 'POST', path: '/admin/x', policy: 'demo/no-admin' });
  t.match(authz.authorizeRequest(ctx(DB), { method: 'GET', path: '/', headers: {} }), { allowed: false, policy: 'demo/api' });
  t.match(authz.authorizeRequest(ctx(WEB), { method: 'DELETE', path: '/', headers: {} }), { allowed: false });
  // At L4 the same ALLOW cannot prove an opaque TCP connection (it needs methods/paths).
  t.equal(authz.authorizeConnection(ctx(WEB)).allowed, false);
});

t.test('an upgrade admitted as a request is decided, and re-decided after a change, as that request', async (t) => {
  const { state, log, authz } = setup();
  const chatOnly: PolicyRecord = {
    kind: 'policy', key: 'demo/chat', name: 'chat', namespace: 'demo', meshWide: false, action: 'ALLOW', target: { kind: 'namespace' },
    rules: [{ from: [], to: [{ paths: [{ type: 'exact', value: '/chat' }] }] }],
  };
  state.applyDelta(2, [chatOnly], []);
  const closed: string[] = [];
  const chat = { method: 'GET', path: '/chat', headers: { upgrade: 'websocket' } };
  // An ALLOW with a path rule cannot admit a connection at L4, but admits the request it is.
  t.equal(authz.admit(ctx(WEB), () => t.fail('never watched')).decision.allowed, false, 'as a bare connection: denied');
  const a = authz.admit(ctx(WEB), (d) => closed.push(`chat:${d.policy}`), chat);
  t.equal(a.decision.allowed, true, 'as the upgrade request GET /chat: allowed');
  const denied = authz.admit(ctx(WEB), () => t.fail('never watched'), { method: 'GET', path: '/admin', headers: {} });
  t.match(denied.decision, { allowed: false, policy: 'demo/chat' });
  t.match(log.lines.at(-1), { msg: 'request denied by policy', method: 'GET', path: '/admin' });
  t.equal(authz.liveCount(), 1, 'only the admitted upgrade is watched');
  // An unrelated policy change re-decides it as GET /chat (still allowed), not as a connection.
  state.applyDelta(3, [chatOnly, deny('no-db', [DB])], []);
  t.same(closed, [], 're-checked with its request: kept');
  state.applyDelta(4, [chatOnly, { ...deny('no-chat', []), rules: [{ from: [], to: [{ paths: [{ type: 'prefix', value: '/ch' }] }] }] }], []);
  t.same(closed, ['chat:demo/no-chat'], 'a DENY on its path cuts it');
  a.release();
});

t.test('dump: the compiled policies of local workloads, as plain JSON', async (t) => {
  const { state, authz } = setup();
  state.applyDelta(2, [deny('no-web', [WEB]), strict, { ...deny('cidr', []), rules: [{ from: [{ ipBlocks: ['10.0.0.0/8'] }], to: [{ ports: [8080] }] }] }], []);
  const dump = authz.dump();
  t.same(Object.keys(dump), ['demo/other', 'demo/server'], 'n2 workloads only');
  t.match(dump['demo/server'], {
    mtls: 'STRICT', mtlsFrom: 'demo/strict', defaultInbound: 'allow', defaultInboundFrom: 'weft:default',
    deny: [{ policy: 'demo/cidr', rules: [{ from: [{ ipBlocks: ['10.0.0.0/8'] }], to: [{ ports: [8080] }] }] }, { policy: 'demo/no-web', rules: [{ from: [{ identities: [WEB] }] }] }],
  });
  t.same(dump['demo/other'].deny, []);
  t.doesNotThrow(() => JSON.stringify(dump), 'serializable (no bigint, no Set)');
});

t.test('counters: bounded series, merged across workers', async (t) => {
  const c = new PolicyCounters();
  for (let i = 0; i < MAX_SERIES + 10; i++) c.add('denied', 'p', `spiffe://x/ns/a/sa/s${i}`, 'demo/server');
  const j = c.toJSON();
  t.equal(j.denied, MAX_SERIES + 10);
  t.equal(j.rows.length, MAX_SERIES + 1);
  t.match(j.rows.at(-1), { policy: '(other)', count: 10 });
  const a = new PolicyCounters();
  a.add('denied', 'p', null, 'd');
  const b = new PolicyCounters();
  b.add('denied', 'p', null, 'd');
  b.add('audited', 'q', WEB, 'd');
  t.same(mergePolicyCounters([a.toJSON(), b.toJSON()]), {
    denied: 2, audited: 1, closed: 0,
    rows: [{ kind: 'denied', policy: 'p', source: 'unauthenticated', destination: 'd', count: 2 }, { kind: 'audited', policy: 'q', source: WEB, destination: 'd', count: 1 }],
  });
});

t.test('policy records are checked on arrival', async (t) => {
  t.equal(checkRecord(deny('ok', [WEB])), null);
  t.equal(checkRecord(strict), null);
  t.match(checkRecord({ ...deny('x', ['not-spiffe']) }), /identity pattern "not-spiffe"/);
  t.match(checkRecord({ ...deny('x', []), rules: [{ from: [{ ipBlocks: ['10.0.0.0/99'] }], to: [] }] }), /prefix length/);
  t.match(checkRecord({ ...deny('x', []), action: 'MAYBE' }), /action must be/);
  t.match(checkRecord({ ...deny('x', []), target: { kind: 'pods' } }), /target is malformed/);
  t.match(checkRecord({ ...strict, mtls: 'SOMETIMES' }), /mtls must be/);
  t.match(checkRecord({ ...strict, defaultInbound: 'open' }), /defaultInbound must be/);
});

t.test('AgentState indexes policies; nodes are unaffected', async (t) => {
  const { state } = setup();
  state.applyDelta(2, [deny('a', [WEB]), strict, { kind: 'node', key: 'n2', name: 'n2', address: '172.31.0.12' }], []);
  t.same(state.authorizationPolicies().map((p) => p.key), ['demo/a']);
  t.same(state.meshPolicies().map((p) => p.key), ['demo/strict']);
  t.equal(state.nodeAddress('n2'), '172.31.0.12');
  state.applyDelta(3, [], ['policy:demo/a', 'meshpolicy:demo/strict']);
  t.same(state.authorizationPolicies(), []);
  t.same(state.meshPolicies(), []);
  t.equal(state.nodeAddress('n2'), '172.31.0.12', 'a policy removal never touches the node index');
});
