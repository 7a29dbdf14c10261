// The kubernetes discovery source against a real kube-apiserver v1.28.7, running as the chart's
// weft-control ServiceAccount with only the chart's ClusterRole (not as admin):
//   - weft.dev AuthorizationPolicy and MeshPolicy applied with kubectl reach the model;
//   - the API server validates them with the chart's CRD schema (its message, not ours);
//   - an object the API server accepts but control cannot use is refused ALONE: named in the log,
//     counted on /metrics, listed in the `refused` record, and its last good version stays;
//   - HTTPRoute: no CRD yet is not an error (said once, control serves); the CRD appearing starts
//     the informer; v1beta1 is watched until v1 is served, then v1; deleting the CRD drops them;
//   - an API server restart: the model stays and later changes arrive;
//   - the chart's RBAC is exactly enough (kubectl auth can-i).
// The HTTPRoute CRD is a minimal structural stand-in (chart-objects.ts says why).
import t from 'tap';
import { memoryLogger } from '../../common/log.ts';
import type { MeshPolicyRecord, PolicyRecord, RefusedRecord, ResourceRecord, RouteRecord } from '../../control/api/model.ts';
import { KubernetesSource } from '../../control/discovery/kubernetes-source.ts';
import { withKubeCluster } from './kube-cluster.ts';
import { CHART_NAMESPACE, gatewayApiCrd, installChartAccess, waitEstablished } from './chart-objects.ts';

