// A testbed as a real cluster (testbed-cluster.ts: Namespaces, Nodes, Pods with the status a
// kubelet would set, Services, the agents' DaemonSet-like pods with pod-bound projected tokens, the
// chart's CRDs and RBAC, control as its own ServiceAccount), made ready for what a user applies
// with kubectl: the Gateway API HTTPRoute CRD installed (gateway-api-crd.ts), every Service's
// EndpointSlices waited for, and readiness churn as a kubelet reports it (setReady) observed
// through the real EndpointSlice controller (waitEndpoints).
import { appLabel, type ClusterSpec } from '../testbed/cluster-objects.ts';
import type { TestbedModel } from '../testbed/topology.ts';
import { waitEstablished } from './chart-objects.ts';
import { GATEWAY_HTTPROUTE_CRD } from './gateway-api-crd.ts';
import type { KubeTestHost } from './kube-cluster.ts';
import { startKubeTestbedCluster, type KubeTestbedCluster } from './testbed-cluster.ts';

export interface TestbedKube extends KubeTestbedCluster {
  /** Sets a testbed pod's Ready condition through the status subresource, as its kubelet would. */
  setReady(pod: string, ready: boolean): Promise<void>;
  /** Waits until the EndpointSlices of a Service list exactly these pod IPs as ready. */
  waitEndpoints(namespace: string, service: string, readyIps: string[], timeoutMs?: number): Promise<void>;
}

/**
 * Starts the cluster (null, after a skipped test naming why, when the Kubernetes binaries are
 * missing); `spec.extraObjects` are applied as written once the CRDs are served.
 */
export async function startTestbedKube(t: KubeTestHost, name: string, model: TestbedModel, spec: ClusterSpec): Promise<TestbedKube | null> {
  const cluster = await startKubeTestbedCluster(t, name, model, { ...spec, extraObjects: [] });
  if (cluster === null) return null;
  const { kube } = cluster;
  await kube.apply([GATEWAY_HTTPROUTE_CRD]);
  await waitEstablished(kube, [(GATEWAY_HTTPROUTE_CRD.metadata as { name: string }).name]);
  if ((spec.extraObjects ?? []).length > 0) await kube.apply(spec.extraObjects as never);

  const pods = new Map<string, { namespace: string; ip: string; hostIP: string }>();
  for (const n of model.nodes) for (const p of n.pods) pods.set(p.name, { namespace: p.namespace, ip: p.ip, hostIP: n.ip });

  const waitEndpoints = async (namespace: string, service: string, readyIps: string[], timeoutMs = 30_000): Promise<void> => {
    const want = [...readyIps].sort().join(',');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = await kube.must('GET', `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${service}`);
      const eps = (l.items as Array<{ endpoints?: Array<{ addresses: string[]; conditions?: { ready?: boolean } }> }>).flatMap((s) => s.endpoints ?? []);
      const have = eps.filter((e) => e.conditions?.ready === true).flatMap((e) => e.addresses).sort().join(',');
      if (have === want) return;
      if (Date.now() > deadline) throw new Error(`EndpointSlices of ${namespace}/${service} list ready [${have}], not [${want}], after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  for (const s of spec.services ?? []) {
    const ready = [...pods].filter(([p, at]) => at.namespace === s.namespace && appLabel(p) === s.selector && !(spec.absentPods ?? []).includes(p)).map(([, at]) => at.ip);
    await waitEndpoints(s.namespace, s.name, ready);
  }

  return {
    ...cluster,
    async setReady(pod, ready) {
      const at = pods.get(pod);
      if (at === undefined) throw new Error(`no testbed pod ${pod}`);
      await kube.setPodStatus(at.namespace, pod, { podIP: at.ip, hostIP: at.hostIP, ready });
    },
    waitEndpoints,
  };
}
