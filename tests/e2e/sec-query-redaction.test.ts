// Secrets in query strings never leave the agent (issue 17 part 6), read from the real outputs of
// a running mesh: a client pod sends `?token=<secret>` to a meshed server, once allowed and once to
// a path a DENY policy refuses (with an AUDIT policy watching every request). The live tap on the
// agent's admin socket (what `weft tap` reads), the dashboard's tap (control's fan-out over the
// config stream), the agent's access log and its deny and audit lines all show the request with
// `token=REDACTED`, and no output holds the secret. With WEFT_QUERY_VALUES=full the operator
// sees the query as sent.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';

const secret = (): string => `sEcReT${randomBytes(8).toString('hex')}`;
const SECRET_OK = secret();
const SECRET_DENIED = secret();

const tb = await withTestbed(t, {
  name: 'sec-query-redaction',
  nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'server', namespace: 'demo' }] }],
});
const policy = (name: string, action: string, to: Record<string, unknown>[]): Record<string, unknown> => ({
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'demo' },
  spec: { selector: { matchLabels: { app: 'server' } }, action, rules: [{ to }] },
});
const cluster: ClusterSpec = {
  meshedNamespaces: ['demo'],
  services: [{ name: 'server', namespace: 'demo', clusterIP: '10.96.0.10', port: 80, targetPort: 8080, selector: 'server' }],
  extraObjects: [policy('no-admin', 'DENY', [{ paths: [{ prefix: '/admin' }] }]), policy('watch', 'AUDIT', [{ paths: [{ prefix: '/' }] }])],
};
const mesh = await Mesh.start(tb, {
  cluster,
  controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
  agentEnv: { WEFT_ACCESS_LOG: 'true', WEFT_SUMMARY_INTERVAL_MS: '1000' },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--name', 'server']);
await mesh.waitUntil(async () => {
  const p = (await mesh.admin('n1', '/config_dump/policies')).body as { policies: { workloads: Record<string, { deny: unknown[]; audit: unknown[] }> } };
  const w = p.policies.workloads['demo/server'];
  return w !== undefined && w.deny.length === 1 && w.audit.length === 1;
}, 20_000, 'n1 to enforce the DENY and AUDIT policies');
await mesh.waitUntil(() => mesh.dashboardUrl() !== null, 10_000, 'control to log the dashboard URL');

/** One GET from the client pod; the status it got. */
async function get(path: string): Promise<number> {
  const r = await mesh.runApp('client', 'l7-client.ts', ['get', '--url', `http://10.96.0.10${path}`]);
  return (r.stdout.at(-1) as { status?: number } | undefined)?.status ?? 0;
}

/** A tap consumer: every message as text, and a way to wait for one that matches. */
function tapClient(url: string): Promise<{ messages: string[]; until(pred: (m: string) => boolean, what: string): Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(String(m)));
    ws.on('error', reject);
    ws.on('open', () => resolve({
      messages,
      until: async (pred, what) => {
        let found: string | undefined;
        await mesh.waitUntil(() => (found = messages.find(pred)) !== undefined, 20_000, what);
        return found ?? '';
      },
      close: () => ws.close(),
    }));
  });
}

t.test('tap (admin socket and dashboard), access log, deny and audit lines: values redacted, names kept', async (t) => {
  const admin = await tapClient(`ws+unix://${mesh.adminSocket('n1')}:/tap?workload=server`);
  t.teardown(() => admin.close());
  const dashboard = await tapClient(`${(mesh.dashboardUrl() ?? '').replace(/^http/, 'ws')}api/tap?workload=server`);
  t.teardown(() => dashboard.close());
  // The dashboard's tap reaches the agent over the config stream: wait until control sent it.
  await dashboard.until((m) => m.includes('"type":"tap-started"') && m.includes('"n1"'), 'the dashboard tap to reach n1');
  await admin.until((m) => m.includes('"type":"tap-started"'), 'the admin tap to start');
  await new Promise((r) => setTimeout(r, 1500));

  t.equal(await get(`/?token=${SECRET_OK}&page=2`), 200, 'the allowed request is answered');
  t.equal(await get(`/admin/x?token=${SECRET_DENIED}`), 403, 'the /admin request is denied by policy');

  const okPath = '/?token=REDACTED&page=REDACTED';
  const deniedPath = '/admin/x?token=REDACTED';
  for (const [name, tap] of [['admin socket tap', admin], ['dashboard tap', dashboard]] as const) {
    const ev = await tap.until((m) => m.includes(`"path":"${okPath}"`), `${name}: the allowed request`);
    t.match(JSON.parse(ev), { type: 'request', path: okPath, status: 200 }, `${name}: the allowed request, redacted`);
    const denied = await tap.until((m) => m.includes(`"path":"${deniedPath}"`), `${name}: the denied request`);
    t.match(JSON.parse(denied), { type: 'request', path: deniedPath, status: 403 }, `${name}: the denied request, redacted`);
    const all = tap.messages.join('\n');
    t.notOk(all.includes(SECRET_OK) || all.includes(SECRET_DENIED), `${name}: no secret in ${tap.messages.length} messages`);
  }

  await mesh.waitUntil(() => mesh.agentLog('n1').includes(`"msg":"request denied by policy"`), 10_000, 'the deny line');
  const lines = mesh.agentLog('n1').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const access = lines.filter((l) => l.accessLog === true && l.type === 'request');
  t.ok(access.some((l) => l.path === okPath), 'access log: the allowed request, redacted');
  t.ok(access.some((l) => l.path === deniedPath), 'access log: the denied request, redacted');
  t.ok(lines.some((l) => l.msg === 'request denied by policy' && l.path === deniedPath && l.policy === 'demo/no-admin'), 'deny line: redacted path and the policy');
  t.ok(lines.some((l) => l.msg === 'policy audit' && l.path === okPath && l.policy === 'demo/watch'), 'audit line: redacted path');
  for (const [where, text] of [['the agent log', mesh.agentLog('n1')], ['control\'s log', mesh.controlLog()]] as const) {
    t.notOk(text.includes(SECRET_OK) || text.includes(SECRET_DENIED), `${where}: no secret`);
  }
});

t.test('WEFT_QUERY_VALUES=full: the operator sees the query as sent', async (t) => {
  await mesh.stopAgent('n1');
  await mesh.startAgent('n1', { WEFT_QUERY_VALUES: 'full' });
  await mesh.waitReady('n1');
  const shown = secret();
  t.equal(await get(`/admin/y?token=${shown}`), 403, 'denied');
  await mesh.waitUntil(() => mesh.agentLog('n1').includes(`/admin/y?token=${shown}`), 10_000, 'the full path in the log');
  const lines = mesh.agentLog('n1').split('\n').filter((l) => l.includes(shown)).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(lines.some((l) => l.msg === 'request denied by policy'), 'the deny line shows it');
  t.ok(lines.some((l) => l.accessLog === true), 'the access log shows it');
});
