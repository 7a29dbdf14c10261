// What the Kubernetes tier takes from the chart: its CRDs, and control's RBAC and ServiceAccount,
// rendered by the real helm binary (tests/helm/chart.ts), so the API server validates objects with
// the schema users install and control runs with exactly the permissions the chart grants.
//
// The Gateway API is not part of the chart, and no npm package ships its CRD YAML; gatewayApiCrd()
// is a minimal STRUCTURAL stand-in written for these tests: the real group, kind, plural and
// versions (v1 and v1beta1), with `spec` kept as arbitrary fields. It checks discovery (which version
// is served, CRD added or removed), not the Gateway API's own validation.
import { render, NAMESPACE, type K8sObject } from '../helm/chart.ts';
import type { KubeCluster, KubeObject } from './kube-cluster.ts';

export { NAMESPACE as CHART_NAMESPACE };

/** The chart's CRDs, ClusterRole/Binding and ServiceAccounts, as helm renders them by default. */
export function chartObjects(kinds: readonly string[] = ['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'ServiceAccount']): K8sObject[] {
  return render().filter((o) => kinds.includes(o.kind));
}

/** Waits until every CRD in `names` reports Established (served). */
export async function waitEstablished(kube: KubeCluster, names: readonly string[]): Promise<void> {
  const r = await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)]);
  if (r.code !== 0) throw new Error(`CRDs not established: ${r.stderr}`);
}

/**
 * Installs the chart's CRDs and control's RBAC, and returns a kubeconfig that authenticates as the
 * chart's `weft-control` ServiceAccount (a TokenRequest token, as the pod's projected volume holds).
 */
export async function installChartAccess(kube: KubeCluster): Promise<{ kubeconfig: string; token: string }> {
  await kube.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }]);
  const objs = chartObjects();
  await kube.apply(objs as unknown as KubeObject[]);
  await waitEstablished(kube, objs.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name));
  const token = await kube.serviceAccountToken(NAMESPACE, 'weft-control', { audiences: ['https://kubernetes.default.svc.cluster.local'] });
  return { kubeconfig: await kube.tokenKubeconfig('weft-control', token), token };
}

/** The minimal structural HTTPRoute CRD (see above), serving `versions`; storage is the first. */
export function gatewayApiCrd(versions: readonly ('v1' | 'v1beta1')[]): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    // *.k8s.io groups need this annotation; the real CRDs name their approval PR, ours says what it is.
    metadata: { name: 'httproutes.gateway.networking.k8s.io', annotations: { 'api-approved.kubernetes.io': 'unapproved, a structural stand-in for tests' } },
    spec: {
      group: 'gateway.networking.k8s.io',
      scope: 'Namespaced',
      names: { kind: 'HTTPRoute', listKind: 'HTTPRouteList', plural: 'httproutes', singular: 'httproute' },
      versions: (['v1', 'v1beta1'] as const).map((name) => ({
        name,
        served: versions.includes(name),
        storage: name === versions[0],
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
      })),
    },
  };
}
