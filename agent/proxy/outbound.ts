// Outbound capture (15001): a meshed pod's connection, its original destination kept as the
// accepted socket's local address by TPROXY. Decide first (pure), then move bytes.
import type net from 'node:net';
import type { Logger } from '../../common/log.ts';
import { errorCode } from '../../common/errors.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { decideOutbound, type Address, type AgentListeners, type DecideOptions, type OutboundDecision } from './outbound-decide.ts';
import { LogThrottle } from '../../common/log-throttle.ts';
import type { RoutingView, ServiceEndpoint } from './routing-view.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { PathKind, ProxyStats } from './stats.ts';
import { pipeBoth, type SpliceResult } from './tcp.ts';
import { pipeTunnel, type HboneTunnel } from './hbone/tunnel-end.ts';
import { connectionContext, type ConnectionContext, type Telemetry } from '../telemetry/telemetry.ts';
import { replayHead, type Sniffed } from './detect-socket.ts';
import { admitSocket, unmapIpv4 } from './socket-admission.ts';
import { originalOrRefuse, type CaptureOrigin } from './capture-origin.ts';
import { admitConnection, type WorkloadLimiter } from './workload-limits.ts';

/** A meshed (hbone/local) connection, offered to the L7 path first; it calls `tcp` to decline. */
export type MeshedDecision = Extract<OutboundDecision, { kind: 'hbone' | 'local' }>;
export type L7Hook = (client: net.Socket, original: Address, decision: MeshedDecision, ctx: ConnectionContext, tcp: (sniffed: Sniffed | undefined) => void) => void;

export interface TunnelOpener {
  /** An HBONE tunnel (HboneConnector.openTunnel): the codec's per-tunnel object or a Duplex; moved with pipeTunnel. */
  openTunnel(req: {
    sourceIdentity: string;
    destinationIdentity: string;
    nodeAddress: { host: string; port: number };
    target: { host: string; port: number };
    /** The tunnel starts with an HTTP Upgrade/CONNECT head the destination's agent must authorize. */
    upgrade?: boolean;
  }): Promise<HboneTunnel>;
}

export interface OutboundDeps {
  view: RoutingView;
  localNode: string;
  hbonePort: number;
  connectTimeoutMs: number;
  sockets: SocketFactory;
  tunnels: TunnelOpener;
  stats: ProxyStats;
  telemetry: Telemetry;
  log: Logger;
  /** Authorization policy for same-node deliveries (this agent is also the destination's). */
  policy?: InboundAuthorizer;
  /** Protocol detection and the HTTP path (agent/proxy/outbound-http.ts); absent: all TCP. */
  l7?: L7Hook;
  /** Connections per source pod (workload-limits.ts); absent: unlimited. */
  connectionLimit?: WorkloadLimiter;
  /** The agent's own listeners: a connection to one is refused, never passed through (a loop). */
  self?: AgentListeners;
}

/** How often refusals of one source may log a line (weft_rejected_input_total has every one). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

function randomPick(eps: readonly ServiceEndpoint[]): ServiceEndpoint {
  return eps[Math.floor(Math.random() * eps.length)];
}


function ignoreError(): void {}

/** Handles one captured outbound connection; `origin` is its pod listener's (pod scope), absent on the node's. */
export type OutboundHandler = (socket: net.Socket, origin?: CaptureOrigin) => void;

