// The chart against a real kube-apiserver v1.28.7 with the real helm binary: install as
// docs/install.md says (namespace, trust anchor from scripts/helm-trust-anchor.sh, helm install),
// upgrade with changed values (changed objects changed, a disabled object removed), uninstall
// leaving nothing behind but what docs/uninstall.md says stays. The cluster is listed whole
// (every listable kind, every namespace) before and after, so anything the chart made — or
// controllers made from it — and left is seen. `kubectl auth can-i` then proves the least-privilege
// claims of docs/install.md for the ServiceAccounts as the API server's RBAC evaluates them.
// No kubelet: Pods never run, so objects are checked, not running pods.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { withKubeCluster, type KubeCluster } from './kube-cluster.ts';
import { CHART, helm, NAMESPACE, ROOT } from '../helm/chart.ts';
import { join } from 'node:path';
import { GATEWAY_HTTPROUTE_CRD } from './gateway-api-crd.ts';

const kube = await withKubeCluster(t, { name: 'chart-kube' });

const CONTROL = `system:serviceaccount:${NAMESPACE}:weft-control`;
const AGENT = `system:serviceaccount:${NAMESPACE}:weft-agent`;

/** Every object of every listable kind in the cluster, as "apiVersion kind ns/name" (events aside: they come and go). */
async function inventory(kube: KubeCluster): Promise<Set<string>> {
  const kinds = await kube.kubectl(['api-resources', '--verbs=list', '-o', 'name']);
  if (kinds.code !== 0) throw new Error(kinds.stderr);
  const names = kinds.stdout.split('\n').filter((k) => k !== '' && k !== 'events' && k !== 'events.events.k8s.io' && k !== 'componentstatuses');
  const r = await kube.kubectl(['get', names.join(','), '-A', '-o', 'jsonpath={range .items[*]}{.apiVersion} {.kind} {.metadata.namespace}/{.metadata.name}{"\\n"}{end}']);
  if (r.code !== 0) throw new Error(`kubectl get (every kind): ${r.stderr}`);
  return new Set(r.stdout.split('\n').filter((l) => l !== ''));
}
const minus = (a: Set<string>, b: Set<string>): string[] => [...a].filter((x) => !b.has(x)).sort();

