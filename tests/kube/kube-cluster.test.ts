// The real control plane fixture itself: it starts, serves as admin, runs the real controllers
// (a Service with a ready Pod gets an EndpointSlice from the EndpointSlice controller), issues
// pod-bound ServiceAccount tokens that TokenReview accepts, survives an API server restart, and
// leaves no process or folder behind.
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { withKubeCluster } from './kube-cluster.ts';

const kube = await withKubeCluster(t, { name: 'kube-cluster-test' });
if (kube !== null) {
  t.test('the API server answers as admin and kubectl reaches it', async (t) => {
    const ns = await kube.must('GET', '/api/v1/namespaces/default');
    t.equal((ns.metadata as { name: string }).name, 'default');
    const v = await kube.kubectl(['version', '-o', 'json']);
    t.equal(v.code, 0, v.stderr);
    t.match(JSON.parse(v.stdout), { serverVersion: { gitVersion: 'v1.28.7' } }, 'the real v1.28.7 server');
  });

  t.test('the real EndpointSlice controller follows Pod readiness', async (t) => {
    await kube.apply([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } },
    ]);
    await kube.setPodStatus('shop', 'web-1', { podIP: '10.244.1.11', ready: true });
    const slice = async (): Promise<{ addresses: string[]; conditions: { ready: boolean } }[]> => {
      const l = await kube.must('GET', '/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb');
      return ((l.items as { endpoints?: { addresses: string[]; conditions: { ready: boolean } }[] }[])[0]?.endpoints) ?? [];
    };
    let eps = await slice();
    for (let i = 0; i < 100 && eps.length === 0; i++) { await new Promise((r) => setTimeout(r, 200)); eps = await slice(); }
    t.same(eps.map((e) => [e.addresses[0], e.conditions.ready]), [['10.244.1.11', true]], 'the controller made a ready endpoint');
    await kube.setPodStatus('shop', 'web-1', { podIP: '10.244.1.11', ready: false });
    for (let i = 0; i < 100 && eps[0]?.conditions.ready !== false; i++) { await new Promise((r) => setTimeout(r, 200)); eps = await slice(); }
    t.equal(eps[0]?.conditions.ready, false, 'and marked it not ready with the Pod');
  });

  t.test('pod-bound tokens pass TokenReview with their audience only', async (t) => {
    await kube.apply([
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'agent', namespace: 'shop' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'agent-1', namespace: 'shop' }, spec: { nodeName: 'n1', serviceAccountName: 'agent', containers: [{ name: 'c', image: 'x' }] } },
    ]);
    const pod = await kube.must('GET', '/api/v1/namespaces/shop/pods/agent-1');
    const token = await kube.serviceAccountToken('shop', 'agent', { audiences: ['weft-control'], pod: { name: 'agent-1', uid: (pod.metadata as { uid: string }).uid } });
    const review = async (aud: string): Promise<{ authenticated?: boolean; user?: { username: string; extra?: Record<string, string[]> } }> =>
      (await kube.must('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [aud] } })).status as never;
    const ok = await review('weft-control');
    t.equal(ok.authenticated, true);
    t.equal(ok.user?.username, 'system:serviceaccount:shop:agent');
    t.same(ok.user?.extra?.['authentication.kubernetes.io/pod-name'], ['agent-1'], 'the review names the bound pod');
    t.not((await review('other')).authenticated, true, 'another audience is refused');
  });

  t.test('the API server restarts on the same port with its data', async (t) => {
    await kube.killApiServer();
    await kube.startApiServer();
    const svc = await kube.must('GET', '/api/v1/namespaces/shop/services/web');
    t.equal((svc.metadata as { name: string }).name, 'web', 'objects survived the restart');
  });

  t.test('stop leaves nothing behind', async (t) => {
    const dir = kube.dir;
    await kube.stop();
    t.notOk(existsSync(dir), 'folder removed');
    const running: string[] = [];
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes(dir)) running.push(`${pid}: ${cmd.replace(/\0/g, ' ').slice(0, 80)}`);
      } catch { /* exited */ }
    }
    t.same(running, [], 'no process runs from it');
  });
}
