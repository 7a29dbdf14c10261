// Kubernetes objects for a testbed, exactly as the API server returns them (the fields Weft reads
// plus the usual metadata), so the file source is fed the real JSON shapes.
import type { TestbedModel } from './topology.ts';

export interface ServiceSpec {
  name: string;
  namespace: string;
  clusterIP: string;
  port: number;
  /** A number, or the name of a container port (ClusterSpec.namedPorts gives pods their names). */
  targetPort: number | string;
  /** Pods whose name starts with this prefix get the label app=<selector>. */
  selector: string;
}

export interface ClusterSpec {
  /** Namespaces labelled weft.dev/mesh=enabled. */
  meshedNamespaces: string[];
  services?: ServiceSpec[];
  /** Pod names annotated weft.dev/mesh: disabled. */
  optOutPods?: string[];
  /** Pods left out of the model (as if deleted). */
  absentPods?: string[];
  /** Named TCP container ports per pod name (every pod declares 8080; a name for it names that entry). */
  namedPorts?: Record<string, Record<string, number>>;
  /** Further objects appended as they are (e.g. weft.dev AuthorizationPolicy / MeshPolicy). */
  extraObjects?: Record<string, unknown>[];
}

type KubeObject = Record<string, unknown>;

function uid(seed: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex}${hex.slice(0, 4)}`;
}

/** The app label of a pod: its name up to the first digit-suffix or dash-number (client-1 → client). */
export function appLabel(pod: string): string {
  return pod.replace(/-?\d+$/, '');
}

/**
 * A pod's container ports: 8080, plus the names ClusterSpec.namedPorts gives it. A name for 8080
 * names that entry (the API server refuses two entries for one port and protocol).
 */
function containerPorts(spec: ClusterSpec, pod: string): KubeObject[] {
  const ports: KubeObject[] = [{ containerPort: 8080, protocol: 'TCP' }];
  for (const [name, containerPort] of Object.entries(spec.namedPorts?.[pod] ?? {})) {
    if (containerPort === 8080) ports[0] = { name, ...ports[0] };
    else ports.push({ name, containerPort, protocol: 'TCP' });
  }
  return ports;
}

export function clusterObjects(model: TestbedModel, spec: ClusterSpec): KubeObject[] {
  const created = '2026-11-25T00:00:00Z';
  const objects: KubeObject[] = [];
  const namespaces = new Set<string>(['default']);
  for (const n of model.nodes) for (const p of n.pods) namespaces.add(p.namespace);
  for (const ns of namespaces) {
    const labels: Record<string, string> = { 'kubernetes.io/metadata.name': ns };
    if (spec.meshedNamespaces.includes(ns)) labels['weft.dev/mesh'] = 'enabled';
    objects.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, uid: uid(`ns/${ns}`), labels, creationTimestamp: created }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  }
  for (const n of model.nodes) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, uid: uid(`node/${n.name}`), labels: { 'kubernetes.io/hostname': n.name }, creationTimestamp: created },
      spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
      status: { addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }], conditions: [{ type: 'Ready', status: 'True' }] },
    });
    for (const p of n.pods) {
      if (spec.absentPods?.includes(p.name)) continue;
      const annotations: Record<string, string> = {};
      if (spec.optOutPods?.includes(p.name)) annotations['weft.dev/mesh'] = 'disabled';
      objects.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.name, namespace: p.namespace, uid: uid(`pod/${p.namespace}/${p.name}`), labels: { app: appLabel(p.name) }, annotations, creationTimestamp: created },
        spec: { nodeName: n.name, serviceAccountName: appLabel(p.name), containers: [{ name: 'app', image: 'weft-testbed/app', ports: containerPorts(spec, p.name) }] },
        status: {
          phase: 'Running',
          podIP: p.ip,
          podIPs: [{ ip: p.ip }],
          hostIP: n.ip,
          conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }],
        },
      });
    }
  }
  for (const s of spec.services ?? []) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace, uid: uid(`svc/${s.namespace}/${s.name}`), creationTimestamp: created },
      spec: { type: 'ClusterIP', clusterIP: s.clusterIP, clusterIPs: [s.clusterIP], selector: { app: s.selector }, ports: [{ name: 'tcp', port: s.port, targetPort: s.targetPort, protocol: 'TCP' }] },
      status: { loadBalancer: {} },
    });
  }
  objects.push(...(spec.extraObjects ?? []));
  return objects;
}
