// Record builders for unit tests: the same shapes the discovery sources produce.
import type { NodeRecord, ServiceRecord, WorkloadRecord } from '../../control/api/model.ts';
import { spiffeId } from '../../control/api/identity.ts';

export function workload(name: string, ip: string, node: string, extra: Partial<WorkloadRecord> = {}): WorkloadRecord {
  const namespace = extra.namespace ?? 'demo';
  const serviceAccount = extra.serviceAccount ?? name;
  return {
    kind: 'workload',
    key: `${namespace}/${name}`,
    uid: `uid-${name}`,
    name,
    namespace,
    node,
    ip,
    serviceAccount,
    identity: spiffeId('cluster.local', namespace, serviceAccount),
    labels: { app: name },
    meshed: true,
    ready: true,
    ...extra,
  };
}

export function service(name: string, clusterIP: string, port: number, targetPort: number, selector: Record<string, string>, namespace = 'demo'): ServiceRecord {
  return {
    kind: 'service',
    key: `${namespace}/${name}`,
    name,
    namespace,
    clusterIP,
    ports: [{ port, targetPort, protocol: 'TCP' }],
    selector,
  };
}

export function node(name: string, address: string): NodeRecord {
  return { kind: 'node', key: name, name, address };
}
