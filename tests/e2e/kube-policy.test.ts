// Weft on the testbed with a real kube-apiserver v1.28.7 as the cluster (tests/kube/): Pods,
// Services and Nodes created through the API with the status a kubelet would set, EndpointSlices
// from the real controller, control discovering everything through informers as its own
// ServiceAccount (the chart's RBAC, not admin) and attesting agents by TokenReview of pod-bound
// projected tokens. What a user does with kubectl then takes effect on both nodes: a DENY
// AuthorizationPolicy (same-node and cross-node requests refused, the app never reached) and its
// deletion, an HTTPRoute's timeout and retry policy, and a Pod made unready leaves the rotation.
//
// Runs in the redirect mode of WEFT_TEST_REDIRECT_MODE (ebpf-kube-policy.test.ts sets ebpf).
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { startTestbedKube } from '../kube/testbed-kube.ts';
import { SANDBOX_DENY_POLICY } from '../../scripts/sandbox-kube-examples.ts';
import { testbedName, testRedirectMode } from '../ebpf/mode.ts';
import type { RunningApp } from '../apps/spawn-app.ts';

const mode = testRedirectMode();
const WEB = '10.96.0.20';
const API = '10.96.0.21';

const tb = await withTestbed(t, {
  name: testbedName('kube-pol', mode),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web-1', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web-2', namespace: 'demo' }, { name: 'api-1', namespace: 'demo' }] },
  ],
});
const spec: ClusterSpec = {
  meshedNamespaces: ['demo'],
  services: [
    { name: 'web', namespace: 'demo', clusterIP: WEB, port: 80, targetPort: 8080, selector: 'web' },
    { name: 'api', namespace: 'demo', clusterIP: API, port: 80, targetPort: 8080, selector: 'api' },
  ],
};
const cluster = await startTestbedKube(t, testbedName('kube-policy', mode), tb.model, spec);
if (cluster !== null) {
  const { kube } = cluster;
  const mesh = await Mesh.start(tb, { cluster: spec, redirectMode: mode, controlEnv: cluster.controlEnv, tokens: cluster.tokens });
  t.teardown(() => mesh.stop());

  const servers = new Map<string, RunningApp>();
  for (const pod of ['web-1', 'web-2', 'api-1']) servers.set(pod, await mesh.startApp(pod, 'l7-server.ts', ['--port', '8080', '--name', pod, '--log']));
  const served = (pod: string): number => servers.get(pod)!.lines.length;
  const podUrl = (pod: string, path = '/'): string => `http://${tb.pod(pod).ip}:8080${path}`;

  interface Load { statuses: Record<string, number>; byName: Record<string, number>; errors?: Record<string, number> }
  async function client(args: string[]): Promise<Record<string, unknown>> {
    const r = await mesh.runApp('client', 'l7-client.ts', args, 60_000);
    const last = r.stdout[r.stdout.length - 1];
    if (last === undefined) throw new Error(`l7-client printed nothing (exit ${r.code}): ${r.stderr}`);
    return last;
  }
  const load = (url: string, n: number): Promise<Load> => client(['load', '--urls', url, '--requests', String(n), '--concurrency', '2']) as Promise<unknown> as Promise<Load>;
  const get = (url: string): Promise<{ ok: boolean; status?: number; headers?: Record<string, string>; body?: Record<string, unknown>; error?: string }> => client(['get', '--url', url]) as never;

  interface PoliciesDump {
    version: number | null;
    workerVersions: (number | null)[];
    workloads: Record<string, { deny: { policy: string }[] }>;
  }
  const denies = async (node: string, workload: string): Promise<string[] | null> => {
    const p = ((await mesh.admin(node, '/config_dump/policies')).body as { policies: PoliciesDump }).policies;
    if (!p.workerVersions.every((v) => v === p.version)) return null;
    return (p.workloads[workload]?.deny ?? []).map((d) => d.policy);
  };
  /** Polls both destination agents (every 100 ms) until `pred` holds for both; returns the elapsed ms. */
  async function enforcedOnBoth(pred: (denies: string[]) => boolean, what: string): Promise<number> {
    const t0 = Date.now();
    await mesh.waitUntil(async () => {
      const [a, b] = await Promise.all([denies('n1', 'demo/web-1'), denies('n2', 'demo/web-2')]);
      return a !== null && b !== null && pred(a) && pred(b);
    }, 20_000, what);
    return Date.now() - t0;
  }

  // The DENY policy docs/install.md shows and the sandbox prints: demo/client → app=web.
  const denyClient = SANDBOX_DENY_POLICY;
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
  namespace: demo
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: api
      port: 80
  rules:
    - matches:
        - path: { type: PathPrefix, value: /delay }
      timeouts:
        request: 500ms
      backendRefs:
        - name: api
          port: 80
    - matches:
        - path: { type: PathPrefix, value: /fail-until }
      retry:
        attempts: 3
        codes: [503]
        backoff: 10ms
      backendRefs:
        - name: api
          port: 80
`;

  t.test('control runs as its own ServiceAccount and serves the cluster it discovered', async (t) => {
    t.match(mesh.controlLog(), /"msg":"ready"/);
    const whoami = await kube.kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig: cluster.kubeconfig });
    t.equal(whoami.stdout, 'system:serviceaccount:weft-system:weft-control', `control's kubeconfig is its ServiceAccount (${whoami.stderr})`);
    const r = await load(`http://${WEB}/`, 40);
    t.same(r.statuses, { 200: 40 }, 'every request through the Service VIP is answered');
    // The balancer is latency-aware: a burst may all go to the faster, same-node endpoint. What it
    // promises is that an idle endpoint's estimate decays and it is tried again, so both serve
    // within a few batches — proof that control discovered both from the real EndpointSlices.
    const served: Record<string, number> = { ...r.byName };
    await mesh.waitUntil(async () => {
      const more = await load(`http://${WEB}/`, 20);
      for (const [name, n] of Object.entries(more.byName)) served[name] = (served[name] ?? 0) + n;
      return (served['web-1'] ?? 0) > 0 && (served['web-2'] ?? 0) > 0;
    }, 30_000, 'both endpoints to serve');
    t.ok((served['web-1'] ?? 0) > 0 && (served['web-2'] ?? 0) > 0, `both endpoints serve (${JSON.stringify(served)})`);
  });

  t.test('a DENY AuthorizationPolicy applied with kubectl is enforced on both nodes within a second', async (t) => {
    const applied = await kube.kubectl(['apply', '-f', '-'], { input: denyClient });
    t.equal(applied.code, 0, `kubectl apply: ${applied.stdout}${applied.stderr}`);
    const ms = await enforcedOnBoth((d) => d.includes('demo/deny-client'), 'both agents to enforce demo/deny-client');
    t.ok(ms <= 1000, `both destination agents enforce it ${ms} ms after kubectl apply returned`);
    const before = { web1: served('web-1'), web2: served('web-2') };
    const same = await get(podUrl('web-1'));
    const cross = await get(podUrl('web-2'));
    const vip = await load(`http://${WEB}/`, 10);
    for (const [what, r] of [['same-node', same], ['cross-node', cross]] as const) {
      t.ok(r.status === 403 || !r.ok, `${what} request refused (${JSON.stringify({ status: r.status, error: r.error })})`);
      if (r.status === 403) t.match(String(r.headers?.['weft-denied-by'] ?? ''), /deny-client/, `${what}: the answer names the policy`);
    }
    t.equal((vip.statuses['200'] ?? 0), 0, `no request through the VIP is served (${JSON.stringify(vip)})`);
    await new Promise((r) => setTimeout(r, 300));
    t.same({ web1: served('web-1'), web2: served('web-2') }, before, 'neither app saw a request');
  });

  t.test('deleting the policy with kubectl lifts it', async (t) => {
    const deleted = await kube.kubectl(['delete', 'authorizationpolicy', '-n', 'demo', 'deny-client']);
    t.equal(deleted.code, 0, deleted.stderr);
    await enforcedOnBoth((d) => !d.includes('demo/deny-client'), 'both agents to drop demo/deny-client');
    t.equal((await get(podUrl('web-1'))).status, 200, 'same-node request answered by the app');
    t.equal((await get(podUrl('web-2'))).status, 200, 'cross-node request answered by the app');
    t.same((await load(`http://${WEB}/`, 10)).statuses, { 200: 10 }, 'and through the VIP');
  });

  t.test('an HTTPRoute timeout and retry policy applied with kubectl take effect', async (t) => {
    const slowBefore = await client(['timing', '--url', `http://${API}/delay/3000`]);
    t.equal(slowBefore.status, 200, 'without the route a slow answer is waited for');
    // The agent's default retries a 503 twice (WEFT_HTTP_RETRY_LIMIT): an endpoint that fails
    // three times still fails without the route.
    const failBefore = await get(`http://${API}/fail-until/3`);
    t.equal(failBefore.status, 503, 'and an endpoint failing three times is not waited out');
    const applied = await kube.kubectl(['apply', '-f', '-'], { input: route });
    t.equal(applied.code, 0, `kubectl apply: ${applied.stdout}${applied.stderr}`);
    const seen = await kube.must('GET', '/apis/gateway.networking.k8s.io/v1/namespaces/demo/httproutes/api');
    t.equal((seen.spec as { parentRefs: Array<{ kind: string }> }).parentRefs[0].kind, 'Service', 'the API server stored the route');
    let last: Record<string, unknown> = {};
    await mesh.waitUntil(async () => {
      last = await client(['timing', '--url', `http://${API}/delay/3000`]);
      return last.status === 504;
    }, 20_000, 'the route timeout to apply');
    t.equal(last.weftTimeout, 'request', 'answered 504 by the request timeout (weft-timeout: request)');
    t.ok((last.elapsedMs as number) < 3000, `after ${String(last.elapsedMs)} ms, before the app would have answered`);
    const fast = await client(['timing', '--url', `http://${API}/delay/10`]);
    t.equal(fast.status, 200, 'a fast request under the same rule passes');
    const apiLog = servers.get('api-1')!.lines;
    const from = apiLog.length;
    const retried = await get(`http://${API}/fail-until/3`);
    t.equal(retried.status, 200, 'the failing-first endpoint succeeds through the route\'s 3 retries');
    await new Promise((r) => setTimeout(r, 200));
    const attempts = apiLog.slice(from).filter((l) => l.path === '/fail-until/3').map((l) => [l.attempt, l.status]);
    t.same(attempts, [[0, 503], [1, 503], [2, 503], [3, 200]], 'the app saw the first try and three retries');
  });

  t.test('a Pod made unready leaves the rotation through the real EndpointSlice controller', async (t) => {
    await cluster.setReady('web-2', false);
    await cluster.waitEndpoints('demo', 'web', [tb.pod('web-1').ip]);
    let r: Load = { statuses: {}, byName: {} };
    await mesh.waitUntil(async () => {
      r = await load(`http://${WEB}/`, 20);
      return (r.byName['web-2'] ?? 0) === 0;
    }, 20_000, 'web-2 to leave the rotation');
    t.same(r.byName, { 'web-1': 20 }, 'only the ready endpoint serves');
    t.same(r.statuses, { 200: 20 }, 'and nothing fails');
    await cluster.setReady('web-2', true);
    await cluster.waitEndpoints('demo', 'web', [tb.pod('web-1').ip, tb.pod('web-2').ip]);
    const back: Record<string, number> = {};
    await mesh.waitUntil(async () => {
      r = await load(`http://${WEB}/`, 20);
      for (const [name, n] of Object.entries(r.byName)) back[name] = (back[name] ?? 0) + n;
      return (back['web-2'] ?? 0) > 0 && (back['web-1'] ?? 0) > 0;
    }, 30_000, 'web-2 to come back');
    t.ok((back['web-1'] ?? 0) > 0 && (back['web-2'] ?? 0) > 0, `both serve again (${JSON.stringify(back)})`);
  });
}
