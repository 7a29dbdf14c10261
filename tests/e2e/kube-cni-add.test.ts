// A new pod is captured before its first byte on a real cluster's timeline: the API server has the
// pod scheduled to a node but no address yet (the kubelet publishes status.podIP only after the
// runtime's CNI ADD), which is exactly when the real weft-cni plugin runs. Control (discovering
// through informers on a real kube-apiserver v1.28.7, tests/kube/) sends the pod as a
// pending-workload; the agent decides at ADD from it, captures the pod at the address the ADD
// reports, and answers the plugin only then. Proven before the address is published: the rules
// are in the pod's namespace as ADD returns, and the pod's first requests cross the mesh under its
// own identity (a DENY naming its ServiceAccount refuses them at the far node). Then the address is
// published and the capture stays the same one; a pod of an unmeshed namespace is answered
// "not meshed" and left alone. Oracles: the API server's own pod status, iptables-save and the
// app's and the policy's answers. (Before pending workloads, ADD found such a pod unknown and let
// it start uncaptured.)
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { startTestbedKube } from '../kube/testbed-kube.ts';
import { proxyStats } from './helpers.ts';
import { weftCniAdd } from './weft-cni-run.ts';

const tb = await withTestbed(t, {
  name: 'kube-cni-add',
  nodes: [
    { name: 'n1', pods: [{ name: 'fresh', namespace: 'demo' }, { name: 'plain', namespace: 'legacy' }] },
    { name: 'n2', pods: [{ name: 'web', namespace: 'demo' }] },
  ],
});
const DENY = {
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'no-admin-for-fresh', namespace: 'demo' },
  spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ from: [{ serviceAccounts: ['demo/fresh'] }], to: [{ paths: [{ prefix: '/admin' }] }] }] },
};
const spec: ClusterSpec = {
  meshedNamespaces: ['demo'],
  // Neither exists in the API server yet: the test creates them as a scheduler would leave them.
  absentPods: ['fresh', 'plain'],
  extraObjects: [
    DENY,
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'fresh', namespace: 'demo' } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'plain', namespace: 'legacy' } },
  ],
};
const cluster = await startTestbedKube(t, 'kube-cni-add', tb.model, spec);
if (cluster !== null) {
  const { kube } = cluster;
  // The agent's defaults: WEFT_CNI_WAIT_MS is not set here.
  const mesh = await Mesh.start(tb, { cluster: spec, redirectMode: 'iptables', captureScope: 'pod', controlEnv: cluster.controlEnv, tokens: cluster.tokens });
  t.teardown(() => mesh.stop());
  await mesh.startApp('web', 'http-server.ts', ['--port', '8080', '--name', 'web']);

  /** A Pod as the scheduler leaves it: bound to a node, no status from a kubelet yet. */
  const scheduled = (name: string, namespace: string): Record<string, unknown> => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: { app: name } },
    spec: { nodeName: 'n1', serviceAccountName: name, containers: [{ name: 'app', image: 'weft-testbed/app' }] },
  });
  const podIpInApi = async (namespace: string, name: string): Promise<string | undefined> =>
    ((await kube.must('GET', `/api/v1/namespaces/${namespace}/pods/${name}`)).status as { podIP?: string } | undefined)?.podIP;
  const natIn = async (pod: string): Promise<string> => (await tb.exec(tb.pod(pod).netns, 'iptables-save', ['-t', 'nat'])).stdout;
  interface RedirectDump { pods: { pods: Array<{ key: string; state: string; inode: number }> } }
  const captured = async (): Promise<Array<{ key: string; inode: number }>> =>
    ((await mesh.admin('n1', '/config_dump/redirect')).body as { redirect: RedirectDump }).redirect.pods.pods.filter((p) => p.state === 'captured').map((p) => ({ key: p.key, inode: p.inode }));
  async function curl(url: string): Promise<{ status: number; deniedBy?: string }> {
    const r = await tb.exec(tb.pod('fresh').netns, 'curl', ['-s', '-o', '/dev/null', '-D', '-', '--max-time', '20', url]);
    return { status: Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1] ?? 0), deniedBy: /^weft-denied-by: (\S+)/im.exec(r.stdout)?.[1] };
  }
  const web = `http://${tb.pod('web').ip}:8080`;

  t.test('a meshed pod is captured at its CNI ADD, before the API server has its address', async (t) => {
    const fresh = tb.pod('fresh');
    await kube.apply([scheduled('fresh', 'demo')] as never);
    // As a kubelet would: the sandbox is made and the plugin chain runs as soon as the pod is bound.
    const add = weftCniAdd({ socket: mesh.cniSocket('n1'), netnsPath: `/run/netns/${fresh.netns}`, namespace: 'demo', pod: 'fresh', ip: fresh.ip });
    const { code, out } = await add.exited;
    t.equal(code, 0, 'the plugin succeeded');
    t.same(JSON.parse(out), { cniVersion: '1.0.0', ips: [{ address: `${fresh.ip}/32` }] }, 'and printed the previous result');
    // Read at once, before the pod has sent anything:
    t.match(await natIn('fresh'), /-j WEFT-INPOD-OUT/, 'the capture rules were in when ADD returned');
    t.ok((await captured()).some((p) => p.key === 'demo/fresh'), 'the agent reports it captured');
    t.equal(await podIpInApi('demo', 'fresh'), undefined, 'while the API server still has no address for it');

    const before = (await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened;
    t.equal((await curl(`${web}/`)).status, 200, 'its first request crosses the mesh');
    t.ok((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened > before, 'over HBONE (mTLS to the far node)');
    // The DENY names the pod's ServiceAccount: it can only match if the source agent presented
    // the pod's own identity, which it had from the pending record, not from any address.
    await mesh.waitUntil(async () => (await curl(`${web}/admin/x`)).status === 403, 20_000, 'the DENY to be in force on n2');
    t.same(await curl(`${web}/admin/x`), { status: 403, deniedBy: 'demo/no-admin-for-fresh' }, 'refused as demo/fresh');
    t.equal(await podIpInApi('demo', 'fresh'), undefined, 'all of it before the address was published');
  });

  t.test('the address is published: the same capture goes on, once', async (t) => {
    const inode = (await captured()).find((p) => p.key === 'demo/fresh')?.inode;
    await kube.setPodStatus('demo', 'fresh', { podIP: tb.pod('fresh').ip, ready: true, hostIP: tb.node('n1').ip });
    await mesh.waitUntil(async () => {
      const st = (await mesh.admin('n1', '/config_dump/state')).body as { state: { localWorkloads: Array<{ key: string }>; localPending: Array<{ key: string }> } };
      return st.state.localWorkloads.some((w) => w.key === 'demo/fresh') && !st.state.localPending.some((p) => p.key === 'demo/fresh');
    }, 20_000, 'n1 to have the workload record instead of the pending one');
    t.same((await captured()).filter((p) => p.key === 'demo/fresh'), [{ key: 'demo/fresh', inode }], 'the same namespace, captured once');
    const nat = await natIn('fresh');
    t.equal(nat.match(/-j WEFT-INPOD-OUT/g)?.length, 1, 'one OUTPUT jump');
    t.equal(nat.match(/-A WEFT-INPOD-OUT .*REDIRECT/g)?.length, 1, 'one REDIRECT rule');
    t.same(await curl(`${web}/admin/x`), { status: 403, deniedBy: 'demo/no-admin-for-fresh' });
    t.equal((await curl(`${web}/`)).status, 200);
  });

  t.test('a pod of an unmeshed namespace is answered "not meshed" and left alone', async (t) => {
    const plain = tb.pod('plain');
    await kube.apply([scheduled('plain', 'legacy')] as never);
    const add = weftCniAdd({ socket: mesh.cniSocket('n1'), netnsPath: `/run/netns/${plain.netns}`, namespace: 'legacy', pod: 'plain', ip: plain.ip });
    t.equal((await add.exited).code, 0);
    t.match(mesh.agentLog('n1'), /"msg":"CNI ADD"[^\n]*"pod":"legacy\/plain"[^\n]*"verdict":"not-meshed"/, 'decided from the pending record');
    t.notMatch(mesh.agentLog('n1'), /does not know the pod yet[^\n]*legacy\/plain/, 'not by running out of time');
    t.notMatch(await natIn('plain'), /WEFT/, 'no capture in its namespace');
  });
}
