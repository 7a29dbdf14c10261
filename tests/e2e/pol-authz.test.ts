// Authorization policy and mTLS modes on the testbed, enforced by the destination node's agent:
// allowed and denied identities (HBONE and same-node), plaintext that cannot bypass policy, STRICT
// vs PERMISSIVE for a pod outside the mesh, a new DENY closing an open connection, an identity that
// cannot be borrowed, untouched traffic where no policy applies, and invalid objects refused whole.
import t from 'tap';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { tcpClient } from './helpers.ts';

/**
 * Runs the sample client expecting a refusal: true when the connection was reset or refused.
 * (tcp-client can die of an unhandled write ECONNRESET when the reset races its first write;
 * that is a refusal too.)
 */
async function refused(pod: string, host: string, port = 8080): Promise<boolean> {
  try {
    const r = await tcpClient(mesh, pod, host, port, 'echo', ['--bytes', '2000'], 30_000);
    return !r.ok && r.errors.length > 0;
  } catch (err) {
    return /ECONNRESET|ECONNREFUSED|EPIPE/.test((err as Error).message);
  }
}

const ID = (sa: string, ns = 'demo'): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;

const tb = await withTestbed(t, {
  name: 'pol-authz',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }, { name: 'oclient', namespace: 'open' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }, { name: 'peer', namespace: 'demo' }, { name: 'osrv', namespace: 'open' }] },
  ],
});
const base: ClusterSpec = { meshedNamespaces: ['demo', 'open'] };
// Control's TCP listener on loopback port 0: the testbed only needs its unix socket, and another
// mesh on this machine may hold 15012 in the root namespace.
const mesh = await Mesh.start(tb, { cluster: base, controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' } });
t.teardown(() => mesh.stop());
const server = tb.pod('server').ip;
const osrv = tb.pod('osrv').ip;
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);
await mesh.startApp('peer', 'tcp-server.ts', ['--port', '8080']);
await mesh.startApp('osrv', 'tcp-server.ts', ['--port', '8080']);

function authz(name: string, spec: Record<string, unknown>, namespace = 'demo'): Record<string, unknown> {
  return { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec };
}
function meshPolicy(name: string, spec: Record<string, unknown>, namespace = 'demo'): Record<string, unknown> {
  return { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name, namespace }, spec };
}

interface PoliciesDump {
  version: number | null;
  workerVersions: (number | null)[];
  live: number;
  counters: { denied: number; audited: number; closed: number; rows: Array<{ kind: string; policy: string; source: string; destination: string; count: number }> };
  workloads: Record<string, { mtls: string; defaultInbound: string; deny: { policy: string }[]; allow: { policy: string }[]; audit: { policy: string }[] }>;
}

async function policies(node: string): Promise<PoliciesDump> {
  return ((await mesh.admin(node, '/config_dump/policies')).body as { policies: PoliciesDump }).policies;
}

/** Writes the cluster and waits until n2's agent and every worker enforce exactly `keys` for demo/server. */
async function apply(extra: Record<string, unknown>[], expect: (p: PoliciesDump) => boolean): Promise<void> {
  await mesh.writeCluster({ ...base, extraObjects: extra });
  await mesh.waitUntil(async () => {
    const p = await policies('n2');
    return expect(p) && p.workerVersions.every((v) => v === p.version);
  }, 20_000, 'n2 to enforce the new policies');
}
const names = (p: PoliciesDump, w = 'demo/server'): string[] => {
  const x = p.workloads[w];
  return x === undefined ? [] : [...x.deny, ...x.allow, ...x.audit].map((y) => y.policy).sort();
};

const allowClient = authz('allow-client', { selector: { matchLabels: { app: 'server' } }, action: 'ALLOW', rules: [{ from: [{ identities: [ID('client')] }], to: [{ ports: [8080] }] }] });

t.test('no policy: everything flows, and the dump shows the defaults', async (t) => {
  for (const pod of ['client', 'web', 'legacy']) t.ok((await tcpClient(mesh, pod, server, 8080, 'echo', ['--bytes', '2000'])).ok, `${pod} → server`);
  const p = await policies('n2');
  t.match(p.workloads['demo/server'], { mtls: 'PERMISSIVE', defaultInbound: 'allow', deny: [], allow: [] });
});

