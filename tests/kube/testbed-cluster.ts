// A testbed as a REAL Kubernetes cluster (tests/kube: etcd + kube-apiserver + controller-manager):
// the testbed's Namespaces, Nodes, Pods and Services are created through the API, the Pods'
// and Nodes' status set as a kubelet would, the agents' DaemonSet pods added (hostNetwork,
// ServiceAccount weft-system/weft-agent), and the chart's CRDs, RBAC and ServiceAccounts installed.
// EndpointSlices come from the real EndpointSlice controller. Control runs with a token of the
// chart's weft-control ServiceAccount (only the chart's ClusterRole), and each agent gets a real
// pod-bound projected token (TokenRequest, audience weft-control) that control checks with
// TokenReview.
//
// (It replaced tests/k8s-fixture/testbed-cluster.ts, the same shape on the hand-written fixture.)
import { appLabel, clusterObjects, type ClusterSpec } from '../testbed/cluster-objects.ts';
import type { TestbedModel } from '../testbed/topology.ts';
import { installChartAccess, CHART_NAMESPACE } from './chart-objects.ts';
import { withKubeCluster, type KubeCluster, type KubeObject, type KubeTestHost } from './kube-cluster.ts';

export const AGENT_NAMESPACE = CHART_NAMESPACE;
export const AGENT_ACCOUNT = 'weft-agent';
export const AUDIENCE = 'weft-control';

export function agentPodName(node: string): string {
  return `weft-agent-${node}`;
}

export interface KubeTestbedCluster {
  kube: KubeCluster;
  /** Control's kubeconfig: the weft-control ServiceAccount's token. */
  kubeconfig: string;
  /** node → the agent's pod-bound projected token (the Mesh writes them as credential files). */
  tokens: Record<string, string>;
  /** Control settings for discovery and node attestation against the real API server. */
  controlEnv: Record<string, string>;
  /**
   * Makes the cluster match `spec`: creates or updates every object (extraObjects too), and
   * force-deletes pods the spec no longer has. Other objects are never deleted (use kubectl).
   * Waits for nothing.
   */
  apply(spec: ClusterSpec): Promise<void>;
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;

/** An object as a user would write it: no uid, timestamps or status (the API server owns those). */
function asWritten(o: Obj): KubeObject {
  const { status: _status, ...rest } = o;
  const meta = { ...(o.metadata as Obj) };
  delete meta.uid;
  delete meta.creationTimestamp;
  if (o.kind === 'Namespace') delete (rest as Obj).spec;
  return { ...rest, metadata: meta } as KubeObject;
}

/**
 * Starts the cluster for a testbed; null (after registering a skipped test naming why) when the
 * Kubernetes binaries are missing.
 */
export async function startKubeTestbedCluster(t: KubeTestHost, name: string, model: TestbedModel, spec: ClusterSpec): Promise<KubeTestbedCluster | null> {
  const kube = await withKubeCluster(t, { name });
  if (kube === null) return null;
  const { kubeconfig } = await installChartAccess(kube);
  const nodeIp = new Map(model.nodes.map((n) => [n.name, n.ip]));
  const podStatus = new Map<string, string>(); // ns/name → IP whose status is set

  async function apply(s: ClusterSpec): Promise<void> {
    const objects = clusterObjects(model, s);
    const pods = objects.filter((o) => o.kind === 'Pod');
    const accounts = new Set(pods.map((p) => `${(p.metadata as Obj).namespace as string}/${appLabel((p.metadata as Obj).name as string)}`));
    const written: KubeObject[] = objects.filter((o) => o.kind !== 'Pod').map(asWritten);
    for (const a of accounts) {
      const [namespace, account] = a.split('/');
      written.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: account, namespace } });
    }
    for (const n of model.nodes) {
      written.push({
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: agentPodName(n.name), namespace: AGENT_NAMESPACE, labels: { app: 'weft-agent' } },
        spec: { nodeName: n.name, hostNetwork: true, serviceAccountName: AGENT_ACCOUNT, automountServiceAccountToken: false, containers: [{ name: 'agent', image: 'weft/agent' }] },
      });
    }
    written.push(...pods.map(asWritten));
    await kube!.apply(written);
    for (const n of model.nodes) await kube!.setNodeAddress(n.name, n.ip);
    // Pods the spec no longer has go at once: there is no kubelet to finish a graceful deletion.
    const wanted = new Set(pods.map((p) => `${(p.metadata as Obj).namespace as string}/${(p.metadata as Obj).name as string}`));
    const namespaces = [...new Set(model.nodes.flatMap((n) => n.pods.map((p) => p.namespace)))];
    for (const ns of namespaces) {
      const list = await kube!.must('GET', `/api/v1/namespaces/${ns}/pods`);
      for (const p of list.items as { metadata: { name: string } }[]) {
        if (wanted.has(`${ns}/${p.metadata.name}`)) continue;
        await kube!.must('DELETE', `/api/v1/namespaces/${ns}/pods/${p.metadata.name}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
        podStatus.delete(`${ns}/${p.metadata.name}`);
      }
    }
    for (const p of pods) {
      const meta = p.metadata as Obj;
      const id = `${meta.namespace as string}/${meta.name as string}`;
      const ip = (p.status as { podIP: string }).podIP;
      if (podStatus.get(id) === ip) continue;
      await kube!.setPodStatus(meta.namespace as string, meta.name as string, { podIP: ip, ready: true, hostIP: nodeIp.get((p.spec as { nodeName: string }).nodeName) });
      podStatus.set(id, ip);
    }
    for (const n of model.nodes) {
      const id = `${AGENT_NAMESPACE}/${agentPodName(n.name)}`;
      if (podStatus.has(id)) continue;
      await kube!.setPodStatus(AGENT_NAMESPACE, agentPodName(n.name), { podIP: n.ip, ready: true, hostIP: n.ip });
      podStatus.set(id, n.ip);
    }
  }

  await apply(spec);
  const tokens: Record<string, string> = {};
  for (const n of model.nodes) {
    const pod = await kube.must('GET', `/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${agentPodName(n.name)}`);
    tokens[n.name] = await kube.serviceAccountToken(AGENT_NAMESPACE, AGENT_ACCOUNT, { audiences: [AUDIENCE], pod: { name: agentPodName(n.name), uid: (pod.metadata as { uid: string }).uid } });
  }
  return {
    kube,
    kubeconfig,
    tokens,
    // A loopback ephemeral port: the default 0.0.0.0:15012 collides with other tests' controls.
    controlEnv: { WEFT_DISCOVERY: 'kubernetes', WEFT_KUBECONFIG: kubeconfig, WEFT_AUTHENTICATOR: 'token-review', WEFT_TOKEN_AUDIENCE: AUDIENCE, WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
    apply,
    close: () => kube.stop(),
  };
}
