// Deciding, apart from moving bytes: a pure function from (source, original destination, state)
// to a plain description of what the outbound proxy must do. Table-tested without sockets.
import { ErrorCodes, type ErrorCode } from '../../common/errors.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { RoutingView, ServiceEndpoint } from './routing-view.ts';

export interface Address {
  ip: string;
  port: number;
}

export type OutboundDecision =
  /** Not a meshed destination (or an unknown source): connect straight to the original address. */
  | { kind: 'passthrough'; target: Address; reason: string }
  /** Meshed destination on this node: no TLS, but policy and metrics still apply. */
  | { kind: 'local'; target: Address; source: WorkloadRecord; destination: WorkloadRecord; service?: string }
  /** Meshed destination on another node: an HBONE stream to that node's agent. */
  | {
      kind: 'hbone';
      target: Address;
      source: WorkloadRecord;
      destination: WorkloadRecord;
      node: Address;
      service?: string;
    }
  | { kind: 'reject'; code: ErrorCode; reason: string };

export interface DecideOptions {
  localNode: string;
  hbonePort: number;
  /** Picks one endpoint; injected so the balancer is swappable and tests are deterministic. */
  pick(endpoints: readonly ServiceEndpoint[]): ServiceEndpoint;
}

export function decideOutbound(source: Address, original: Address, view: RoutingView, opts: DecideOptions): OutboundDecision {
  const src = view.workloadByIp(source.ip);
  let service: string | undefined;
  let target = original;
  let dst = view.workloadByIp(original.ip);

  if (dst === undefined) {
    const match = view.serviceByAddress(original.ip, original.port);
    if (match !== undefined) {
      service = match.service.key;
      const eps = view.endpoints(match.service.key, match.port.port);
      if (eps.length === 0) {
        return {
          kind: 'reject',
          code: ErrorCodes.NO_ROUTE,
          reason: `service ${match.service.key} port ${match.port.port} has no ready endpoints`,
        };
      }
      const ep = opts.pick(eps);
      dst = ep.workload;
      target = { ip: ep.workload.ip, port: ep.port };
    }
  }

  if (src === undefined || !src.meshed) {
    // Without a known meshed source there is no identity to present; keep the app working.
    return { kind: 'passthrough', target, reason: 'source is not a known meshed workload' };
  }
  if (dst === undefined || !dst.meshed) {
    return { kind: 'passthrough', target, reason: dst === undefined ? 'destination is outside the mesh' : 'destination is not meshed' };
  }
  if (dst.node === opts.localNode) {
    return service === undefined
      ? { kind: 'local', target, source: src, destination: dst }
      : { kind: 'local', target, source: src, destination: dst, service };
  }
  const nodeIp = view.nodeAddress(dst.node);
  if (nodeIp === undefined) {
    return {
      kind: 'reject',
      code: ErrorCodes.NO_ROUTE,
      reason: `node ${dst.node} of ${dst.key} is unknown: is its agent registered with control?`,
    };
  }
  const node = { ip: nodeIp, port: opts.hbonePort };
  return service === undefined
    ? { kind: 'hbone', target, source: src, destination: dst, node }
    : { kind: 'hbone', target, source: src, destination: dst, node, service };
}