t.test('ALLOW by identity: client passes; web, the same-node peer and plaintext are refused', async (t) => {
  await apply([allowClient], (p) => names(p).includes('demo/allow-client'));
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'client (allowed identity) over HBONE');
  t.ok(await refused('web', server), 'web (another identity) is refused with a reset');
  t.ok(await refused('peer', server), 'same-node peer (local path) is refused too');
  // Plaintext straight to the pod IP from outside the mesh is captured and refused as well.
  t.ok(await refused('legacy', server), 'plaintext to the pod IP cannot bypass the policy');
  const p = await policies('n2');
  const rows = p.counters.rows.filter((r) => r.kind === 'denied' && r.policy === 'demo/allow-client');
  t.ok(rows.some((r) => r.source === ID('web') && r.destination === 'demo/server'), 'denial counted for web');
  t.ok(rows.some((r) => r.source === ID('peer')), 'and for the same-node peer');
  t.ok(rows.some((r) => r.source === 'unauthenticated'), 'and for plaintext');
  const log = mesh.agentLog('n2');
  t.match(log, /"msg":"connection denied by policy","code":"WEFT_ERR_POLICY_DENIED","policy":"demo\/allow-client".*"sourceIdentity":"spiffe:\/\/cluster\.local\/ns\/demo\/sa\/web".*"destinationWorkload":"demo\/server","port":8080,"transport":"hbone"/, 'one JSON line per denial');
  t.match(mesh.agentLog('n1'), /WEFT_ERR_POLICY_DENIED/, 'the source agent heard 403 + WEFT_ERR_POLICY_DENIED and reset the app');
  t.ok((await tcpClient(mesh, 'oclient', osrv, 8080, 'echo', ['--bytes', '2000'])).ok, 'a namespace without policies keeps flowing');
});

t.test('a valid certificate for another identity cannot pass as the allowed one', async (t) => {
  const probe = (identity: string, sni: string, target: string) =>
    tb.exec(tb.node('n1').netns, process.execPath, [
      fileURLToPath(new URL('../agent/policy/hbone-probe-cli.ts', import.meta.url)),
      '--control-socket', mesh.controlSocket, '--ca', join(mesh.caDir, 'ca.crt'), '--token-file', join(mesh.dir, 'token-n1'),
      '--identity', identity, '--sni-identity', sni, '--node', `${tb.node('n2').ip}:15008`, '--target', target,
    ]).then((r) => JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { status?: number; serverCode?: string });
  const asWeb = await probe(ID('web'), ID('server'), `${server}:8080`);
  t.match(asWeb, { status: 403, serverCode: 'WEFT_ERR_POLICY_DENIED' }, 'web\'s valid certificate makes it web, not client');
  const asClient = await probe(ID('client'), ID('server'), `${server}:8080`);
  t.match(asClient, { status: 200 }, 'the allowed identity opens the tunnel');
  const steered = await probe(ID('client'), ID('server'), `${tb.pod('peer').ip}:8080`);
  t.match(steered, { status: 421, serverCode: 'WEFT_ERR_PEER_IDENTITY' }, 'a CONNECT for a pod whose identity differs from the SNI identity is refused');
});

