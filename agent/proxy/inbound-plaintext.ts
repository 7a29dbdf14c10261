// Inbound plaintext capture (15006): TCP sent to a meshed pod by something outside the mesh
// (an unmeshed pod, a node, another cluster). Permissive mode delivers it to the pod as an
// unauthenticated peer, subject to policy; STRICT mTLS mode refuses it (agent/policy).
import type { PathNormalization } from '../../common/path-normalize.ts';
import type net from 'node:net';
import type { Logger } from '../../common/log.ts';
import { errorCode } from '../../common/errors.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { decideInbound } from './inbound-decide.ts';
import type { RoutingView } from './routing-view.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { ProxyStats } from './stats.ts';
import { pipeBoth } from './tcp.ts';
import { connectionContext, type Telemetry } from '../telemetry/telemetry.ts';
import { admitSocket, unmapIpv4 } from './socket-admission.ts';
import { ErrorCodes } from '../../common/errors.ts';
import { originalOrRefuse, type CaptureOrigin } from './capture-origin.ts';
import { LogThrottle } from '../../common/log-throttle.ts';
import { isAgentListener, type AgentListeners } from './outbound-decide.ts';

/** What both inbound handlers (plaintext on 15006, HBONE on 15008) need. */
export interface InboundDeps {
  view: RoutingView;
  localNode: string;
  connectTimeoutMs: number;
  sockets: SocketFactory;
  stats: ProxyStats;
  telemetry: Telemetry;
  log: Logger;
  /** Authorization policy; absent only in tests that exercise the data path alone. */
  policy?: InboundAuthorizer;
  /** How long a peer may take to send an upgrade tunnel's request head (HBONE; default 30 s). */
  headersTimeoutMs?: number;
  /** Path normalisation of upgrade heads arriving on HBONE (WEFT_PATH_NORMALIZATION). */
  pathNormalization?: PathNormalization;
  /** The agent's own listeners: plaintext addressed to one (node-ip:15006) is refused, counted, logged throttled. */
  self?: AgentListeners;
}


/** Handles one captured plaintext connection to a pod; `origin` is its pod listener's (pod scope). */
export type InboundPlaintextHandler = (socket: net.Socket, origin?: CaptureOrigin) => void;

export function createInboundPlaintextHandler(deps: InboundDeps): InboundPlaintextHandler {
  const refusals = new LogThrottle(deps.log, { intervalMs: 10_000 });
  return function onInboundPlaintext(client: net.Socket, origin?: CaptureOrigin): void {
    client.setNoDelay(true);
    client.on('error', () => undefined);
    const original = originalOrRefuse(client, origin, deps);
    if (original === undefined) return;
    const targetIp = original.ip;
    const port = original.port;
    if (deps.self !== undefined && isAgentListener({ ip: targetIp, port }, deps.self)) {
      // Dialled directly (node addresses are never captured): no workload there, and never a relay.
      const source = unmapIpv4(client.remoteAddress);
      deps.stats.rejected++;
      deps.telemetry.inputRejected('agent_listener');
      refusals.warn(source, 'inbound plaintext refused', () => ({ code: ErrorCodes.AGENT_LISTENER, reason: `${targetIp}:${port} is the agent's own listener, not a workload`, source }));
      client.resetAndDestroy();
      return;
    }
    const decision = decideInbound(targetIp, deps.view, deps.localNode);
    if (decision.kind === 'refuse') {
      deps.stats.rejected++;
      deps.log.warn('inbound plaintext refused', { code: decision.code, reason: decision.reason, source: unmapIpv4(client.remoteAddress) });
      client.resetAndDestroy();
      return;
    }
    // Plaintext never carries an identity, whatever its source address claims: policy sees it as
    // unauthenticated (STRICT refuses it outright).
    const srcIp = unmapIpv4(client.remoteAddress);
    const policyCtx = {
      sourceIdentity: null,
      sourceAddress: srcIp,
      destination: decision.destination.key,
      destinationIdentity: decision.destination.identity,
      port,
      transport: 'plaintext' as const,
    };
    if (!admitSocket(deps.policy, client, policyCtx, deps.stats)) return;
    deps.stats.opened('inbound_plaintext');
    const ctx = connectionContext({ direction: 'inbound', path: 'inbound_plaintext', source: deps.view.workloadByIp(srcIp), destination: decision.destination, tls: 'none', sourceAddress: `${srcIp}:${client.remotePort ?? 0}`, destinationAddress: `${targetIp}:${port}` });
    deps.telemetry.opened(ctx);
    deps.stats.record({
      path: 'inbound_plaintext',
      at: new Date().toISOString(),
      sourceIdentity: null,
      sourceAddress: `${unmapIpv4(client.remoteAddress)}:${client.remotePort ?? 0}`,
      destination: `${targetIp}:${port}`,
      destinationWorkload: decision.destination.key,
    });
    const upstream = deps.sockets.connect({ ip: targetIp, port }, deps.connectTimeoutMs);
    const onError = (err: Error): void => {
      deps.stats.closed('inbound_plaintext', 0, 0, true);
      deps.telemetry.closed(ctx, 0, 0, err);
      deps.log.warn('inbound plaintext delivery failed', { code: errorCode(err), message: err.message, workload: decision.destination.key, port });
      client.resetAndDestroy();
    };
    upstream.once('error', onError);
    upstream.once('connect', () => {
      upstream.off('error', onError);
      pipeBoth(client, upstream, (r) => {
        deps.stats.closed('inbound_plaintext', r.bytesIn, r.bytesOut, r.error !== undefined);
        deps.telemetry.closed(ctx, r.bytesOut, r.bytesIn, r.error);
      });
    });
  };
}