export function createOutboundHandler(deps: OutboundDeps): OutboundHandler {
  const opts: DecideOptions = { localNode: deps.localNode, hbonePort: deps.hbonePort, pick: randomPick, self: deps.self };
  const log = deps.log;
  const refusals = new LogThrottle(log, { intervalMs: REFUSAL_LOG_INTERVAL_MS });

  function finish(kind: PathKind, ctx: ConnectionContext, r: SpliceResult): void {
    deps.stats.closed(kind, r.bytesIn, r.bytesOut, r.error !== undefined);
    deps.telemetry.closed(ctx, r.bytesOut, r.bytesIn, r.error);
  }

  /**
   * The splice's end, counted (the sniffed bytes count as sent: the splice counts only what it
   * copied after them). Its own small scope: a closure made in `direct` or `tcpPath` would keep that
   * call's whole scope — the decision with its addresses, the sniffer with its first read — for as
   * long as the connection lives.
   */
  function spliceEnd(kind: PathKind, ctx: ConnectionContext, headBytes: number): (r: SpliceResult) => void {
    return (r) => {
      r.bytesOut += headBytes;
      finish(kind, ctx, r);
    };
  }

  function upstreamFailed(kind: PathKind, ctx: ConnectionContext, client: net.Socket, decision: OutboundDecision, err: unknown): void {
    deps.stats.closed(kind, 0, 0, true);
    deps.telemetry.closed(ctx, 0, 0, err as Error);
    log.warn('outbound connection failed', { path: kind, code: errorCode(err), message: (err as Error).message, target: 'target' in decision ? decision.target : undefined });
    // The app already holds an accepted connection: a reset is how it learns the upstream failed.
    if (!client.destroyed) client.resetAndDestroy();
  }

  function direct(kind: PathKind, ctx: ConnectionContext, client: net.Socket, decision: OutboundDecision, target: Address, sniffed?: Sniffed): void {
    deps.stats.opened(kind);
    deps.telemetry.opened(ctx);
    const upstream = deps.sockets.connect(target, deps.connectTimeoutMs);
    const onError = (err: Error): void => upstreamFailed(kind, ctx, client, decision, err);
    upstream.once('error', onError);
    upstream.once('connect', () => {
      upstream.off('error', onError);
      replayHead(upstream, sniffed);
      pipeBoth(client, upstream, spliceEnd(kind, ctx, sniffed?.head.length ?? 0));
    });
  }

  return function onOutbound(client: net.Socket, origin?: CaptureOrigin): void {
    client.setNoDelay(true);
    // Errors before the pipe is set up (a reset while deciding) must not crash the worker. A
    // module-level function: a closure made here would keep this call's scope (the decision, the
    // context) for as long as the connection lives.
    client.on('error', ignoreError);
    const source = { ip: unmapIpv4(client.remoteAddress), port: client.remotePort ?? 0 };
    const original = originalOrRefuse(client, origin, deps);
    if (original === undefined) return;
    const named = origin?.pod();
    const decision = decideOutbound(source, original, deps.view, opts, named);
    // Fairness first, before any work is spent on a connection its pod may not have.
    const from = decision.kind === 'hbone' || decision.kind === 'local' ? decision.source : decision.kind === 'passthrough' ? named ?? deps.view.workloadByIp(source.ip) : undefined;
    if (!admitConnection(deps.connectionLimit, client, from)) return;
    if (decision.kind !== 'reject') {
      deps.stats.record({
        path: decision.kind === 'hbone' ? 'outbound_hbone' : decision.kind === 'local' ? 'outbound_local' : 'outbound_passthrough',
        at: new Date().toISOString(),
        sourceIdentity: decision.kind === 'passthrough' ? null : decision.source.identity,
        sourceAddress: `${source.ip}:${source.port}`,
        destination: `${decision.target.ip}:${decision.target.port}`,
        destinationWorkload: decision.kind === 'passthrough' ? null : decision.destination.key,
      });
    }
    const ctx = decision.kind === 'reject' ? undefined : connectionContext({
      direction: 'outbound',
      path: decision.kind === 'hbone' ? 'outbound_hbone' : decision.kind === 'local' ? 'outbound_local' : 'outbound_passthrough',
      source: decision.kind === 'passthrough' ? named ?? deps.view.workloadByIp(source.ip) : decision.source,
      destination: decision.kind === 'passthrough' ? deps.view.workloadByIp(decision.target.ip) : decision.destination,
      service: decision.kind === 'passthrough' ? undefined : decision.service,
      tls: decision.kind === 'hbone' ? 'mutual' : 'none',
      sourceAddress: `${source.ip}:${source.port}`,
      destinationAddress: `${decision.target.ip}:${decision.target.port}`,
    });
    if (deps.l7 !== undefined && (decision.kind === 'hbone' || decision.kind === 'local')) {
      deps.l7(client, original, decision, ctx as ConnectionContext, (sniffed) => tcpPath(client, source, original, decision, ctx, sniffed));
      return;
    }
    tcpPath(client, source, original, decision, ctx, undefined);
  };

  function tcpPath(client: net.Socket, source: Address, original: Address, decision: OutboundDecision, ctx: ConnectionContext | undefined, sniffed: Sniffed | undefined): void {
    switch (decision.kind) {
      case 'passthrough':
        direct('outbound_passthrough', ctx as ConnectionContext, client, decision, decision.target);
        return;
      case 'local': {
        // Same node: no tunnel, but this agent is the destination's too, and it knows the source
        // pod (and so its identity) from the pod IP: the same policy as HBONE applies.
        const policyCtx = {
          sourceIdentity: decision.source.identity,
          sourceAddress: source.ip,
          destination: decision.destination.key,
          destinationIdentity: decision.destination.identity,
          port: decision.target.port,
          transport: 'local' as const,
        };
        if (!admitSocket(deps.policy, client, policyCtx, deps.stats)) return;
        direct('outbound_local', ctx as ConnectionContext, client, decision, decision.target, sniffed);
        return;
      }
      case 'reject':
        deps.stats.rejected++;
        if (decision.rejected !== undefined) {
          // Input anyone on the node can send at will: counted, and logged at most once per interval per source.
          deps.telemetry.inputRejected(decision.rejected);
          refusals.warn(source.ip, 'outbound connection rejected', () => ({ code: decision.code, reason: decision.reason, source, destination: original }));
        } else {
          log.warn('outbound connection rejected', { code: decision.code, reason: decision.reason, source, destination: original });
        }
        client.resetAndDestroy();
        return;
      case 'hbone': {
        const hctx = ctx as ConnectionContext;
        deps.stats.opened('outbound_hbone');
        deps.telemetry.opened(hctx);
        client.pause();
        deps.tunnels
          .openTunnel({
            sourceIdentity: decision.source.identity,
            destinationIdentity: decision.destination.identity,
            nodeAddress: { host: decision.node.ip, port: decision.node.port },
            target: { host: decision.target.ip, port: decision.target.port },
          })
          .then(
            (tunnel) => {
              if (client.destroyed) {
                tunnel.destroy();
                finish('outbound_hbone', hctx, { bytesIn: 0, bytesOut: 0, error: new Error('client went away') });
                return;
              }
              replayHead(tunnel, sniffed);
              pipeTunnel(client, tunnel, spliceEnd('outbound_hbone', hctx, sniffed?.head.length ?? 0));
              client.resume();
            },
            (err: unknown) => upstreamFailed('outbound_hbone', hctx, client, decision, err),
          );
        return;
      }
    }
  }
}
