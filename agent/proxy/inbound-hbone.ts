// Inbound HBONE (15008): a peer agent's CONNECT, its client certificate already verified by the
// TLS layer. Deliver only to a meshed workload on this node whose identity is the one the peer
// asked for by SNI, so a tunnel can never be steered to a pod the client did not authenticate.
import type { ServerHttp2Stream } from 'node:http2';
import type { OnReadOpts } from 'node:net';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { deliverToTcp, type HboneRequest } from './hbone/index.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { decideInbound } from './inbound-decide.ts';
import type { RoutingView } from './routing-view.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { ProxyStats } from './stats.ts';
import { onTunnelClose, resetTunnel } from './hbone/tunnel-end.ts';
import { CodecTunnel } from './hbone/codec-tunnel.ts';
import { connectionContext, type Telemetry } from '../telemetry/telemetry.ts';
import type { InboundDeps } from './inbound-plaintext.ts';
import { createInboundUpgrades } from './inbound-upgrade.ts';
import type { SpliceResult } from './tcp.ts';


export function createInboundHboneHandler(deps: InboundDeps): (req: HboneRequest) => void {
  const connect = (host: string, port: number, onread?: OnReadOpts) => deps.sockets.connect({ ip: host, port }, deps.connectTimeoutMs, onread);
  const upgrades = createInboundUpgrades({ ...deps, rejected: (reason) => deps.telemetry.inputRejected(reason) });
  return function onHboneStream(req: HboneRequest): void {
    const decision = decideInbound(req.target.host, deps.view, deps.localNode);
    if (decision.kind === 'refuse') {
      deps.stats.rejected++;
      // Never an open relay: a target that is not a meshed workload on this node is counted.
      deps.telemetry.inputRejected('hbone_target_refused');
      deps.log.warn('HBONE stream refused', { code: decision.code, reason: decision.reason, peer: req.peerIdentity });
      req.respond(decision.status, decision.code);
      return;
    }
    if (decision.destination.identity !== req.localIdentity) {
      deps.stats.rejected++;
      deps.telemetry.inputRejected('hbone_identity_mismatch');
      deps.log.warn('HBONE stream refused', {
        code: ErrorCodes.PEER_IDENTITY,
        reason: `target ${decision.destination.key} is ${decision.destination.identity}, but the peer authenticated ${req.localIdentity}`,
        peer: req.peerIdentity,
      });
      req.respond(421, ErrorCodes.PEER_IDENTITY);
      return;
    }
    if (req.upgrade) {
      upgradeTunnel(req, decision.destination);
      return;
    }
    // Policy, with the peer's verified identity. A denial answers 403 + WEFT_ERR_POLICY_DENIED, so
    // the source agent resets the app's connection; an allowed tunnel stays watched, and a later
    // policy that denies it resets the stream (the source app sees a reset too).
    const sourceAddress = req.socket.remoteAddress ?? '';
    // The closures below live as long as the tunnel (the policy's watch, the splice's onDone); V8
    // gives them one context with every variable they name, so they name `stream`, never `req`:
    // `req` and what it holds (its respond closure, the target) would stay alive for the
    // tunnel's life, ~0.2 KB per idle tunnel on the destination agent (docs/design-notes.md).
    const stream = req.stream;
    const admission = deps.policy?.admit(
      {
        sourceIdentity: req.peerIdentity,
        sourceAddress,
        destination: decision.destination.key,
        destinationIdentity: decision.destination.identity,
        port: req.target.port,
        transport: 'hbone',
      },
      () => resetTunnel(stream),
    );
    if (admission !== undefined && !admission.decision.allowed) {
      deps.stats.rejected++;
      req.respond(403, ErrorCodes.POLICY_DENIED);
      return;
    }
    if (admission !== undefined) onTunnelClose(stream, admission.release);
    const ctx = opened(req, decision.destination, sourceAddress);
    deliverToTcp(req, connect, undefined, (r) => {
      deps.stats.closed('inbound_hbone', r.bytesIn, r.bytesOut, r.error !== undefined);
      deps.telemetry.closed(ctx, r.bytesOut, r.bytesIn, r.error);
    });
  };

  /**
   * A tunnel that starts with an Upgrade/CONNECT head: decided per request, not per connection, so
   * it is accepted (200) for the head to arrive, and inbound-upgrade.ts authorizes that head as the
   * HTTP request it is before anything reaches the pod (403 in the tunnel when denied).
   */
  /** An admitted tunnel, counted and recorded once, whichever way it goes on. */
  function opened(req: HboneRequest, destination: WorkloadRecord, sourceAddress: string): ReturnType<typeof connectionContext> {
    const target = `${req.target.host}:${req.target.port}`;
    deps.stats.opened('inbound_hbone');
    deps.stats.record({ path: 'inbound_hbone', at: new Date().toISOString(), sourceIdentity: req.peerIdentity, sourceAddress, destination: target, destinationWorkload: destination.key });
    const ctx = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: req.peerIdentity, destination, tls: 'mutual', sourceAddress, destinationAddress: target });
    deps.telemetry.opened(ctx);
    return ctx;
  }

  function upgradeTunnel(req: HboneRequest, destination: WorkloadRecord): void {
    const stream = req.stream;
    // The listener keeps upgrade tunnels Duplex streams on both engines: node:http reads their head.
    if (stream instanceof CodecTunnel) throw new Error('an upgrade tunnel reached the handler as a codec tunnel');
    const sourceAddress = req.socket.remoteAddress ?? '';
    req.respond(200);
    const ctx = opened(req, destination, sourceAddress);
    const onDone = (r: SpliceResult): void => {
      deps.stats.closed('inbound_hbone', r.bytesIn, r.bytesOut, r.error !== undefined);
      deps.telemetry.closed(ctx, r.bytesOut, r.bytesIn, r.error);
    };
    upgrades.take(stream as ServerHttp2Stream, { peerIdentity: req.peerIdentity, peerAddress: sourceAddress, destination, target: req.target, onDone });
  }
}
