// The kubernetes discovery source against a REAL kube-apiserver v1.28.7 (tests/kube), with the
// real EndpointSlice controller: the first set matches what the file source makes of the same
// objects, adds/updates/deletes are followed, EndpointSlice readiness comes from the controller,
// lists page, a real 410 (etcd compacted under a watch) relists without losing or duplicating
// anything, an API server restart is ridden out, and an object the API accepts but the mesh cannot
// use is refused alone with its last good version kept.
// The API server runs without its watch cache here, so a watch resuming from a compacted revision
// gets etcd's real 410 (with the cache, the server answers from its own window instead).
// Faults a real server cannot be made to show (stalled watches, bookmark timing): see
// kubernetes-source-faults.test.ts (the hand-written fixture).
import t from 'tap';
import { memoryLogger } from '../../../common/log.ts';
import type { ResourceRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { KubernetesSource } from '../../../control/discovery/kubernetes-source.ts';
import { discoverySourceNames } from '../../../control/discovery/source.ts';
import { translateObjects } from '../../../control/discovery/k8s-translate.ts';
import { withKubeCluster, type KubeObject } from '../../kube/kube-cluster.ts';
import { chartObjects, waitEstablished } from '../../kube/chart-objects.ts';

const kube = await withKubeCluster(t, { name: 'kubernetes-source', watchCache: false });

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pod = (name: string, nodeName: string, extra: { sa?: string; annotations?: Record<string, string>; ns?: string } = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: extra.ns ?? 'shop', labels: { app: name.replace(/-\d+$/, '') }, ...(extra.annotations ? { annotations: extra.annotations } : {}) },
  spec: { nodeName, serviceAccountName: extra.sa ?? 'default', containers: [{ name: 'app', image: 'x', ports: [{ containerPort: 8080 }] }] },
});

