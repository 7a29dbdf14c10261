// Builders for the JSON of real Kubernetes objects (the fields Weft reads plus the usual metadata),
// for the API server fixture. EndpointSlices are derived from a Service and its pods the way the
// EndpointSlice controller writes them.
import type { KubeObject } from './api-server.ts';

export function namespace(name: string, meshed: boolean): KubeObject {
  const labels: Record<string, string> = { 'kubernetes.io/metadata.name': name };
  if (meshed) labels['weft.dev/mesh'] = 'enabled';
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } };
}

export function node(name: string, ip: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: { podCIDR: '10.244.0.0/24' },
    status: {
      addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }],
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
      nodeInfo: { kubeletVersion: 'v1.33.1', containerRuntimeVersion: 'containerd://2.0.5' },
    },
  };
}

export interface PodSpec {
  name: string;
  namespace: string;
  node: string;
  ip: string;
  serviceAccount?: string;
  labels?: Record<string, string>;
  ready?: boolean;
  uid?: string;
  optOut?: boolean;
  hostNetwork?: boolean;
  phase?: string;
}

export function pod(p: PodSpec): KubeObject {
  const ready = p.ready ?? true;
  const cond = ready ? 'True' : 'False';
  const annotations: Record<string, string> = {};
  if (p.optOut === true) annotations['weft.dev/mesh'] = 'disabled';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      ...(p.uid === undefined ? {} : { uid: p.uid }),
      labels: p.labels ?? {},
      annotations,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${p.name}-rs`, uid: '5b0c3a52-8d4f-4c64-9d0b-3b2a1f0e9c11', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      nodeName: p.node,
      serviceAccountName: p.serviceAccount ?? 'default',
      ...(p.hostNetwork === true ? { hostNetwork: true } : {}),
      containers: [{ name: 'app', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }], resources: {} }],
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
    },
    status: {
      phase: p.phase ?? 'Running',
      hostIP: '192.168.0.1',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      startTime: '2026-11-25T00:00:00Z',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastTransitionTime: '2026-11-25T00:00:01Z' },
        { type: 'Initialized', status: 'True', lastTransitionTime: '2026-11-25T00:00:01Z' },
        { type: 'Ready', status: cond, lastTransitionTime: '2026-11-25T00:00:02Z' },
        { type: 'ContainersReady', status: cond, lastTransitionTime: '2026-11-25T00:00:02Z' },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-25T00:00:00Z' },
      ],
      qosClass: 'BestEffort',
    },
  };
}

export interface ServiceSpec {
  name: string;
  namespace: string;
  clusterIP: string;
  selector: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort: number | string; appProtocol?: string }>;
}

export function service(s: ServiceSpec): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace, labels: {} },
    spec: {
      type: 'ClusterIP',
      clusterIP: s.clusterIP,
      clusterIPs: [s.clusterIP],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      selector: s.selector,
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ports: s.ports.map((p) => ({ ...(p.name === undefined ? {} : { name: p.name }), protocol: 'TCP', port: p.port, targetPort: p.targetPort, ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }) })),
    },
    status: { loadBalancer: {} },
  };
}

/** The slice the EndpointSlice controller keeps for a Service over the given pods. */
export function endpointSlice(s: ServiceSpec, pods: readonly PodSpec[], suffix = 'abcde'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${s.name}-${suffix}`,
      namespace: s.namespace,
      generateName: `${s.name}-`,
      labels: { 'kubernetes.io/service-name': s.name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: s.name, uid: '0d7c5f0e-2f51-4c1b-9a57-6c1f2e3d4b5a', controller: true, blockOwnerDeletion: true }],
    },
    addressType: 'IPv4',
    endpoints: pods.map((p) => ({
      addresses: [p.ip],
      conditions: { ready: p.ready ?? true, serving: p.ready ?? true, terminating: false },
      nodeName: p.node,
      targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, ...(p.uid === undefined ? {} : { uid: p.uid }) },
    })),
    ports: s.ports.map((p) => ({ ...(p.name === undefined ? {} : { name: p.name }), protocol: 'TCP', port: typeof p.targetPort === 'number' ? p.targetPort : 8080 })),
  };
}
