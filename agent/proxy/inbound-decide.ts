// What the destination agent may deliver to. HBONE CONNECT targets and captured plaintext must
// name a meshed workload on THIS node, so the agent is never an open relay into the network.
import { ErrorCodes, type ErrorCode } from '../../common/errors.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { RoutingView } from './routing-view.ts';

export type InboundDecision =
  | { kind: 'deliver'; destination: WorkloadRecord }
  | { kind: 'refuse'; code: ErrorCode; status: number; reason: string };

export function decideInbound(targetIp: string, view: RoutingView, localNode: string): InboundDecision {
  const dst = view.workloadByIp(targetIp);
  if (dst === undefined) {
    return { kind: 'refuse', code: ErrorCodes.TUNNEL_REFUSED, status: 404, reason: `${targetIp} is not a known workload` };
  }
  if (dst.node !== localNode) {
    return { kind: 'refuse', code: ErrorCodes.TUNNEL_REFUSED, status: 421, reason: `${dst.key} runs on node ${dst.node}, not on ${localNode}` };
  }
  if (!dst.meshed) {
    return { kind: 'refuse', code: ErrorCodes.TUNNEL_REFUSED, status: 403, reason: `${dst.key} is not meshed` };
  }
  return { kind: 'deliver', destination: dst };
}
