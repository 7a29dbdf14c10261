// A testbed as a cluster in a real API server (kube-cluster.ts): the testbed's Namespaces, Nodes,
// Pods and Services created through the API, each Pod's status set as its kubelet would (the pod
// IP the testbed gave it, Running, Ready), the agents' DaemonSet-like pods (hostNetwork,
// ServiceAccount weft-system/weft-agent, one per node) with a pod-bound projected token each from
// the TokenRequest API (audience weft-control), and the chart's CRDs and RBAC as `helm template`
// renders them. EndpointSlices are not written here: the real EndpointSlice controller makes them.
//
// Control runs with a token of its own ServiceAccount (weft-system/weft-control) and therefore with
// exactly the chart's ClusterRole, never as admin.
import { appLabel, clusterObjects, type ClusterSpec } from '../testbed/cluster-objects.ts';
import type { TestbedModel } from '../testbed/topology.ts';
import { chartObjects, waitEstablished } from './chart-objects.ts';
import { GATEWAY_HTTPROUTE_CRD } from './gateway-api-crd.ts';
import type { KubeCluster, KubeObject } from './kube-cluster.ts';

export const AGENT_NAMESPACE = 'weft-system';
export const AGENT_ACCOUNT = 'weft-agent';
export const CONTROL_ACCOUNT = 'weft-control';
export const AUDIENCE = 'weft-control';

export function agentPodName(node: string): string {
  return `weft-agent-${node}`;
}

export interface TestbedKube {
  kube: KubeCluster;
  /** node → the agent's pod-bound projected token (the Mesh writes them as credential files). */
  tokens: Record<string, string>;
  /** Control settings: kubernetes discovery, TokenReview attestation, its own ServiceAccount's kubeconfig. */
  controlEnv: Record<string, string>;
  /** The kubeconfig control uses (weft-system/weft-control's token). */
  controlKubeconfig: string;
  /** Sets a testbed pod's Ready condition through the status subresource, as its kubelet would. */
  setReady(pod: string, ready: boolean): Promise<void>;
  /** Waits until the EndpointSlices of a Service list exactly these pod IPs as ready. */
  waitEndpoints(namespace: string, service: string, readyIps: string[], timeoutMs?: number): Promise<void>;
}

function strip(o: Record<string, unknown>): KubeObject {
  const meta = { ...(o.metadata as Record<string, unknown>) };
  delete meta.uid;
  delete meta.creationTimestamp;
  const { status: _status, ...rest } = o;
  return { ...rest, metadata: meta } as KubeObject;
}

