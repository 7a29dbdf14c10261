// A RoutingView over plain arrays, for decision tests.
import type { NodeRecord, ServiceRecord, WorkloadRecord } from '../../control/api/model.ts';
import type { RoutingView, ServiceEndpoint } from '../../agent/proxy/routing-view.ts';

export function tableView(workloads: WorkloadRecord[], services: ServiceRecord[], nodes: NodeRecord[]): RoutingView {
  return {
    workloadByIp: (ip) => workloads.find((w) => w.ip === ip),
    serviceByAddress(ip, port) {
      for (const s of services) {
        const p = s.clusterIP === ip ? s.ports.find((x) => x.port === port) : undefined;
        if (p !== undefined) return { service: s, port: p };
      }
      return undefined;
    },
    endpoints(key, port): ServiceEndpoint[] {
      const s = services.find((x) => x.key === key);
      const p = s?.ports.find((x) => x.port === port);
      if (s === undefined || p === undefined) return [];
      return workloads
        .filter((w) => w.namespace === s.namespace && w.ready && Object.entries(s.selector).every(([k, v]) => w.labels[k] === v))
        .map((w) => ({ workload: w, port: typeof p.targetPort === 'number' ? p.targetPort : p.port }));
    },
    nodeAddress: (n) => nodes.find((x) => x.name === n)?.address,
  };
}
