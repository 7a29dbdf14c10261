// Outbound capture (15001): a meshed pod's connection, its original destination kept as the
// accepted socket's local address by TPROXY. Decide first (pure), then move bytes.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/log.ts';
import { errorCode } from '../../common/errors.ts';
import { decideOutbound, type Address, type DecideOptions, type OutboundDecision } from './outbound-decide.ts';
import type { RoutingView, ServiceEndpoint } from './routing-view.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { PathKind, ProxyStats } from './stats.ts';
import { pipeBoth, type SpliceResult } from './tcp.ts';
import { replayHead, type Sniffed } from './detect-socket.ts';

/** A meshed (hbone/local) connection, offered to the L7 path first; it calls `tcp` to decline. */
export type MeshedDecision = Extract<OutboundDecision, { kind: 'hbone' | 'local' }>;
export type L7Hook = (client: net.Socket, original: Address, decision: MeshedDecision, tcp: (sniffed: Sniffed | undefined) => void) => void;

export interface TunnelOpener {
  open(req: {
    sourceIdentity: string;
    destinationIdentity: string;
    nodeAddress: { host: string; port: number };
    target: { host: string; port: number };
  }): Promise<Duplex>;
}

export interface OutboundDeps {
  view: RoutingView;
  localNode: string;
  hbonePort: number;
  connectTimeoutMs: number;
  sockets: SocketFactory;
  tunnels: TunnelOpener;
  stats: ProxyStats;
  log: Logger;
  /** Protocol detection and the HTTP path (agent/proxy/outbound-http.ts); absent: all TCP. */
  l7?: L7Hook;
}

function randomPick(eps: readonly ServiceEndpoint[]): ServiceEndpoint {
  return eps[Math.floor(Math.random() * eps.length)];
}

function unmap(ip: string | undefined): string {
  // Dual-stack sockets report IPv4 as ::ffff:a.b.c.d.
  return ip === undefined ? '' : ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

export function createOutboundHandler(deps: OutboundDeps): (socket: net.Socket) => void {
  const opts: DecideOptions = { localNode: deps.localNode, hbonePort: deps.hbonePort, pick: randomPick };
  const log = deps.log;

  function finish(kind: PathKind, r: SpliceResult): void {
    deps.stats.closed(kind, r.bytesIn, r.bytesOut, r.error !== undefined);
  }

  function upstreamFailed(kind: PathKind, client: net.Socket, decision: OutboundDecision, err: unknown): void {
    deps.stats.closed(kind, 0, 0, true);
    log.warn('outbound connection failed', { path: kind, code: errorCode(err), message: (err as Error).message, target: 'target' in decision ? decision.target : undefined });
    // The app already holds an accepted connection: a reset is how it learns the upstream failed.
    if (!client.destroyed) client.resetAndDestroy();
  }

  function direct(kind: PathKind, client: net.Socket, decision: OutboundDecision, target: Address, sniffed?: Sniffed): void {
    deps.stats.opened(kind);
    const upstream = deps.sockets.connect(target, deps.connectTimeoutMs);
    const onError = (err: Error): void => upstreamFailed(kind, client, decision, err);
    upstream.once('error', onError);
    upstream.once('connect', () => {
      upstream.off('error', onError);
      replayHead(upstream, sniffed);
      pipeBoth(client, upstream, (r) => finish(kind, r));
    });
  }

  return function onOutbound(client: net.Socket): void {
    client.setNoDelay(true);
    // Errors before the pipe is set up (a reset while deciding) must not crash the worker.
    client.on('error', () => undefined);
    const source = { ip: unmap(client.remoteAddress), port: client.remotePort ?? 0 };
    const original = { ip: unmap(client.localAddress), port: client.localPort ?? 0 };
    const decision = decideOutbound(source, original, deps.view, opts);
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
    if (deps.l7 !== undefined && (decision.kind === 'hbone' || decision.kind === 'local')) {
      deps.l7(client, original, decision, (sniffed) => tcpPath(client, decision, sniffed));
      return;
    }
    tcpPath(client, decision, undefined);
  };

  function tcpPath(client: net.Socket, decision: OutboundDecision, sniffed: Sniffed | undefined): void {
    switch (decision.kind) {
      case 'passthrough':
        direct('outbound_passthrough', client, decision, decision.target);
        return;
      case 'local':
        direct('outbound_local', client, decision, decision.target, sniffed);
        return;
      case 'reject':
        deps.stats.rejected++;
        log.warn('outbound connection rejected', { code: decision.code, reason: decision.reason });
        client.resetAndDestroy();
        return;
      case 'hbone': {
        deps.stats.opened('outbound_hbone');
        client.pause();
        deps.tunnels
          .open({
            sourceIdentity: decision.source.identity,
            destinationIdentity: decision.destination.identity,
            nodeAddress: { host: decision.node.ip, port: decision.node.port },
            target: { host: decision.target.ip, port: decision.target.port },
          })
          .then(
            (tunnel) => {
              if (client.destroyed) {
                tunnel.destroy();
                finish('outbound_hbone', { bytesIn: 0, bytesOut: 0, error: new Error('client went away') });
                return;
              }
              replayHead(tunnel, sniffed);
              pipeBoth(client, tunnel, (r) => finish('outbound_hbone', r));
              client.resume();
            },
            (err: unknown) => upstreamFailed('outbound_hbone', client, decision, err),
          );
        return;
      }
    }
  }
}
