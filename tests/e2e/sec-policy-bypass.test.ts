// Ways around an L7 authorization policy (issue 17, parts 1 and 3), tried from a real pod against
// real backends on the testbed, with real clients: raw sockets (tests/apps/bad-input-client.ts)
// for Upgrade and CONNECT heads, curl for HTTP/1 and HTTP/2 prior knowledge, node:http2 for an h2
// CONNECT, tests/apps/tcp-client.ts for plain TCP. The oracle for "reached the app" is the
// backend's own log (tests/apps/l7-server.ts --log: one line per request, upgrade and CONNECT),
// not the agent's view. Every path is held to the one check (agent/policy/http-authz.ts): the
// same 403, `weft-error: WEFT_ERR_POLICY_DENIED`, `weft-denied-by`, deny log line and counter as a
// denied plain request.
//   - Upgrade / CONNECT: same node (onUpgrade, once spliced unchecked) and cross node (the
//     destination agent reads the head off an upgrade tunnel), allowed and denied by path/method;
//     an admitted WebSocket is cut when a later policy denies its request.
//   - ipBlocks on the same node, HTTP/1, HTTP/2 and TCP, ALLOW and DENY (the source address was
//     passed empty, so an ipBlocks ALLOW denied everyone and an ipBlocks DENY denied no one).
// In both redirect modes: WEFT_TEST_REDIRECT_MODE, or ebpf-sec-policy-bypass.test.ts.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import type { Scenario, ScenarioResult } from '../apps/bad-input-client.ts';
import { runScenarios } from './sec-helpers.ts';
import { tcpClient } from './helpers.ts';
import { testbedName, testRedirectMode } from '../ebpf/mode.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';

const tb = await withTestbed(t, {
  name: testbedName('sec-bypass'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'peer', namespace: 'demo' }, { name: 'near', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'far', namespace: 'demo' }] },
  ],
});
const base: ClusterSpec = { meshedNamespaces: ['demo'] };
const mesh = await Mesh.start(tb, { cluster: base, redirectMode: testRedirectMode(), controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' } });
t.teardown(() => mesh.stop());
const apps = {
  near: await mesh.startApp('near', 'l7-server.ts', ['--port', '8080', '--h2-port', '8081', '--name', 'near', '--log']),
  far: await mesh.startApp('far', 'l7-server.ts', ['--port', '8080', '--h2-port', '8081', '--name', 'far', '--log']),
};
await mesh.startApp('near', 'tcp-server.ts', ['--port', '9000']);
const ip = { near: tb.pod('near').ip, far: tb.pod('far').ip, client: tb.pod('client').ip, peer: tb.pod('peer').ip };
const nodeOf = { near: 'n1', far: 'n2' } as const;
type Server = keyof typeof nodeOf;

function authz(name: string, spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name, namespace: 'demo' }, spec };
}

interface PoliciesDump {
  version: number | null;
  workerVersions: (number | null)[];
  counters: { rows: Array<{ kind: string; policy: string; source: string; destination: string; count: number }> };
  workloads: Record<string, { deny: { policy: string }[]; allow: { policy: string }[] }>;
}
async function policies(node: string): Promise<PoliciesDump> {
  return ((await mesh.admin(node, '/config_dump/policies')).body as { policies: PoliciesDump }).policies;
}
/** Applies `objects` and waits until both agents (every worker) enforce exactly those policy names. */
async function apply(objects: Record<string, unknown>[]): Promise<void> {
  const want = objects.map((o) => `demo/${(o.metadata as { name: string }).name}`).sort().join();
  await mesh.writeCluster({ ...base, extraObjects: objects });
  for (const node of ['n1', 'n2']) {
    await mesh.waitUntil(async () => {
      const p = await policies(node);
      const local = node === 'n1' ? 'demo/near' : 'demo/far';
      const w = p.workloads[local];
      const names = w === undefined ? '' : [...w.deny, ...w.allow].map((x) => x.policy).sort().join();
      return names === want && p.workerVersions.every((v) => v === p.version);
    }, 20_000, `${node} to enforce ${want || 'no policy'}`);
  }
}
const deniedCount = async (server: Server, policy: string, source = 'spiffe://cluster.local/ns/demo/sa/client'): Promise<number> =>
  (await policies(nodeOf[server])).counters.rows.filter((r) => r.kind === 'denied' && r.policy === policy && r.source === source && r.destination === `demo/${server}`).reduce((a, r) => a + r.count, 0);

