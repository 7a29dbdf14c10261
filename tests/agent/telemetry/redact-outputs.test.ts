// Unit: every output that shows a request's path redacts its query values by default, and shows
// them only when the operator chose WEFT_QUERY_VALUES=full: the tap events and access log lines
// the recorder builds, and the policy deny and audit lines the authorizer writes. (The e2e test
// tests/e2e/sec-query-redaction.test.ts reads the same outputs from a running mesh.)
import t from 'tap';
import { memoryLogger } from '../../../common/log.ts';
import { AgentState } from '../../../agent/state/index.ts';
import { Authorizer } from '../../../agent/policy/authorizer.ts';
import type { ConnectionContext as PolicyContext } from '../../../agent/policy/evaluate.ts';
import { TelemetryRecorder } from '../../../agent/telemetry/recorder.ts';
import { TapBuffer, newTapFlag } from '../../../agent/telemetry/tap-buffer.ts';
import { queryRedactor } from '../../../agent/telemetry/redact-query.ts';
import { connectionContext, type HttpRequestEvent } from '../../../agent/telemetry/telemetry.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import type { PolicyRecord, WorkloadRecord } from '../../../control/api/model.ts';

const SECRET = 's3cr3t-7f1c';
const wl = (name: string): WorkloadRecord => ({
  kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node: 'n1', ip: '10.0.0.1',
  serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true,
});

function request(path: string): HttpRequestEvent {
  const connection = connectionContext({ direction: 'inbound', path: 'inbound_hbone', source: wl('client'), destination: wl('server'), tls: 'mutual', sourceAddress: '10.0.0.2:5000', destinationAddress: '10.0.0.1:8080' });
  return { connection, method: 'GET', status: 200, route: '', path, serverAddress: 'server', durationSeconds: 0.001, requestBytes: 0, responseBytes: 2, grpcStatus: null, retryAttempt: 0, timedOut: false };
}

function record(queryValues: 'redacted' | 'full' | undefined): { tap: unknown[]; log: string[] } {
  const flag = newTapFlag();
  Atomics.store(flag, 0, 1);
  const tapped: unknown[] = [];
  const log: string[] = [];
  const tap = new TapBuffer({ flag, post: (e) => tapped.push(...e), onDrop: () => undefined, maxBatch: 10, flushMs: 1 });
  const rec = new TelemetryRecorder({ tap, accessLog: (l) => log.push(l), queryValues });
  rec.request(request(`/orders/7?token=${SECRET}&page=2`));
  tap.close();
  return { tap: tapped, log };
}

t.test('the recorder: tap event and access log line', async (t) => {
  for (const mode of [undefined, 'redacted'] as const) {
    const { tap, log } = record(mode);
    t.equal(tap.length, 1, 'one tap event');
    t.match(tap[0], { type: 'request', path: '/orders/7?token=REDACTED&page=REDACTED' }, `tap (${mode ?? 'default'})`);
    t.equal(log.length, 1, 'one access log line');
    t.match(JSON.parse(log[0]), { accessLog: true, path: '/orders/7?token=REDACTED&page=REDACTED' }, `access log (${mode ?? 'default'})`);
    t.notOk(JSON.stringify(tap).includes(SECRET) || log[0].includes(SECRET), 'the secret is in neither');
  }
  const full = record('full');
  t.match(full.tap[0], { path: `/orders/7?token=${SECRET}&page=2` }, 'full: the tap shows the query as sent');
  t.match(JSON.parse(full.log[0]), { path: `/orders/7?token=${SECRET}&page=2` }, 'full: and the access log');
});

t.test('the authorizer: deny and audit lines', async (t) => {
  const server = wl('server');
  const deny: PolicyRecord = { kind: 'policy', key: 'demo/no-admin', name: 'no-admin', namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'namespace' }, rules: [{ from: [], to: [{ paths: [{ type: 'prefix', value: '/admin' }] }] }] };
  const audit: PolicyRecord = { ...deny, key: 'demo/watch', name: 'watch', action: 'AUDIT', rules: [{ from: [], to: [{ paths: [{ type: 'prefix', value: '/' }] }] }] };
  const ctx: PolicyContext = { sourceIdentity: wl('client').identity, sourceAddress: '10.0.0.2', destination: server.key, destinationIdentity: server.identity, port: 8080, transport: 'hbone' };
  for (const mode of ['default', 'full'] as const) {
    const state = new AgentState();
    const log = memoryLogger();
    const authz = new Authorizer({ view: state, localNode: 'n1', log, ...(mode === 'full' ? { outputPath: queryRedactor('full') } : {}) });
    state.onChange((c) => authz.onStateChange(c));
    state.applySnapshot(1, [server, deny, audit]);
    t.equal(authz.authorizeRequest(ctx, { method: 'GET', path: `/admin/x?token=${SECRET}`, headers: {} }).allowed, false, 'denied');
    const denied = log.lines.find((l) => l.msg === 'request denied by policy');
    const audited = log.lines.find((l) => l.msg === 'policy audit');
    const want = mode === 'full' ? `/admin/x?token=${SECRET}` : '/admin/x?token=REDACTED';
    t.match(denied, { path: want, policy: 'demo/no-admin' }, `${mode}: the deny line`);
    t.match(audited, { path: want, policy: 'demo/watch' }, `${mode}: the audit line`);
  }
});

t.test('WEFT_QUERY_VALUES: redacted by default, full by choice, nothing else', async (t) => {
  const env = (extra: Record<string, string>) => (k: string): string | undefined => ({ WEFT_NODE_NAME: 'n1', ...extra } as Record<string, string>)[k];
  t.equal(loadAgentConfig(env({})).queryValues, 'redacted');
  t.equal(loadAgentConfig(env({ WEFT_QUERY_VALUES: 'full' })).queryValues, 'full');
  t.throws(() => loadAgentConfig(env({ WEFT_QUERY_VALUES: 'some' })), { code: 'WEFT_ERR_CONFIG_INVALID' });
});
