// Weft on Kubernetes: control in the root namespace uses a REAL kube-apiserver v1.28.7 on
// 127.0.0.1 (tests/kube) as the cluster — informers for discovery, TokenReview for node
// attestation — running as the chart's weft-control ServiceAccount with the chart's RBAC; agents
// authenticate with real pod-bound projected ServiceAccount tokens; EndpointSlices come from the
// real controller. A pod reaches a Service VIP, connections spread over the ready endpoints,
// scaling the endpoints up and down is followed, a Service without ready endpoints fails fast with
// a clear reason, and an API server restart is ridden out. Skipped (with the reason) where the
// Kubernetes binaries are missing.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { startKubeTestbedCluster } from '../kube/testbed-cluster.ts';
import { HttpsCertificateSigner, generateCsr } from '../../agent/identity/index.ts';
import type { RunningApp } from '../apps/spawn-app.ts';
import { proxyStats, tcpClient } from './helpers.ts';
import { weftCheck } from './fault-load.ts';

const VIP = '10.96.0.20';
// A second Service over the same pods whose targetPort is a container port NAME, which each pod
// maps to its own number (web-3 does not name it at all).
const NAMED_VIP = '10.96.0.21';
const tb = await withTestbed(t, {
  name: 'k8s-svc',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'shop' }, { name: 'web-1', namespace: 'shop' }] },
    { name: 'n2', pods: [{ name: 'web-2', namespace: 'shop' }, { name: 'web-3', namespace: 'shop' }] },
  ],
});
const spec = (absentPods: string[]): ClusterSpec => ({
  meshedNamespaces: ['shop'],
  services: [
    { name: 'web', namespace: 'shop', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'web' },
    { name: 'web-named', namespace: 'shop', clusterIP: NAMED_VIP, port: 80, targetPort: 'web', selector: 'web' },
  ],
  namedPorts: { 'web-1': { web: 8080 }, 'web-2': { web: 9090 } },
  absentPods,
});
const cluster = await startKubeTestbedCluster(t, 'k8s-svc', tb.model, spec(['web-3']));
if (cluster !== null) {
  const mesh = await Mesh.start(tb, { cluster: spec(['web-3']), controlEnv: cluster.controlEnv, tokens: cluster.tokens });
  t.teardown(() => mesh.stop());

  const servers = new Map<string, RunningApp>();
  for (const p of ['web-1', 'web-2', 'web-3']) servers.set(p, await mesh.startApp(p, 'tcp-server.ts', ['--port', '8080', '--log']));
  const served = (): Record<string, number> => Object.fromEntries([...servers].map(([p, app]) => [p, app.lines.filter((l) => 'conn' in l).length]));
  const delta = (before: Record<string, number>): Record<string, number> => {
    const now = served();
    return Object.fromEntries(Object.keys(now).map((k) => [k, now[k] - (before[k] ?? 0)]));
  };

  async function records(node: string): Promise<number> {
    return ((await mesh.admin(node, '/config_dump/state')).body as { state: { records: number } }).state.records;
  }

  /** Applies a cluster change and waits until every agent's state has the expected record count. */
  async function scale(absent: string[], what: string): Promise<void> {
    const expected = (await records('n1')) + (absent.length < currentAbsent.length ? currentAbsent.length - absent.length : -(absent.length - currentAbsent.length));
    currentAbsent = absent;
    await cluster!.apply(spec(absent));
    for (const n of ['n1', 'n2']) await mesh.waitUntil(async () => (await records(n)) === expected, 30_000, `${what} to reach ${n}`);
  }
  let currentAbsent = ['web-3'];

  async function spread(t: { ok(v: unknown, m: string): unknown }, n: number): Promise<Record<string, number>> {
    const before = served();
    const r = await tcpClient(mesh, 'client', VIP, 80, 'echo', ['--bytes', '512', '--connections', String(n)]);
    t.ok(r.ok, `${n} connections through the VIP all succeeded`);
    // The server logs a connection when it ends; the client ends its side before the server's line.
    await mesh.waitUntil(() => Object.values(delta(before)).reduce((a, b) => a + b, 0) >= n, 10_000, 'servers to log every connection');
    return delta(before);
  }

  t.test('control discovered the cluster from the API server and attested agents by TokenReview', async (t) => {
    const dump = (await mesh.admin('n1', '/config_dump')).body as { control: { connected: boolean; synced: boolean } };
    t.match(dump.control, { connected: true, synced: true }, 'the agent was attested (its pod-bound token passed TokenReview) and synced');
    // default/kubernetes exists only in a real cluster: the model came from the API server.
    const state = (await mesh.admin('n1', '/config_dump/state')).body as { state: { localWorkloads: { key: string }[] } };
    t.ok(state.state.localWorkloads.some((w) => w.key === 'shop/client'), 'n1 runs shop/client, as the API says');
    const signer = new HttpsCertificateSigner({ socketPath: mesh.controlSocket, servername: 'weft-control.weft-system.svc', caPem: await mesh.caPem(), token: () => cluster.tokens.n1 });
    t.teardown(() => signer.close());
    const own = await signer.sign((await generateCsr('spiffe://cluster.local/ns/shop/sa/client')).csrPem);
    t.ok(own.certChain.length >= 1, 'n1 gets identities of pods on n1');
    await t.rejects(signer.sign((await generateCsr('spiffe://cluster.local/ns/demo/sa/other')).csrPem), { code: 'WEFT_ERR_CSR_FORBIDDEN' }, 'and nothing else');
    const agentPod = await cluster.kube.must('GET', '/api/v1/namespaces/weft-system/pods/weft-agent-n1');
    const foreign = await cluster.kube.serviceAccountToken('weft-system', 'weft-agent', { audiences: ['other-audience'], pod: { name: 'weft-agent-n1', uid: (agentPod.metadata as { uid: string }).uid } });
    const stranger = new HttpsCertificateSigner({ socketPath: mesh.controlSocket, servername: 'weft-control.weft-system.svc', caPem: await mesh.caPem(), token: () => foreign });
    t.teardown(() => stranger.close());
    await t.rejects(stranger.sign((await generateCsr('spiffe://cluster.local/ns/shop/sa/client')).csrPem), { code: 'WEFT_ERR_CSR_UNAUTHENTICATED', message: /audiences/ }, 'a token for another audience is refused');
  });

  t.test('a pod reaches the Service VIP and connections spread over the ready endpoints', async (t) => {
    const d = await spread(t, 30);
    t.ok(d['web-1'] > 0 && d['web-2'] > 0, `both ready endpoints served (${JSON.stringify(d)})`);
    t.equal(d['web-3'], 0, 'web-3 is not an endpoint yet');
  });

  t.test('a Service whose targetPort is a name reaches each pod on the port that pod gives the name', async (t) => {
    // web-2 calls its port 9090 "web": a server there, apart from the 8080 one the other Service uses.
    const web2Named = await mesh.startApp('web-2', 'tcp-server.ts', ['--port', '9090', '--log']);
    t.teardown(() => web2Named.stop());
    const conns = (): number => web2Named.lines.filter((l) => 'conn' in l).length;
    const before = served();
    const r = await tcpClient(mesh, 'client', NAMED_VIP, 80, 'echo', ['--bytes', '512', '--connections', '30']);
    t.ok(r.ok, `30 connections through ${NAMED_VIP}:80 (targetPort "web") all succeeded${r.ok ? '' : `: ${r.errors.join(', ')}`}`);
    await mesh.waitUntil(() => delta(before)['web-1'] + conns() >= 30, 10_000, 'servers to log every connection');
    const d = delta(before);
    t.ok(d['web-1'] > 0, `web-1 served on 8080, the number it gives "web" (${d['web-1']})`);
    t.ok(conns() > 0, `web-2 served on 9090, the number it gives "web" (${conns()})`);
    t.equal(d['web-2'], 0, 'and nothing reached web-2\'s unnamed 8080');
    const state = (await mesh.admin('n1', '/config_dump/state')).body as { state: { localWorkloads: { key: string; namedPorts?: Record<string, number> }[] } };
    t.same(state.state.localWorkloads.find((w) => w.key === 'shop/web-1')?.namedPorts, { web: 8080 }, 'the agent holds the pod\'s port names from the API server');
  });

  t.test('scaling up adds the new endpoint', async (t) => {
    await scale([], 'web-3 added');
    const d = await spread(t, 45);
    t.ok(d['web-1'] > 0 && d['web-2'] > 0 && d['web-3'] > 0, `all three endpoints served (${JSON.stringify(d)})`);
  });

  t.test('scaling down drops endpoints from new picks at once', async (t) => {
    await scale(['web-1', 'web-2'], 'web-1 and web-2 removed');
    const d = await spread(t, 20);
    t.same(d, { 'web-1': 0, 'web-2': 0, 'web-3': 20 }, 'only the remaining endpoint is picked');
  });

  t.test('a Service with no ready endpoint fails fast with a clear reason', async (t) => {
    await scale(['web-1', 'web-2', 'web-3'], 'every endpoint removed');
    const before = (await proxyStats(mesh, 'n1')).rejected;
    const r = await tcpClient(mesh, 'client', VIP, 80, 'echo', ['--bytes', '512'], 30_000);
    t.notOk(r.ok, 'the connection fails');
    t.ok(r.errors.some((e) => /ECONNRESET|reset/i.test(e)), `with a reset, not a hang (${r.errors.join(', ')})`);
    t.equal((await proxyStats(mesh, 'n1')).rejected - before, 1, 'the agent rejected it');
    t.match(mesh.agentLog('n1'), /WEFT_ERR_NO_ROUTE.*service shop\/web port 80 has no ready endpoints/, 'and says why');
    await scale([], 'endpoints back');
    const back = await spread(t, 6);
    t.ok(Object.values(back).reduce((a, b) => a + b, 0) === 6, 'and recovers when endpoints return');
  });

  t.test('a policy control refuses shows in weft check on every node; deleting it clears that', async (t) => {
    // Accepted by the API server (the CRD says "strings"), refused by control: not a CIDR.
    await cluster.kube.apply([{ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'bad-cidr', namespace: 'shop' }, spec: { action: 'DENY', rules: [{ from: [{ ipBlocks: ['10.0.0.0/33'] }] }] } }]);
    for (const n of ['n1', 'n2']) {
      await mesh.waitUntil(async () => (await weftCheck(mesh, n)).checks.some((c) => c.name === 'refused AuthorizationPolicy shop/bad-cidr'), 30_000, `${n}'s weft check to list the refused policy`);
      const row = (await weftCheck(mesh, n)).checks.find((c) => c.name === 'refused AuthorizationPolicy shop/bad-cidr');
      t.match(row, { group: 'control', status: 'warn', detail: /10\.0\.0\.0\/33.*not applied at all/ }, `${n}: named, with the reason`);
    }
    const d = await spread(t, 4);
    t.equal(Object.values(d).reduce((a, b) => a + b, 0), 4, 'traffic is unaffected');
    await cluster.kube.kubectl(['delete', '-n', 'shop', 'authorizationpolicies.weft.dev', 'bad-cidr']);
    await mesh.waitUntil(async () => (await weftCheck(mesh, 'n1')).checks.some((c) => c.name === 'cluster objects' && c.status === 'ok'), 30_000, 'the refusal to clear');
  });

  t.test('an API server restart is ridden out', async (t) => {
    await cluster.kube.killApiServer();
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.kube.startApiServer();
    await scale(['web-2'], 'change after API server restart');
    await scale(['web-2', 'web-3'], 'another change');
    const d = await spread(t, 10);
    t.same(d, { 'web-1': 10, 'web-2': 0, 'web-3': 0 });
  });
}