/** weft_policy_denials_total for a destination workload, on its node's /metrics. */
const deniedMetric = async (server: Server): Promise<number> =>
  sumOf(parseProm(String((await mesh.admin(nodeOf[server], '/metrics')).body)), 'weft_policy_denials_total', { destination_workload: server });

/** What the backend saw since `from` (its --log lines): requests, upgrades and CONNECTs with their paths. */
const seen = (server: Server, from: number): Array<{ event?: string; method?: string; path?: string }> =>
  apps[server].lines.slice(from) as Array<{ event?: string; method?: string; path?: string }>;

function raw(from: string, scenarios: Scenario[]): Promise<Map<string, ScenarioResult>> {
  return runScenarios((cmd, args) => tb.spawn(tb.pod(from).netns, cmd, args), scenarios);
}
const WS_HEAD = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const ws = (name: string, server: Server, path: string): Scenario =>
  ({ kind: 'raw', name, host: ip[server], port: 8080, send: `GET ${path} HTTP/1.1\r\nHost: ${server}\r\n${WS_HEAD}\r\n`, waitMs: 3000 });
const h2cUpgrade = (name: string, server: Server, path: string): Scenario =>
  ({ kind: 'raw', name, host: ip[server], port: 8080, send: `GET ${path} HTTP/1.1\r\nHost: ${server}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n`, waitMs: 3000 });
const connect = (name: string, server: Server): Scenario =>
  ({ kind: 'raw', name, host: ip[server], port: 8080, send: `CONNECT ${ip[server]}:8080 HTTP/1.1\r\nHost: ${ip[server]}:8080\r\n\r\nping`, waitMs: 3000 });

/** curl from a pod: status and the weft headers. */
async function curl(from: string, url: string, h2 = false): Promise<{ status: number; weftError: string | undefined; deniedBy: string | undefined }> {
  const r = await tb.exec(tb.pod(from).netns, 'curl', ['-s', '-o', '/dev/null', '-D', '-', '--max-time', '20', ...(h2 ? ['--http2-prior-knowledge'] : []), url]);
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1] ?? 0);
  return { status, weftError: /^weft-error: (\S+)/im.exec(r.stdout)?.[1], deniedBy: /^weft-denied-by: (\S+)/im.exec(r.stdout)?.[1] };
}

const deniedBy = (r: ScenarioResult | undefined): string | undefined => /\r\nweft-denied-by: (\S+)\r\n/i.exec(r?.response ?? '')?.[1];
const statusOf = (r: ScenarioResult | undefined): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(r?.response ?? '')?.[1] ?? 0);