const kube = await withKubeCluster(t, { name: 'discovery-crds' });

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (kube !== null) {
  const { kubeconfig } = await installChartAccess(kube);
  await kube.apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'weft.dev/mesh': 'enabled' } } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
    { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-batch', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ from: [{ serviceAccounts: ['shop/batch'] }], to: [{ ports: [8080], paths: [{ prefix: '/admin/' }] }] }] } },
  ]);

  const log = memoryLogger('k8s');
  const source = new KubernetesSource({ kubeconfig, trustDomain: 'cluster.local', log, debounceMs: 20, retryInitialMs: 100, retryMaxMs: 1000, crdProbeIntervalMs: 300, startTimeoutMs: 30_000 });
  const sets: ResourceRecord[][] = [];
  t.teardown(() => source.stop());
  await source.start((r) => sets.push(r));
  const latest = (): Map<string, ResourceRecord> => new Map((sets[sets.length - 1] ?? []).map((r) => [`${r.kind}:${r.key}`, r]));
  const refused = (): RefusedRecord | undefined => latest().get('refused:discovery') as RefusedRecord | undefined;

  t.test('as its own ServiceAccount, control lists every kind; HTTPRoute without its CRD is not an error', async (t) => {
    const policy = latest().get('policy:shop/deny-batch') as PolicyRecord;
    t.match(policy, {
      kind: 'policy', name: 'deny-batch', namespace: 'shop', action: 'DENY', meshWide: false,
      target: { kind: 'selector', matchLabels: { app: 'web' } },
      rules: [{ from: [{ serviceAccounts: ['shop/batch'] }], to: [{ ports: [8080], paths: [{ type: 'prefix', value: '/admin/' }] }] }],
    }, 'the policy that existed before start is in the first set');
    t.ok(latest().has('service:shop/web'));
    t.equal(source.status().find((s) => s.kind === 'HTTPRoute')?.apiVersion, null, 'HTTPRoute not watched');
    await new Promise((r) => setTimeout(r, 1000)); // a few probe rounds
    const said = log.lines.filter((l) => String(l.msg).startsWith('custom resource not served'));
    t.same(said.map((l) => l.kind), ['HTTPRoute'], 'said once, for HTTPRoute only');
    t.notOk(log.lines.some((l) => l.level === 'warn' || l.level === 'error'), 'no warning: nothing is wrong');
  });

  t.test('policies applied with kubectl reach the model; deleting one lifts it', async (t) => {
    await kube.apply([
      { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'default', namespace: CHART_NAMESPACE }, spec: { mtls: { mode: 'STRICT' }, defaultInbound: 'authenticated-only' } },
      { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'allow-web', namespace: 'shop' }, spec: { targetRef: { kind: 'Service', name: 'web' }, action: 'ALLOW', rules: [{ from: [{ ipBlocks: ['10.244.0.0/16'] }] }] } },
    ]);
    await until('both policies', () => latest().has('meshpolicy:weft-system/default') && latest().has('policy:shop/allow-web'));
    t.match(latest().get('meshpolicy:weft-system/default') as MeshPolicyRecord, { scope: 'mesh', mtls: 'STRICT', defaultInbound: 'authenticated-only' });
    t.match(latest().get('policy:shop/allow-web') as PolicyRecord, { action: 'ALLOW', target: { kind: 'service', name: 'web' }, rules: [{ from: [{ ipBlocks: ['10.244.0.0/16'] }] }] });
    const del = await kube.kubectl(['delete', '-n', 'shop', 'authorizationpolicies.weft.dev', 'allow-web']);
    t.equal(del.code, 0, del.stderr);
    await until('allow-web gone', () => !latest().has('policy:shop/allow-web'));
    t.ok(latest().has('policy:shop/deny-batch'), 'the other stays');
  });

  t.test('the API server validates policies with the chart\'s CRD schema', async (t) => {
    const bad = (spec: unknown): string => JSON.stringify({ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'bad', namespace: 'shop' }, spec });
    const action = await kube.kubectl(['apply', '-f', '-'], { input: bad({ action: 'MAYBE' }) });
    t.not(action.code, 0, 'refused');
    t.match(action.stderr, /spec\.action: Unsupported value: "MAYBE"/, 'by the API server, naming the field');
    const path = await kube.kubectl(['apply', '-f', '-'], { input: bad({ action: 'ALLOW', rules: [{ to: [{ paths: [{ exact: '/a', prefix: '/b' }] }] }] }) });
    t.not(path.code, 0);
    t.match(path.stderr, /a path has exactly one of exact and prefix/, 'the CEL rule of the CRD, run by the API server');
    const mesh = await kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'bad', namespace: 'shop' }, spec: { mtls: { mode: 'SOMETIMES' } } }) });
    t.not(mesh.code, 0);
    t.match(mesh.stderr, /Unsupported value: "SOMETIMES"/);
    const got = await kube.request('GET', '/apis/weft.dev/v1alpha1/namespaces/shop/authorizationpolicies/bad');
    t.equal(got.status, 404, 'nothing stored');
  });

  t.test('an invalid edit the API server accepts is refused alone; the last good version stays in force', async (t) => {
    const metricsBefore = source.metrics();
    // A CIDR that does not parse: the CRD says "a list of strings", meaning is control's to check.
    await kube.apply([{ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-batch', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ from: [{ ipBlocks: ['10.0.0.300/8'] }] }] } }]);
    // And one that was never good, next to a good new one.
    await kube.apply([
      { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'typo', namespace: 'shop' }, spec: { action: 'DENY', rules: [{ from: [{ identities: ['spiffe://cluster.local/ns/**/x'] }] }] } },
      { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'audit-all', namespace: 'shop' }, spec: { action: 'AUDIT' } },
    ]);
    await until('both refused', () => refused()?.objects.length === 2);
    await until('the good new policy arrives', () => latest().has('policy:shop/audit-all'));
    const r = refused()!;
    t.match(r.objects, [
      { kind: 'AuthorizationPolicy', namespace: 'shop', name: 'deny-batch', inForce: 'last-good', reason: /10\.0\.0\.300\/8/ },
      { kind: 'AuthorizationPolicy', namespace: 'shop', name: 'typo', inForce: 'none', reason: /identities/ },
    ]);
    t.match(latest().get('policy:shop/deny-batch') as PolicyRecord, { action: 'DENY', rules: [{ from: [{ serviceAccounts: ['shop/batch'] }] }] }, 'the last good deny-batch is still in force');
    t.notOk(latest().has('policy:shop/typo'), 'a never-good policy is left out');
    t.ok(latest().has('service:shop/web'), 'the rest of the model flows');
    const warns = log.lines.filter((l) => l.level === 'warn' && String(l.msg).startsWith('kubernetes object refused'));
    t.ok(warns.some((l) => l.object === 'AuthorizationPolicy/shop/deny-batch' && l.code === 'WEFT_ERR_POLICY_INVALID' && String(l.msg).includes('last good version stays')), 'logged with its name, code and reason');
    t.ok(warns.some((l) => l.object === 'AuthorizationPolicy/shop/typo' && String(l.msg).includes('left out')));
    t.match(source.metrics(), /weft_discovery_refused_objects\{kind="AuthorizationPolicy"\} 2\n/, 'the gauge counts both');
    t.notSame(source.metrics(), metricsBefore);
    // Fixing the object replaces the last good version; the refusal goes away.
    await kube.apply([{ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-batch', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ from: [{ ipBlocks: ['10.0.3.0/24'] }] }] } }]);
    await kube.kubectl(['delete', '-n', 'shop', 'authorizationpolicies.weft.dev', 'typo']);
    await until('fixed', () => refused() === undefined);
    t.match(latest().get('policy:shop/deny-batch') as PolicyRecord, { rules: [{ from: [{ ipBlocks: ['10.0.3.0/24'] }] }] });
    t.match(source.metrics(), /weft_discovery_refused_objects\{kind="AuthorizationPolicy"\} 0\n/);
  });

  t.test('HTTPRoute: the CRD appearing starts the informer; v1beta1 until v1 is served; deletion drops them', async (t) => {
    await kube.apply([gatewayApiCrd(['v1beta1'])]);
    await waitEstablished(kube, ['httproutes.gateway.networking.k8s.io']);
    const route = (apiVersion: string, timeout: string): unknown => ({
      apiVersion, kind: 'HTTPRoute', metadata: { name: 'web-split', namespace: 'shop' },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: [{ name: 'web', port: 80, weight: 3 }], timeouts: { request: timeout } }] },
    });
    await kube.apply([route('gateway.networking.k8s.io/v1beta1', '2s') as never]);
    await until('route from v1beta1', () => latest().has('route:shop/web-split'));
    t.equal(source.status().find((s) => s.kind === 'HTTPRoute')?.apiVersion, 'gateway.networking.k8s.io/v1beta1');
    t.match(latest().get('route:shop/web-split') as RouteRecord, { parents: [{ service: 'shop/web', port: 80 }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: [{ service: 'shop/web', port: 80, weight: 3 }], timeoutMs: 2000 }] });
    t.ok(log.lines.some((l) => l.msg === 'custom resource served; watching it' && l.kind === 'HTTPRoute'), 'said that it appeared');

    await kube.apply([gatewayApiCrd(['v1', 'v1beta1'])]);
    await until('switched to v1', () => source.status().find((s) => s.kind === 'HTTPRoute')?.apiVersion === 'gateway.networking.k8s.io/v1');
    t.ok(latest().has('route:shop/web-split'), 'the route stayed through the switch');
    await kube.apply([route('gateway.networking.k8s.io/v1', '5s') as never]);
    await until('update seen through v1', () => (latest().get('route:shop/web-split') as RouteRecord | undefined)?.rules[0]?.timeoutMs === 5000);

    // A regex path is valid Gateway API that the mesh does not implement: refused alone.
    await kube.apply([{ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'regex', namespace: 'shop' }, spec: { parentRefs: [{ kind: 'Service', name: 'web' }], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/v[0-9]+' } }] }] } }]);
    await until('regex route refused', () => refused()?.objects.some((o) => o.kind === 'HTTPRoute' && o.name === 'regex') === true);
    t.match(refused()!.objects.find((o) => o.name === 'regex'), { inForce: 'none', reason: /RegularExpression.*not supported/ });
    t.ok(latest().has('route:shop/web-split'), 'the other route stays');

    const del = await kube.kubectl(['delete', 'crd', 'httproutes.gateway.networking.k8s.io', '--wait=true']);
    t.equal(del.code, 0, del.stderr);
    await until('routes gone with their CRD', () => !latest().has('route:shop/web-split') && refused() === undefined, 60_000);
    await until('the informer stopped (the probe found the CRD gone)', () => source.status().find((s) => s.kind === 'HTTPRoute')?.apiVersion === null);
    t.ok(log.lines.some((l) => String(l.msg).startsWith('custom resource no longer served') && l.kind === 'HTTPRoute'), 'said so');
    t.ok(latest().has('policy:shop/deny-batch'), 'policies unaffected');
  });

  t.test('an API server restart: the model stays, later changes arrive', async (t) => {
    await new Promise((r) => setTimeout(r, 500)); // let the previous test's last change settle
    const emitsBefore = sets.length;
    const before = latest();
    await kube.killApiServer();
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(sets.length, emitsBefore, 'nothing emitted while the API server is down (no empty model)');
    await kube.startApiServer();
    await kube.apply([{ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'after-restart', namespace: 'shop' }, spec: { action: 'AUDIT' } }]);
    await kube.apply([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { selector: { app: 'api' }, ports: [{ port: 81 }] } }]);
    await until('changes after the restart', () => latest().has('policy:shop/after-restart') && latest().has('service:shop/api'), 60_000);
    for (const id of before.keys()) t.ok(latest().has(id), `${id} kept`);
  });

  t.test('the chart\'s RBAC: what control does, and nothing more', async (t) => {
    // kubectl resolves the resource names through discovery: every CRD must be there.
    await kube.apply([gatewayApiCrd(['v1'])]);
    await waitEstablished(kube, ['httproutes.gateway.networking.k8s.io']);
    const can = async (...args: string[]): Promise<string> => (await kube.kubectl(['auth', 'can-i', ...args], { kubeconfig })).stdout.trim();
    const expect: Array<[string, string, 'yes' | 'no']> = [];
    for (const r of ['pods', 'services', 'namespaces', 'nodes', 'endpointslices.discovery.k8s.io', 'authorizationpolicies.weft.dev', 'meshpolicies.weft.dev', 'httproutes.gateway.networking.k8s.io']) {
      expect.push(['list', r, 'yes'], ['watch', r, 'yes'], ['get', r, 'no']); // informers never get one object
    }
    expect.push(['create', 'tokenreviews.authentication.k8s.io', 'yes']);
    for (const [verb, r] of [['get', 'secrets'], ['list', 'secrets'], ['list', 'serviceaccounts'], ['list', 'customresourcedefinitions.apiextensions.k8s.io'], ['create', 'pods'], ['update', 'authorizationpolicies.weft.dev'], ['delete', 'pods'], ['patch', 'nodes']]) {
      expect.push([verb, r, 'no']);
    }
    // Asked in parallel: each is one kubectl process and one SelfSubjectAccessReview.
    const answers = await Promise.all(expect.map(([verb, r]) => can(verb, r, ...(r.startsWith('tokenreviews') ? [] : ['-A']))));
    expect.forEach(([verb, r, want], i) => t.equal(answers[i], want, `${verb} ${r}: ${want}`));
  });
}