async function until(what: string, pred: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Creates the testbed's cluster in `kube` and returns what a Mesh needs to run on it. `spec.extraObjects`
 * are applied as they are (after the CRDs, so policies and routes may be among them).
 */
export async function startTestbedKube(kube: KubeCluster, model: TestbedModel, spec: ClusterSpec): Promise<TestbedKube> {
  // What the chart installs that a cluster without kubelets can hold: CRDs, ServiceAccounts, RBAC.
  const chart = chartObjects() as unknown as KubeObject[];
  const crds = [...chart.filter((o) => o.kind === 'CustomResourceDefinition'), GATEWAY_HTTPROUTE_CRD];
  await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: AGENT_NAMESPACE, labels: { 'weft.dev/mesh': 'disabled' } } }, ...crds]);
  await waitEstablished(kube, crds.map((c) => (c.metadata as { name: string }).name));
  await kube.apply(chart.filter((o) => o.kind !== 'CustomResourceDefinition'));

  const base = clusterObjects(model, { ...spec, extraObjects: [] }).map(strip);
  const kinds = (k: string): KubeObject[] => base.filter((o) => o.kind === k);
  // A Pod names a ServiceAccount that must exist (ServiceAccount admission), one per app label.
  const accounts = new Map<string, KubeObject>();
  for (const p of kinds('Pod')) {
    const ns = (p.metadata as { namespace: string }).namespace;
    const sa = (p.spec as { serviceAccountName: string }).serviceAccountName;
    accounts.set(`${ns}/${sa}`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns } });
  }
  const agentPods: KubeObject[] = model.nodes.map((n) => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: agentPodName(n.name), namespace: AGENT_NAMESPACE, labels: { 'app.kubernetes.io/name': 'weft', 'app.kubernetes.io/component': 'agent' } },
    spec: { nodeName: n.name, hostNetwork: true, serviceAccountName: AGENT_ACCOUNT, automountServiceAccountToken: false, containers: [{ name: 'agent', image: 'weft-agent' }] },
  }));
  await kube.apply([...kinds('Namespace'), ...kinds('Node'), ...accounts.values()]);
  // Node addresses live in status, which a create ignores: the kubelet reports them.
  for (const n of model.nodes) {
    await kube.must('PATCH', `/api/v1/nodes/${n.name}/status`, {
      status: { addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }], conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date().toISOString(), lastTransitionTime: new Date().toISOString() }] },
    }, 'application/strategic-merge-patch+json');
  }
  await kube.apply([...kinds('Pod'), ...agentPods, ...kinds('Service')]);

  const podIp = new Map<string, { namespace: string; ip: string; hostIP: string }>();
  for (const n of model.nodes) for (const p of n.pods) podIp.set(p.name, { namespace: p.namespace, ip: p.ip, hostIP: n.ip });
  for (const p of kinds('Pod')) {
    const name = (p.metadata as { name: string }).name;
    const at = podIp.get(name)!;
    await kube.setPodStatus(at.namespace, name, { podIP: at.ip, hostIP: at.hostIP, ready: true });
  }
  const tokens: Record<string, string> = {};
  for (const n of model.nodes) {
    await kube.setPodStatus(AGENT_NAMESPACE, agentPodName(n.name), { podIP: n.ip, hostIP: n.ip, ready: true });
    const pod = await kube.must('GET', `/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${agentPodName(n.name)}`);
    tokens[n.name] = await kube.serviceAccountToken(AGENT_NAMESPACE, AGENT_ACCOUNT, { audiences: [AUDIENCE], pod: { name: agentPodName(n.name), uid: (pod.metadata as { uid: string }).uid } });
  }
  if ((spec.extraObjects ?? []).length > 0) await kube.apply(spec.extraObjects as KubeObject[]);

  const controlKubeconfig = await kube.tokenKubeconfig('weft-control', await kube.serviceAccountToken(AGENT_NAMESPACE, CONTROL_ACCOUNT, { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 24 * 3600 }));

  const waitEndpoints = async (namespace: string, service: string, readyIps: string[], timeoutMs = 30_000): Promise<void> => {
    const want = [...readyIps].sort().join(',');
    let last = '';
    await until(`EndpointSlices of ${namespace}/${service} to list ready ${want} (last: ${last})`, async () => {
      const l = await kube.must('GET', `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${service}`);
      const eps = (l.items as Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }>).flatMap((s) => s.endpoints ?? []);
      last = eps.filter((e) => e.conditions?.ready === true).flatMap((e) => e.addresses).sort().join(',');
      return last === want;
    }, timeoutMs);
  };
  for (const s of spec.services ?? []) {
    const ready: string[] = [];
    for (const n of model.nodes) for (const p of n.pods) if (p.namespace === s.namespace && appLabel(p.name) === s.selector && !(spec.absentPods ?? []).includes(p.name)) ready.push(p.ip);
    await waitEndpoints(s.namespace, s.name, ready);
  }

  return {
    kube,
    tokens,
    controlKubeconfig,
    controlEnv: {
      WEFT_DISCOVERY: 'kubernetes',
      WEFT_KUBECONFIG: controlKubeconfig,
      WEFT_AUTHENTICATOR: 'token-review',
      WEFT_TOKEN_AUDIENCE: AUDIENCE,
      WEFT_LISTEN_ADDRESS: '127.0.0.1:0',
    },
    async setReady(pod, ready) {
      const at = podIp.get(pod);
      if (at === undefined) throw new Error(`no testbed pod ${pod}`);
      await kube.setPodStatus(at.namespace, pod, { podIP: at.ip, hostIP: at.hostIP, ready });
    },
    waitEndpoints,
  };
}