async function until(what: string, pred: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

if (kube !== null) {
  const helmKube = (args: string[], values?: unknown) => helm([...args, '--kubeconfig', kube.adminKubeconfig], values);
  const get = async (path: string): Promise<Record<string, unknown>> => kube.must('GET', path);
  const canI = async (as: string, verb: string, resource: string, ns?: string): Promise<boolean> => {
    const r = await kube.kubectl(['auth', 'can-i', verb, resource, '--as', as, ...(ns === undefined ? ['--all-namespaces'] : ['-n', ns])]);
    if (r.stdout.trim() !== 'yes' && r.stdout.trim() !== 'no') throw new Error(`can-i ${verb} ${resource}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim() === 'yes';
  };
  /** `kubectl auth can-i --list` rows (resource, verbs) for a user in a namespace. */
  const rules = async (as: string, ns: string): Promise<Map<string, string>> => {
    const r = await kube.kubectl(['auth', 'can-i', '--list', '--as', as, '-n', ns]);
    if (r.code !== 0) throw new Error(r.stderr);
    const rows = new Map<string, string>();
    for (const line of r.stdout.split('\n').slice(1)) {
      const m = /^(\S+)\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]/.exec(line);
      if (m !== null) rows.set(m[1] === '' ? m[2] : m[1], m[4]);
    }
    return rows;
  };

  let before = new Set<string>();
  let installed = new Set<string>();
  const manifest: Array<{ kind: string; name: string; namespace?: string }> = [];

  t.test('helm install as docs/install.md says: every object the release renders is in the API server', async (t) => {
    const ns = await kube.kubectl(['create', 'namespace', NAMESPACE]);
    t.equal(ns.code, 0, ns.stderr);
    t.equal((await kube.kubectl(['label', 'namespace', NAMESPACE, 'pod-security.kubernetes.io/enforce=privileged', 'weft.dev/mesh=disabled'])).code, 0);
    // docs/install.md's prerequisite: the Gateway API's HTTPRoute CRD (a stand-in, see gateway-api-crd.ts).
    await kube.apply([GATEWAY_HTTPROUTE_CRD]);
    const anchor = execFileSync(join(ROOT, 'scripts/helm-trust-anchor.sh'), ['--namespace', NAMESPACE, '--trust-domain', 'cluster.local'], { encoding: 'utf8' });
    await kube.apply(anchor);
    before = await inventory(kube);
    const r = helmKube(['install', 'weft', CHART, '--namespace', NAMESPACE, '--set', 'image.registry=registry.invalid']);
    t.equal(r.code, 0, `helm install: ${r.stdout}${r.stderr}`);
    const m = helmKube(['get', 'manifest', 'weft', '--namespace', NAMESPACE]);
    t.equal(m.code, 0, m.stderr);
    for (const d of parseAllDocuments(m.stdout)) {
      const o = d.toJS() as { kind: string; metadata: { name: string; namespace?: string } } | null;
      if (o !== null) manifest.push({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace });
    }
    t.ok(manifest.length >= 10, `the release holds ${manifest.length} objects`);
    for (const o of manifest) {
      const r = await kube.kubectl(['get', o.kind, o.name, ...(o.namespace === undefined ? [] : ['-n', o.namespace]), '-o', 'name']);
      t.equal(r.code, 0, `${o.kind} ${o.namespace ?? ''}/${o.name} exists (${r.stderr.trim()})`);
    }
    for (const crd of ['authorizationpolicies.weft.dev', 'meshpolicies.weft.dev']) {
      const w = await kube.kubectl(['wait', '--for=condition=Established', '--timeout=30s', `crd/${crd}`]);
      t.equal(w.code, 0, `CRD ${crd} established: ${w.stderr}`);
    }
    const dep = await get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/weft-control`);
    t.equal((dep.spec as { replicas: number }).replicas, 2, 'control Deployment with the default 2 replicas');
    // The Deployment controller made a ReplicaSet and Pods from it (Pending: there is no kubelet).
    await until('the Deployment controller to make control Pods', async () => {
      const pods = await get(`/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app.kubernetes.io%2Fcomponent%3Dcontrol`);
      return (pods.items as unknown[]).length === 2;
    });
    installed = await inventory(kube);
    t.ok(minus(installed, before).length > manifest.length, `install added ${minus(installed, before).length} objects (the release's and what controllers made from them)`);
  });

  t.test('kubectl auth can-i: control reads exactly what discovery needs, never Secrets, and writes nothing', async (t) => {
    for (const [verb, resource] of [['get', 'secrets'], ['list', 'secrets'], ['watch', 'secrets']] as const) {
      t.notOk(await canI(CONTROL, verb, resource), `control cannot ${verb} Secrets in any namespace`);
      t.notOk(await canI(CONTROL, verb, resource, NAMESPACE), `not even ${verb} the trust anchor's namespace`);
    }
    // What discovery watches (informers list and watch; they never get one object).
    const reads = ['pods', 'services', 'namespaces', 'nodes', 'endpointslices.discovery.k8s.io', 'httproutes.gateway.networking.k8s.io', 'authorizationpolicies.weft.dev', 'meshpolicies.weft.dev'];
    for (const res of reads) for (const verb of ['list', 'watch']) t.ok(await canI(CONTROL, verb, res), `control can ${verb} ${res} cluster-wide`);
    t.ok(await canI(CONTROL, 'create', 'tokenreviews.authentication.k8s.io'), 'control can create TokenReviews (agent attestation)');
    for (const res of reads) t.notOk(await canI(CONTROL, 'get', res), `control has no get on ${res} (list and watch only)`);
    t.notOk(await canI(CONTROL, 'list', 'serviceaccounts'), 'nor any read of ServiceAccounts (identities come from Pods)');
    for (const res of [...reads, 'configmaps', 'secrets', 'leases.coordination.k8s.io', 'deployments.apps', 'daemonsets.apps']) {
      for (const verb of ['create', 'update', 'patch', 'delete']) t.notOk(await canI(CONTROL, verb, res), `control cannot ${verb} ${res}`);
    }
    t.notOk(await canI(CONTROL, 'get', 'configmaps'), 'nor read ConfigMaps');
    // Every verb on every resource as `can-i --list` evaluates it: beyond what any authenticated
    // account gets (the default discovery roles, seen for an unrelated ServiceAccount), control
    // has exactly the reads above and one create.
    const baseline = await rules('system:serviceaccount:default:default', 'default');
    const own = [...(await rules(CONTROL, 'default'))].filter(([res, verbs]) => baseline.get(res) !== verbs).map(([res, verbs]) => `${res} [${verbs}]`).sort();
    const expected = [...reads.map((r) => `${r} [list watch]`), 'tokenreviews.authentication.k8s.io [create]'].sort();
    t.same(own, expected, 'control\'s whole grant');
  });

  t.test('kubectl auth can-i: the agent can write nothing and read nothing', async (t) => {
    for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
      t.notOk(await canI(AGENT, verb, '*'), `agent cannot ${verb} anything, anywhere`);
    }
    for (const res of ['pods', 'secrets', 'configmaps', 'nodes', 'tokenreviews.authentication.k8s.io', 'authorizationpolicies.weft.dev']) {
      t.notOk(await canI(AGENT, res === 'tokenreviews.authentication.k8s.io' ? 'create' : 'list', res), `agent cannot ${res === 'tokenreviews.authentication.k8s.io' ? 'create' : 'list'} ${res}`);
    }
    const baseline = await rules('system:serviceaccount:default:default', NAMESPACE);
    t.same(await rules(AGENT, NAMESPACE), baseline, 'the agent has no grant beyond any ServiceAccount\'s defaults');
    const ds = await get(`/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/weft-agent`);
    const pod = (ds.spec as { template: { spec: { automountServiceAccountToken?: boolean; volumes: Array<{ projected?: { sources: Array<{ serviceAccountToken?: { audience: string } }> } }> } } }).template.spec;
    t.equal(pod.automountServiceAccountToken, false, 'the agent gets no API token');
    t.ok(pod.volumes.some((v) => v.projected?.sources.some((s) => s.serviceAccountToken?.audience === 'weft-control')), 'only a projected token for audience weft-control');
  });

  t.test('helm upgrade with changed values changes the objects and removes a disabled one', async (t) => {
    const r = helmKube(['upgrade', 'weft', CHART, '--namespace', NAMESPACE, '--set', 'image.registry=registry.invalid', '--set', 'control.replicas=3', '--set', 'logLevel=debug', '--set', 'control.podDisruptionBudget.enabled=false']);
    t.equal(r.code, 0, `helm upgrade: ${r.stdout}${r.stderr}`);
    const dep = await get(`/apis/apps/v1/namespaces/${NAMESPACE}/deployments/weft-control`);
    t.equal((dep.spec as { replicas: number }).replicas, 3, 'replicas 2 → 3');
    const cm = await get(`/api/v1/namespaces/${NAMESPACE}/configmaps/weft-mesh`);
    t.match(JSON.stringify(cm.data), /debug/, 'the mesh ConfigMap carries the new log level');
    const pdb = await kube.request('GET', `/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/weft-control`);
    t.equal(pdb.status, 404, 'the PodDisruptionBudget is gone');
    const history = helmKube(['history', 'weft', '--namespace', NAMESPACE, '-o', 'json']);
    t.same((JSON.parse(history.stdout) as Array<{ revision: number; status: string }>).map((h) => [h.revision, h.status]), [[1, 'superseded'], [2, 'deployed']]);
  });

  t.test('helm uninstall leaves nothing behind but the documented keepers', async (t) => {
    const r = helmKube(['uninstall', 'weft', '--namespace', NAMESPACE, '--wait', '--timeout', '60s']);
    t.equal(r.code, 0, `helm uninstall: ${r.stdout}${r.stderr}`);
    // ReplicaSets, Pods, EndpointSlices and Endpoints made from the release go with it (garbage
    // collector, endpoint controllers): wait for the cluster to settle, then compare.
    let left: string[] = [];
    const keepers = [
      'apiextensions.k8s.io/v1 CustomResourceDefinition /authorizationpolicies.weft.dev',
      'apiextensions.k8s.io/v1 CustomResourceDefinition /meshpolicies.weft.dev',
      'apiregistration.k8s.io/v1 APIService /v1alpha1.weft.dev',
    ];
    await until('the release and everything made from it to go', async () => {
      left = minus(await inventory(kube), before);
      return left.length <= keepers.length;
    }).catch(() => undefined);
    t.same(left, keepers, 'only the weft.dev CRDs stay (helm.sh/resource-policy: keep, docs/uninstall.md), with the APIService the API server made for their group');
    for (const crd of ['authorizationpolicies.weft.dev', 'meshpolicies.weft.dev']) {
      const o = await get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`);
      t.equal((o.metadata as { annotations?: Record<string, string> }).annotations?.['helm.sh/resource-policy'], 'keep', `${crd} is kept on purpose`);
    }
    t.same(minus(before, await inventory(kube)), [], 'and nothing that was there before (the trust anchor, the namespace) was removed');
  });
}