if (kube !== null) {
  // The chart's CRDs, and three policies: custom kinds page and relist like the built-in ones.
  const crds = chartObjects(['CustomResourceDefinition']);
  await kube.apply(crds as unknown as KubeObject[]);
  await waitEstablished(kube, crds.map((c) => c.metadata.name));
  await kube.apply([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'weft.dev/mesh': 'enabled' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain' } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'shop' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', annotations: { 'weft.dev/timeout': '3s' } }, spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] } },
    pod('web-1', 'node-b', { sa: 'web' }),
    pod('web-2', 'node-a', { sa: 'web' }),
    pod('legacy-1', 'node-a', { ns: 'plain' }),
    ...['a', 'b', 'c'].map((n) => ({ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: `audit-${n}`, namespace: 'shop' }, spec: { action: 'AUDIT' } })),
  ]);
  await kube.setNodeAddress('node-a', '192.168.0.1');
  await kube.setNodeAddress('node-b', '192.168.0.2');
  await kube.setPodStatus('shop', 'web-1', { podIP: '10.244.0.11', ready: true });
  await kube.setPodStatus('shop', 'web-2', { podIP: '10.244.0.12', ready: true });
  await kube.setPodStatus('plain', 'legacy-1', { podIP: '10.244.0.99', ready: true });

  const log = memoryLogger('k8s');
  // Short server-side watch timeouts: watches reconnect often, which is what meets the compaction.
  const source = new KubernetesSource({ kubeconfig: kube.adminKubeconfig, trustDomain: 'cluster.local', log, debounceMs: 10, pageSize: 2, retryInitialMs: 100, retryMaxMs: 1000, watchTimeoutSeconds: 2, startTimeoutMs: 30_000, crdProbeIntervalMs: 60_000 });
  const sets: ResourceRecord[][] = [];
  t.teardown(() => source.stop());
  await source.start((r) => sets.push(r));
  const latest = (): Map<string, ResourceRecord> => new Map((sets[sets.length - 1] ?? []).map((r) => [`${r.kind}:${r.key}`, r]));
  const workload = (key: string): WorkloadRecord | undefined => latest().get(`workload:${key}`) as WorkloadRecord | undefined;

  t.test('registered as the `kubernetes` source', async (t) => {
    t.ok(discoverySourceNames().includes('kubernetes'));
  });

  t.test('the first set equals what the file source makes of the same objects', async (t) => {
    t.equal(sets.length, 1, 'start emits once');
    // The same objects as the API server holds them, fed to the file source's translation.
    const objects: KubeObject[] = [];
    for (const path of ['/api/v1/namespaces', '/api/v1/nodes', '/api/v1/pods', '/api/v1/services', '/apis/weft.dev/v1alpha1/authorizationpolicies']) {
      const list = await kube.must('GET', path);
      const kind = { namespaces: 'Namespace', nodes: 'Node', pods: 'Pod', services: 'Service', authorizationpolicies: 'AuthorizationPolicy' }[path.split('/').pop()!]!;
      for (const o of list.items as KubeObject[]) objects.push({ ...o, apiVersion: path.startsWith('/apis/') ? 'weft.dev/v1alpha1' : 'v1', kind });
    }
    const fromFile = translateObjects(objects.map((object, i) => ({ origin: `#${i}`, object })), { trustDomain: 'cluster.local' });
    const sort = (rs: readonly ResourceRecord[]): ResourceRecord[] => [...rs].sort((a, b) => `${a.kind}:${a.key}`.localeCompare(`${b.kind}:${b.key}`));
    t.same(sort(sets[0]), sort(fromFile));
    // And, independently of the translation, what the objects say.
    t.match(workload('shop/web-1'), { meshed: true, ready: true, node: 'node-b', ip: '10.244.0.11', identity: 'spiffe://cluster.local/ns/shop/sa/web' });
    t.match(workload('plain/legacy-1'), { meshed: false });
    t.match(latest().get('service:shop/web') as ServiceRecord, { clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080, appProtocol: 'http', name: 'http' }], defaults: { timeoutMs: 3000 } });
    t.match(latest().get('service:default/kubernetes'), { kind: 'service' }, 'the API server\'s own Service is there: this is a real cluster');
    t.match(latest().get('node:node-a'), { address: '192.168.0.1' });
    t.ok(source.status().filter((s) => s.apiVersion !== null).every((s) => s.lists >= 1));
    t.same(sets[0].filter((r) => r.kind === 'policy').map((r) => r.key).sort(), ['shop/audit-a', 'shop/audit-b', 'shop/audit-c'], 'three policies, listed in pages of two');
  });

  t.test('follows adds, updates and deletes', async (t) => {
    await kube.apply([pod('web-3', 'node-a', { sa: 'web' })]);
    await kube.setPodStatus('shop', 'web-3', { podIP: '10.244.0.13', ready: true });
    await until('web-3 added', () => workload('shop/web-3')?.ready === true);
    await kube.setPodStatus('shop', 'web-3', { podIP: '10.244.0.13', ready: false });
    await until('web-3 not ready', () => workload('shop/web-3')?.ready === false);
    await kube.apply([pod('web-3', 'node-a', { sa: 'web', annotations: { 'weft.dev/mesh': 'disabled' } })]);
    await until('web-3 opted out', () => workload('shop/web-3')?.meshed === false);
    const del = await kube.kubectl(['delete', 'pod', '-n', 'shop', 'web-3', '--grace-period=0', '--force']);
    t.equal(del.code, 0, del.stderr);
    await until('web-3 deleted', () => !latest().has('workload:shop/web-3'));
    await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'plain', labels: { 'weft.dev/mesh': 'enabled' } } }]);
    await until('plain namespace meshed', () => workload('plain/legacy-1')?.meshed === true);
    await kube.apply([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', annotations: { 'weft.dev/timeout': '4s' } }, spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] } }]);
    await until('service updated', () => (latest().get('service:shop/web') as ServiceRecord | undefined)?.defaults?.timeoutMs === 4000);
    t.ok(workload('shop/web-1'), 'the rest stays');
  });

  t.test('readiness from the real EndpointSlice controller', async (t) => {
    // The controller marks a terminating pod's endpoint not ready: the pod status still says Ready.
    await kube.apply([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-4', namespace: 'shop', labels: { app: 'web' }, finalizers: ['weft.dev/test-hold'] }, spec: { nodeName: 'node-a', serviceAccountName: 'web', containers: [{ name: 'app', image: 'x' }] } }]);
    await kube.setPodStatus('shop', 'web-4', { podIP: '10.244.0.14', ready: true });
    await until('web-4 ready', () => workload('shop/web-4')?.ready === true);
    const slices = async (): Promise<string> => JSON.stringify((await kube.must('GET', '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices')).items);
    t.match(await slices(), /10\.244\.0\.14/, 'the controller made an endpoint for it');
    await kube.kubectl(['delete', 'pod', '-n', 'shop', 'web-4', '--wait=false']);
    await until('web-4 not ready (terminating)', () => workload('shop/web-4')?.ready === false);
    await kube.must('PATCH', '/api/v1/namespaces/shop/pods/web-4', { metadata: { finalizers: null } }, 'application/merge-patch+json');
    // No kubelet confirms the graceful deletion: finish it as the kubelet would.
    await kube.kubectl(['delete', 'pod', '-n', 'shop', 'web-4', '--grace-period=0', '--force']);
    await until('web-4 gone', () => !latest().has('workload:shop/web-4'));
  });

  t.test('a real 410 (etcd compacted under the watches) relists without losing or duplicating', async (t) => {
    const nodeLists = source.status().find((s) => s.kind === 'Node')!.lists;
    const policyLists = source.status().find((s) => s.kind === 'AuthorizationPolicy')!.lists;
    // Pods change; nodes stay quiet, so the Node informer's resourceVersion stays old (no
    // bookmarks without the watch cache). Compaction then makes its next resume a 410.
    await kube.apply([pod('web-5', 'node-b', { sa: 'web' })]);
    await kube.setPodStatus('shop', 'web-5', { podIP: '10.244.0.15', ready: true });
    await until('web-5 seen', () => workload('shop/web-5') !== undefined);
    await kube.compactEtcd();
    await until('the Node informer relisted', () => source.status().find((s) => s.kind === 'Node')!.lists > nodeLists, 30_000);
    await until('and the AuthorizationPolicy one (a custom kind)', () => source.status().find((s) => s.kind === 'AuthorizationPolicy')!.lists > policyLists, 30_000);
    await kube.apply([{ apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'audit-d', namespace: 'shop' }, spec: { action: 'AUDIT' } }]);
    await until('policy watch resumed after the relist', () => latest().has('policy:shop/audit-d'));
    t.same(sets[sets.length - 1].filter((r) => r.kind === 'policy').map((r) => r.key).sort(), ['shop/audit-a', 'shop/audit-b', 'shop/audit-c', 'shop/audit-d'], 'each policy once');
    await kube.apply([{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-c' } }]);
    await kube.setNodeAddress('node-c', '192.168.0.3');
    await until('watch resumed after the relist', () => latest().has('node:node-c'));
    const nodes = sets[sets.length - 1].filter((r) => r.kind === 'node').map((r) => r.key).sort();
    t.same(nodes, ['node-a', 'node-b', 'node-c'], 'exactly the live nodes, each once');
    const pods = sets[sets.length - 1].filter((r) => r.kind === 'workload').map((r) => r.key).sort();
    t.same(pods, ['plain/legacy-1', 'shop/web-1', 'shop/web-2', 'shop/web-5']);
  });

  t.test('an API server restart: the model stays, changes made after it arrive', async (t) => {
    const emits = sets.length;
    const before = [...latest().keys()].sort();
    const restarts = (): number => source.status().find((s) => s.kind === 'Pod')!.watchRestarts;
    const podRestarts = restarts();
    await kube.killApiServer();
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(sets.length, emits, 'no set emitted while it is down');
    await kube.startApiServer();
    await kube.apply([pod('web-6', 'node-b', { sa: 'web' })]);
    await kube.setPodStatus('shop', 'web-6', { podIP: '10.244.0.16', ready: true });
    await until('change after restart seen', () => workload('shop/web-6')?.ready === true, 60_000);
    t.same([...latest().keys()].filter((k) => k !== 'workload:shop/web-6').sort(), before, 'nothing lost across the outage');
    t.ok(log.lines.some((l) => l.msg === 'kubernetes watch interrupted; resuming'), 'the interruption was logged');
    t.ok(restarts() > podRestarts, `and counted as watch restarts (${podRestarts} → ${restarts()})`);
  });

  t.test('an object the API accepts but the mesh cannot use is refused alone; its last good version stays', async (t) => {
    await kube.apply([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop', annotations: { 'weft.dev/timeout': 'soon' } }, spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] } }]);
    await until('refused', () => latest().has('refused:discovery'));
    t.match(latest().get('refused:discovery'), { objects: [{ kind: 'Service', namespace: 'shop', name: 'web', inForce: 'last-good', reason: /weft\.dev\/timeout "soon" is not a duration/ }] });
    t.match(latest().get('service:shop/web') as ServiceRecord, { defaults: { timeoutMs: 4000 } }, 'the last good Service stays: its traffic keeps flowing');
    t.ok(log.lines.some((l) => l.level === 'warn' && l.object === 'Service/shop/web' && l.code === 'WEFT_ERR_SOURCE_INVALID'), 'logged with the object and code');
    t.match(source.metrics(), /weft_discovery_refused_objects\{kind="Service"\} 1\n/);
    await kube.apply([pod('web-7', 'node-a', { sa: 'web' })]);
    await kube.setPodStatus('shop', 'web-7', { podIP: '10.244.0.17', ready: true });
    await until('other changes flow', () => workload('shop/web-7') !== undefined);
    await kube.kubectl(['delete', 'service', '-n', 'shop', 'web']);
    await until('deleting it drops both', () => !latest().has('service:shop/web') && !latest().has('refused:discovery'));
  });
}
