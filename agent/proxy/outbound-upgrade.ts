// Upgrades (WebSocket and other Upgrade requests) and CONNECT on the outbound path: the head goes
// through the target stage like any request, then leaves HTTP — replayed on an opaque connection
// to the chosen endpoint and spliced, as TCP is. The request is authorized first, as any request
// is (agent/policy/http-authz.ts): on this node by upgrade-splice.ts before the splice; on another
// node by its agent, which reads the head off an HBONE tunnel marked as an upgrade
// (inbound-upgrade.ts) before it reaches the pod. An h2c upgrade is not offered through the mesh.
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { PathNormalization } from '../../common/path-normalize.ts';
import type { Router } from '../http/router.ts';
import { deniedHttp1 } from '../policy/http-authz.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { admitTarget } from './admit-target.ts';
import { TunnelError } from './hbone/client.ts';
import { pipeTunnel, type HboneTunnel } from './hbone/tunnel-end.ts';
import { connectionOf } from './http-connection.ts';
import { isH2cUpgrade } from './outbound-h1.ts';
import type { TunnelOpener } from './outbound.ts';
import { BAD_UPGRADE_TARGET, deliverUpgrade, rawHead, upgradeTargetOk, type UpgradeDeliveryDeps, type UpgradeRequest } from './upgrade-splice.ts';

export interface OutboundUpgradeDeps extends UpgradeDeliveryDeps {
  router: Router;
  tunnels: TunnelOpener;
  hbonePort: number;
  telemetry: Telemetry;
  log: Logger;
  pathMode: PathNormalization;
  /** node:http's engine only: a request served as plain HTTP/1.1 after all, its bytes replayed into that server. */
  replayHttp1(socket: Duplex, bytes: Buffer): void;
}

export class OutboundUpgrades {
  readonly #d: OutboundUpgradeDeps;

  constructor(deps: OutboundUpgradeDeps) {
    this.#d = deps;
  }

  /** An upgrade or CONNECT head (bound once: the HTTP servers' 'upgrade' / 'connect' listener). */
  readonly onHead = (req: UpgradeRequest, socket: Duplex, head: Buffer): void => {
    const refused = admitTarget(req, 'http1', this.#d.pathMode);
    if (refused === null) {
      if (req.method !== 'CONNECT' && isH2cUpgrade(req.headers.upgrade)) this.#withoutH2c(req, socket, head);
      else this.#splice(req, socket, head);
      return;
    }
    this.#d.telemetry.inputRejected(refused.reason);
    socket.on('error', () => undefined);
    socket.end(`HTTP/1.1 400 Bad Request\r\nweft-error: ${refused.code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  };

  /**
   * An h2c upgrade is not offered through the mesh (Envoy drops it too): once an app accepted it,
   * HTTP/2 streams would follow on a spliced connection, each asking for any path with no policy
   * seeing them ("h2c smuggling"). The request is served as the HTTP/1.1 request it also is: its
   * head, less the upgrade headers, goes back to the HTTP/1 server with what followed it. The
   * client sees an ordinary answer, which RFC 9113 §3.2 (formerly RFC 7540) allows. (The agent's
   * own HTTP/1 codec declines it itself, outbound-h1.ts; this is node:http's engine.)
   */
  #withoutH2c(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    let s = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (name === 'upgrade' || name === 'http2-settings') continue;
      if (name === 'connection') {
        const keep = raw[i + 1].split(',').map((v) => v.trim()).filter((v) => v !== '' && !/^(upgrade|http2-settings)$/i.test(v));
        if (keep.length > 0) s += `${raw[i]}: ${keep.join(', ')}\r\n`;
        continue;
      }
      s += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    const bytes = Buffer.from(`${s}\r\n`, 'latin1');
    this.#d.replayHttp1(socket, head.length > 0 ? Buffer.concat([bytes, head]) : bytes);
  }

  /** WebSocket and other upgrades, and CONNECT: replay the head on an opaque connection. */
  #splice(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    const d = this.#d;
    const { router } = d;
    const conn = connectionOf(socket);
    router.counters.upgrades++;
    socket.on('error', () => undefined);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    if (!upgradeTargetOk(req)) {
      d.telemetry.inputRejected('http_target');
      socket.end(BAD_UPGRADE_TARGET);
      return;
    }
    const resolved = router.resolve(conn.destination, req.method ?? 'GET', req.url ?? '/', req.headers);
    const ep = router.lb.pick(router.breaker.available(resolved.endpoints));
    if (ep === undefined) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nweft-error: WEFT_ERR_NO_ROUTE\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    if (ep.local) {
      // This agent is the destination's too: the request is decided here, before the splice.
      deliverUpgrade(d, req, socket, head, { ip: ep.ip, port: ep.port }, {
        sourceIdentity: conn.from.identity, sourceAddress: conn.from.address, destination: ep.workload.key,
        destinationIdentity: ep.workload.identity, port: ep.port, transport: 'local',
      });
      return;
    }
    const start = (upstream: HboneTunnel): void => {
      upstream.write(rawHead(req));
      if (head.length > 0) upstream.write(head);
      pipeTunnel(socket, upstream);
    };
    const fail = (err: unknown): void => {
      if (socket.destroyed) return;
      // A peer that decided the tunnel alone (an agent before upgrade tunnels) refused it by policy.
      if (err instanceof TunnelError && err.serverCode === ErrorCodes.POLICY_DENIED) {
        socket.end(deniedHttp1(undefined));
        return;
      }
      d.log.warn('upgrade connection failed', { target: ep.id, message: (err as Error).message });
      socket.end('HTTP/1.1 502 Bad Gateway\r\nweft-error: WEFT_ERR_UPSTREAM_CONNECT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    };
    const nodeIp = router.view.nodeAddress(ep.workload.node);
    if (nodeIp === undefined) {
      fail(new Error(`node ${ep.workload.node} unknown`));
      return;
    }
    // Marked as an upgrade: the destination's agent reads and authorizes the head before its pod does.
    d.tunnels
      .openTunnel({ sourceIdentity: conn.source.identity, destinationIdentity: ep.workload.identity, nodeAddress: { host: nodeIp, port: d.hbonePort }, target: { host: ep.ip, port: ep.port }, upgrade: true })
      .then(start, fail);
  }
}
