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
  | {
      kind: 'reject';
      code: ErrorCode;
      reason: string;
      /** Set when the refusal is input to count (weft_rejected_input_total{reason}) and log throttled. */
      rejected?: 'agent_listener';
    };

/**
 * The agent's own listeners: the ports it accepts on (15001, 15006, 15008, admin, readiness) and
 * the node's own addresses, where a wildcard listener answers. Redirection never captures a
 * connection to a node address (iptables `--dst-type LOCAL -j RETURN`, the eBPF `weft_local`
 * map), so a pod that dials node-ip:15001 reaches the listener directly — and passing that through
 * would dial the listener again from the node, forever, outside any workload's limit.
 */
export interface AgentListeners {
  readonly ports: ReadonlySet<number>;
  /** The node's IPv4 addresses (loopback is always counted as the node's). */
  readonly addresses: ReadonlySet<string>;
}

/** Is `original` one of the agent's own listeners (a loop if passed through)? */
export function isAgentListener(original: Address, self: AgentListeners): boolean {
  if (!self.ports.has(original.port)) return false;
  return original.ip.startsWith('127.') || original.ip === '0.0.0.0' || self.addresses.has(original.ip);
}

export interface DecideOptions {
  localNode: string;
  hbonePort: number;
  /** Picks one endpoint; injected so the balancer is swappable and tests are deterministic. */
  pick(endpoints: readonly ServiceEndpoint[]): ServiceEndpoint;
  /** Connections to these are refused before anything else (see AgentListeners). */
  self?: AgentListeners;
}

/**
 * `named`: the source workload as its listener names it (pod scope: the listener lives in that
 * pod); without it the source is looked up by address (node scope).
 */
export function decideOutbound(source: Address, original: Address, view: RoutingView, opts: DecideOptions, named?: WorkloadRecord): OutboundDecision {
  // First, whoever the source is (a meshed pod, an unmeshed one, the node itself): never a loop.
  if (opts.self !== undefined && isAgentListener(original, opts.self)) {
    return {
      kind: 'reject',
      code: ErrorCodes.AGENT_LISTENER,
      reason: `${original.ip}:${original.port} is the agent's own listener, not a destination: refused rather than passed through (it would connect to itself)`,
      rejected: 'agent_listener',
    };
  }
  const src = named ?? view.workloadByIp(source.ip);
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