t.test('Upgrade and CONNECT are authorized as requests, on the same node and across nodes', async (t) => {
  await apply([authz('no-admin', { action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }, { methods: ['CONNECT'] }] }] })]);
  const before = { near: apps.near.lines.length, far: apps.far.lines.length };
  const counted = { near: await deniedCount('near', 'demo/no-admin'), far: await deniedCount('far', 'demo/no-admin') };
  const metric = { near: await deniedMetric('near'), far: await deniedMetric('far') };
  const rows: Array<[Scenario, Server, 'denied' | 'allowed', string]> = [];
  for (const server of ['near', 'far'] as const) {
    const where = server === 'near' ? 'same node' : 'cross node';
    rows.push(
      [ws(`${where}: WebSocket to /admin/x`, server, '/admin/x'), server, 'denied', 'the upgrade is decided on its path before the splice'],
      [ws(`${where}: WebSocket to /chat`, server, '/chat'), server, 'allowed', 'a DENY on /admin leaves other upgrades alone (no L4 over-refusal)'],
      // No h2c upgrade through the mesh (h2c smuggling): it is served as the plain request it also is.
      [h2cUpgrade(`${where}: h2c upgrade to /admin`, server, '/admin'), server, 'denied', 'an h2c upgrade is decided as the plain request it is served as'],
      [connect(`${where}: CONNECT`, server), server, 'denied', 'a CONNECT is decided on its method'],
    );
  }
  const results = await raw('client', rows.map(([s]) => s));
  for (const [s, server, want, why] of rows) {
    const r = results.get(s.name);
    if (want === 'denied') {
      t.equal(statusOf(r), 403, `${s.name}: 403 (${why})`);
      t.match(r?.response, /\r\nweft-error: WEFT_ERR_POLICY_DENIED\r\n/i, `${s.name}: weft-error WEFT_ERR_POLICY_DENIED`);
      t.equal(deniedBy(r), 'demo/no-admin', `${s.name}: weft-denied-by names the policy`);
      // A refused upgrade or CONNECT closes; the h2c request was served as plain HTTP/1.1 (keep-alive).
      if (!s.name.includes('h2c')) t.ok(r?.closed, `${s.name}: the connection is closed after the 403`);
    } else {
      t.equal(statusOf(r), 101, `${s.name}: 101 Switching Protocols from the app (${why})`);
    }
    void server;
  }
  for (const server of ['near', 'far'] as const) {
    const got = seen(server, before[server]);
    t.same(got.filter((l) => l.event === 'upgrade').map((l) => l.path), ['/chat'], `${server}: the app saw only the allowed upgrade`);
    t.notOk(got.some((l) => l.event === 'connect' || (l.path ?? '').startsWith('/admin')), `${server}: no denied head reached the app`);
    t.equal(await deniedCount(server, 'demo/no-admin') - counted[server], 3, `${server}: each denial counted once under the policy, source and destination`);
    t.equal(await deniedMetric(server) - metric[server], 3, `${server}: and in weft_policy_denials_total{destination_workload="${server}"}`);
  }
  t.match(mesh.agentLog('n1'), /"msg":"request denied by policy","code":"WEFT_ERR_POLICY_DENIED","policy":"demo\/no-admin".*"destinationWorkload":"demo\/near".*"transport":"local","method":"GET","path":"\/admin\/x"/, 'same node: the deny log line of a request');
  t.match(mesh.agentLog('n2'), /"msg":"request denied by policy","code":"WEFT_ERR_POLICY_DENIED","policy":"demo\/no-admin".*"destinationWorkload":"demo\/far".*"transport":"hbone","method":"GET","path":"\/admin\/x"/, 'cross node: the destination agent logs it the same way');
  t.match(mesh.agentLog('n2'), /"msg":"request denied by policy".*"transport":"hbone","method":"CONNECT"/, 'and the CONNECT');

  // Plain requests through the same DENY, HTTP/1 and HTTP/2 prior knowledge: the same answer.
  for (const server of ['near', 'far'] as const) {
    for (const h2 of [false, true]) {
      const r = await curl('client', `http://${ip[server]}:${h2 ? 8081 : 8080}/admin/x`, h2);
      t.same(r, { status: 403, weftError: 'WEFT_ERR_POLICY_DENIED', deniedBy: 'demo/no-admin' }, `${server} ${h2 ? 'HTTP/2' : 'HTTP/1.1'} GET /admin/x: the same 403`);
    }
  }
});

t.test('an upgrade with an absolute-form target is not matched raw: made origin-form and normalised like any request, then denied', async (t) => {
  const before = apps.near.lines.length;
  const results = await raw('client', [
    { kind: 'raw', name: 'absolute-form upgrade', host: ip.near, port: 8080, send: `GET http://near//admin HTTP/1.1\r\nHost: near\r\n${WS_HEAD}\r\n`, waitMs: 3000 },
  ]);
  const r = results.get('absolute-form upgrade');
  t.equal(statusOf(r), 403);
  t.match(r?.response, /weft-error: WEFT_ERR_POLICY_DENIED/i);
  t.notOk(seen('near', before).some((l) => (l.path ?? '').includes('admin')), 'the app saw nothing of it');
});

t.test('HTTP/2 CONNECT and extended CONNECT from a pod never reach the app', async (t) => {
  const before = apps.near.lines.length;
  // node:http2 as the client: a CONNECT, and an RFC 8441 extended CONNECT (:protocol websocket),
  // which the agent never enables (no SETTINGS_ENABLE_CONNECT_PROTOCOL), so nghttp2 refuses it.
  const script = `
    const http2 = require('node:http2');
    const c = http2.connect('http://${ip.near}:8081');
    const out = {};
    const one = (name, headers) => new Promise((resolve) => {
      let r;
      try { r = c.request(headers); } catch (e) { out[name] = { thrown: e.code }; resolve(); return; }
      r.on('response', (h) => { out[name] = { status: h[':status'] }; });
      r.on('error', (e) => { out[name] = { ...(out[name] || {}), error: e.code }; });
      r.on('close', () => { out[name] = { ...(out[name] || {}), rst: r.rstCode }; resolve(); });
      r.resume(); r.end();
    });
    (async () => {
      await one('connect', { ':method': 'CONNECT', ':authority': '${ip.near}:8081' });
      await one('extended', { ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'http', ':path': '/chat', ':authority': 'near' });
      console.log(JSON.stringify(out));
      c.close();
    })();`;
  const r = await tb.exec(tb.pod('client').netns, process.execPath, ['-e', script]);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, { status?: number; error?: string; thrown?: string }>;
  t.equal(out.connect?.status, 405, 'h2 CONNECT: 405 from the agent, nothing spliced');
  t.notOk(out.extended?.status === 200, `extended CONNECT is not accepted (${JSON.stringify(out.extended)})`);
  t.notOk(seen('near', before).some((l) => l.method === 'CONNECT' || l.event !== undefined), 'the app saw neither');
});

