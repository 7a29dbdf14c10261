// The narrow read-only view of the agent's state that routing decisions need. AgentState implements
// it; tests pass a table. Keeping it narrow keeps the decision a pure function of its inputs.
import type { ServicePort, ServiceRecord, WorkloadRecord } from '../../control/api/model.ts';

export interface ServiceEndpoint {
  workload: WorkloadRecord;
  port: number;
}

export interface ServiceMatch {
  service: ServiceRecord;
  port: ServicePort;
}

export interface RoutingView {
  workloadByIp(ip: string): WorkloadRecord | undefined;
  serviceByAddress(ip: string, port: number): ServiceMatch | undefined;
  /** Ready endpoints of one service port (by the service's key and port number), target port resolved. */
  endpoints(serviceKey: string, servicePort: number): readonly ServiceEndpoint[];
  /** Where a node's agent accepts HBONE, or undefined when the node is unknown. */
  nodeAddress(node: string): string | undefined;
}
