// The destination end of a cross-node Upgrade/CONNECT: an HBONE tunnel whose CONNECT carried
// UPGRADE_TUNNEL_HEADER starts with the app's HTTP/1 request head. That head is read here — by
// node:http's parser (llhttp), on a server that never listens and is fed the tunnel streams — and
// authorized as the HTTP request it is, with the peer's verified identity, by the same mover as a
// same-node upgrade (upgrade-splice.ts); only then does the pod get it. A tunnel announced as an
// upgrade that carries anything else (a plain request, bytes that are not HTTP) is refused: it
// would otherwise be opaque TCP decided as something it is not.
import http from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import { DEFAULT_PATH_NORMALIZATION, normalizePath, type PathNormalization } from '../../common/path-normalize.ts';
import { answerClientError, headerTimeoutOptions } from '../../common/http-client-error.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { ConnectionContext as PolicyContext } from '../policy/evaluate.ts';
import type { TunnelTarget } from './hbone/index.ts';
import { BAD_UPGRADE_TARGET, deliverUpgrade, upgradeTargetOk, type UpgradeDeliveryDeps } from './upgrade-splice.ts';
import type { SpliceDone } from './tcp.ts';

export interface InboundUpgradeDeps extends UpgradeDeliveryDeps {
  /** Counts refused input (weft_rejected_input_total{reason}). */
  rejected(reason: string): void;
  /** How long the source agent may take to send the head. */
  headersTimeoutMs?: number;
  /** Path normalisation (WEFT_PATH_NORMALIZATION): the source agent normalised the head already; a peer that did not is held to it here. */
  pathNormalization?: PathNormalization;
}

/** What the HBONE handler knew about the tunnel, carried on the stream to the parser's events. */
export interface UpgradeTunnel {
  peerIdentity: string;
  peerAddress: string;
  destination: WorkloadRecord;
  target: TunnelTarget;
  onDone: SpliceDone;
}

const TUNNEL = Symbol('weft.upgradeTunnel');
type Tagged = { [TUNNEL]?: UpgradeTunnel };

export interface InboundUpgrades {
  /** Takes an accepted (200) upgrade tunnel: reads its head, authorizes, delivers or refuses; `t.onDone` runs once. */
  take(stream: ServerHttp2Stream, t: UpgradeTunnel): void;
  close(): void;
}

export function createInboundUpgrades(deps: InboundUpgradeDeps): InboundUpgrades {
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const t = (socket as Tagged)[TUNNEL];
    if (t === undefined) {
      socket.destroy();
      return;
    }
    if (!upgradeTargetOk(req)) {
      deps.rejected('hbone_upgrade_target');
      socket.end(BAD_UPGRADE_TARGET);
      t.onDone({ bytesIn: 0, bytesOut: 0 });
      return;
    }
    // Idempotent on what the source agent normalised (common/path-normalize.ts); CONNECT has no path.
    const path = req.method === 'CONNECT' ? req.url ?? '' : normalizePath(req.url ?? '/', deps.pathNormalization ?? DEFAULT_PATH_NORMALIZATION);
    if (typeof path !== 'string') {
      deps.rejected(`hbone_upgrade_path_${path.refused}`);
      socket.end(`HTTP/1.1 400 Bad Request\r\nweft-error: ${ErrorCodes.HTTP_PATH}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      t.onDone({ bytesIn: 0, bytesOut: 0 });
      return;
    }
    req.url = path;
    const ctx: PolicyContext = {
      sourceIdentity: t.peerIdentity,
      sourceAddress: t.peerAddress,
      destination: t.destination.key,
      destinationIdentity: t.destination.identity,
      port: t.target.port,
      transport: 'hbone',
    };
    deliverUpgrade(deps, req, socket, head, { ip: t.target.host, port: t.target.port }, ctx, t.onDone);
  };

  const h1 = http.createServer({ keepAlive: false, requestTimeout: 0, ...headerTimeoutOptions(deps.headersTimeoutMs ?? 30_000) });
  h1.on('upgrade', onUpgrade);
  h1.on('connect', onUpgrade);
  // A plain request on an upgrade tunnel: refused, never delivered.
  h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    deps.rejected('hbone_upgrade_not_upgrade');
    req.resume();
    res.writeHead(400, { 'weft-error': ErrorCodes.HTTP_MALFORMED, 'content-length': '0', connection: 'close' });
    res.end();
    (req.socket as Tagged)[TUNNEL]?.onDone({ bytesIn: 0, bytesOut: 0 });
  });
  h1.on('clientError', (err: Error, socket: Duplex) => {
    const kind = answerClientError(err, socket);
    if (kind !== null) deps.rejected(`hbone_upgrade_${kind}`);
    (socket as Tagged)[TUNNEL]?.onDone({ bytesIn: 0, bytesOut: 0 });
  });
  // Never listens (streams are handed in): without this node:http would not enforce headersTimeout.
  h1.emit('listening');

  return {
    take(stream, t) {
      // Reported once, whichever ends it first (a refusal, the splice, a client error after it).
      let done = false;
      const onDone: SpliceDone = (r) => {
        if (done) return;
        done = true;
        t.onDone(r);
      };
      (stream as ServerHttp2Stream & Tagged)[TUNNEL] = { ...t, onDone };
      h1.emit('connection', stream);
    },
    close() {
      h1.close();
    },
  };
}