t.test('a new DENY closes an open connection', async (t) => {
  await apply([], (p) => names(p).length === 0);
  const trickle = await mesh.startApp('client', 'trickle-client.ts', ['--host', server, '--port', '8080', '--duration', '15000', '--interval', '50']);
  await mesh.waitUntil(async () => (await policies('n2')).live >= 1, 10_000, 'the connection to be watched');
  const denyClient = authz('deny-client', { action: 'DENY', rules: [{ from: [{ serviceAccounts: ['demo/client'] }] }] });
  await apply([denyClient], (p) => names(p).includes('demo/deny-client'));
  const [result] = await trickle.waitForLines(1, 20_000);
  t.equal(result.ok, false, 'the trickle connection was cut');
  t.ok((result.errors as string[]).includes('ECONNRESET'), `with a reset (${JSON.stringify(result.errors)})`);
  t.ok((result.durationMs as number) < 15_000, 'before it would have ended');
  const p = await policies('n2');
  t.ok(p.counters.rows.some((r) => r.kind === 'closed' && r.policy === 'demo/deny-client' && r.source === ID('client')), 'counted as closed by demo/deny-client');
  t.match(mesh.agentLog('n2'), /"msg":"open connection closed by policy","code":"WEFT_ERR_POLICY_DENIED","policy":"demo\/deny-client"/);
  t.ok((await tcpClient(mesh, 'web', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'other identities still pass');
});

t.test('mTLS STRICT refuses a pod outside the mesh; PERMISSIVE lets it in as unauthenticated', async (t) => {
  await apply([meshPolicy('mtls', { mtls: { mode: 'STRICT' } })], (p) => p.workloads['demo/server']?.mtls === 'STRICT');
  t.ok(await refused('legacy', server), 'STRICT: plaintext from the legacy namespace is refused');
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'STRICT: mTLS traffic flows');
  t.ok((await tcpClient(mesh, 'legacy', osrv, 8080, 'echo', ['--bytes', '2000'])).ok, 'another namespace is not STRICT');
  await apply([meshPolicy('mtls', { mtls: { mode: 'PERMISSIVE' } })], (p) => p.workloads['demo/server']?.mtls === 'PERMISSIVE');
  t.ok((await tcpClient(mesh, 'legacy', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'PERMISSIVE: plaintext is delivered');
  // Workload-level beats namespace-level.
  await apply([meshPolicy('mtls', { mtls: { mode: 'PERMISSIVE' } }), meshPolicy('server-strict', { selector: { matchLabels: { app: 'server' } }, mtls: { mode: 'STRICT' } })], (p) => p.workloads['demo/server']?.mtls === 'STRICT');
  t.ok(await refused('legacy', server), 'the workload MeshPolicy wins for server');
  t.ok((await tcpClient(mesh, 'legacy', tb.pod('peer').ip, 8080, 'echo', ['--bytes', '2000'])).ok, 'the namespace one still applies to peer');
});

t.test('an invalid policy is reported with a clear reason and never half-applied', async (t) => {
  const good = authz('deny-web', { action: 'DENY', rules: [{ from: [{ identities: [ID('web')] }] }] });
  await apply([good], (p) => names(p).join() === 'demo/deny-web');
  const bad = authz('broken', { action: 'DENY', rules: [{ from: [{ identities: [ID('client')] }, { ipBlocks: ['10.0.0.0/99'] }] }] });
  await mesh.writeCluster({ ...base, extraObjects: [authz('deny-web', { action: 'DENY', rules: [{ from: [{ identities: ['spiffe://cluster.local/ns/demo/sa/nobody'] }] }] }), bad] });
  await mesh.waitUntil(() => mesh.controlLog().includes('WEFT_ERR_POLICY_INVALID'), 20_000, 'control to report the invalid policy');
  t.match(mesh.controlLog(), /"code":"WEFT_ERR_POLICY_INVALID","message":"[^"]*AuthorizationPolicy \\"demo\/broken\\" is invalid — spec\.rules\[0\]\.from\[1\]\.ipBlocks\[0\]: \\"10\.0\.0\.0\/99\\" is not a CIDR: prefix length \\"99\\" must be 0–32/);
  const p = await policies('n2');
  t.same(names(p), ['demo/deny-web'], 'the last good policies stay: neither the broken one nor the rest of that load');
  t.ok(await refused('web', server), 'the last good DENY is still enforced');
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'and the rest keeps flowing');
  await apply([], (q) => names(q).length === 0);
  t.ok((await tcpClient(mesh, 'web', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'a valid load replaces it');
});

t.test('AUDIT logs and counts, and lets the traffic through', async (t) => {
  await apply([authz('watch-client', { action: 'AUDIT', rules: [{ from: [{ identities: [ID('client')] }] }] })], (p) => names(p).join() === 'demo/watch-client');
  t.ok((await tcpClient(mesh, 'client', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'audited traffic flows');
  t.ok((await tcpClient(mesh, 'web', server, 8080, 'echo', ['--bytes', '2000'])).ok, 'AUDIT does not make the workload default-deny');
  const p = await policies('n2');
  t.ok(p.counters.rows.some((r) => r.kind === 'audited' && r.policy === 'demo/watch-client' && r.source === ID('client') && r.destination === 'demo/server'), 'counted by policy, source and destination');
  t.notOk(p.counters.rows.some((r) => r.kind === 'audited' && r.source === ID('web')), 'web did not match the AUDIT rule');
  t.match(mesh.agentLog('n2'), /"msg":"policy audit","policy":"demo\/watch-client","allowed":true/);
});