t.test('an admitted WebSocket is cut when a later policy denies its request', async (t) => {
  await apply([]);
  // One client process per connection: a process runs its scenarios one after another.
  const waiting = Promise.all([
    raw('client', [{ kind: 'raw', name: 'held', host: ip.far, port: 8080, send: `GET /live HTTP/1.1\r\nHost: far\r\n${WS_HEAD}\r\n`, waitMs: 25_000 }]),
    raw('client', [{ kind: 'raw', name: 'held near', host: ip.near, port: 8080, send: `GET /live HTTP/1.1\r\nHost: near\r\n${WS_HEAD}\r\n`, waitMs: 25_000 }]),
  ]).then(([a, b]) => new Map([...a, ...b]));
  await mesh.waitUntil(() => seen('far', 0).some((l) => l.path === '/live') && seen('near', 0).some((l) => l.path === '/live'), 15_000, 'both WebSockets to be open');
  const started = Date.now();
  await apply([authz('no-live', { action: 'DENY', rules: [{ to: [{ paths: [{ exact: '/live' }] }] }] })]);
  const results = await waiting;
  for (const name of ['held', 'held near']) {
    const r = results.get(name);
    t.equal(statusOf(r), 101, `${name}: it was open`);
    t.ok(r?.closed, `${name}: and was cut by the new DENY (${Date.now() - started} ms after it was applied)`);
  }
  for (const node of ['n1', 'n2']) {
    t.ok((await policies(node)).counters.rows.some((r) => r.kind === 'closed' && r.policy === 'demo/no-live'), `${node}: counted as closed by demo/no-live`);
  }
});

t.test('ipBlocks on the same node see the client pod\'s address: HTTP/1, HTTP/2 and TCP', async (t) => {
  const near = `http://${ip.near}`;
  const tcpOk = async (from: string): Promise<boolean> => {
    try {
      return (await tcpClient(mesh, from, ip.near, 9000, 'echo', ['--bytes', '2000'], 30_000)).ok;
    } catch {
      return false;
    }
  };
  await apply([authz('only-client-ip', { action: 'ALLOW', rules: [{ from: [{ ipBlocks: [`${ip.client}/32`] }] }] })]);
  for (const h2 of [false, true]) {
    const proto = h2 ? 'HTTP/2' : 'HTTP/1.1';
    t.equal((await curl('client', `${near}:${h2 ? 8081 : 8080}/`, h2)).status, 200, `ALLOW ipBlocks [client/32], ${proto}: client allowed`);
    t.same(await curl('peer', `${near}:${h2 ? 8081 : 8080}/`, h2), { status: 403, weftError: 'WEFT_ERR_POLICY_DENIED', deniedBy: 'demo/only-client-ip' }, `${proto}: peer (another address) refused`);
  }
  t.ok(await tcpOk('client'), 'TCP: client allowed');
  t.notOk(await tcpOk('peer'), 'TCP: peer refused');

  await apply([authz('not-client-ip', { action: 'DENY', rules: [{ from: [{ ipBlocks: [`${ip.client}/32`] }] }] })]);
  for (const h2 of [false, true]) {
    const proto = h2 ? 'HTTP/2' : 'HTTP/1.1';
    t.same(await curl('client', `${near}:${h2 ? 8081 : 8080}/`, h2), { status: 403, weftError: 'WEFT_ERR_POLICY_DENIED', deniedBy: 'demo/not-client-ip' }, `DENY ipBlocks [client/32], ${proto}: client refused`);
    t.equal((await curl('peer', `${near}:${h2 ? 8081 : 8080}/`, h2)).status, 200, `${proto}: peer allowed`);
  }
  t.notOk(await tcpOk('client'), 'TCP: client refused');
  t.ok(await tcpOk('peer'), 'TCP: peer allowed');
  t.match(mesh.agentLog('n1'), new RegExp(`"msg":"request denied by policy".*"policy":"demo/not-client-ip".*"sourceAddress":"${ip.client.replace(/\./g, '\\.')}"`), 'the deny log names the client pod\'s address');
  await apply([]);
});

