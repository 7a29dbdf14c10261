// An Upgrade (WebSocket, h2c) or CONNECT request for a pod on THIS node leaves HTTP: once the pod
// has its head, every later byte is opaque. So the request is authorized as a request first —
// method, path and headers, by the one check every HTTP path calls (agent/policy/http-authz.ts) —
// and only then is the head replayed to the pod and the two connections spliced. One mover for
// both ways an upgrade arrives: from a pod of this node (outbound-http.ts onUpgrade, the app's
// socket) and from a peer agent (inbound-upgrade.ts, an HBONE tunnel that starts with the head).
// The admitted connection stays watched: a later policy that denies the request resets it.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import type { ConnectionContext as PolicyContext, HttpRequestAttributes } from '../policy/evaluate.ts';
import { authorizeHttp, deniedHttp1 } from '../policy/http-authz.ts';
import { isOriginForm } from '../http/request-target.ts';
import type { Address } from './outbound-decide.ts';
import type { SocketFactory } from './socket-factory.ts';
import { pipeBoth, resetSide, type SpliceDone } from './tcp.ts';

export interface UpgradeDeliveryDeps {
  policy?: InboundAuthorizer;
  sockets: SocketFactory;
  connectTimeoutMs: number;
  log: Logger;
}

/**
 * What the upgrade path reads of a request head: node:http's IncomingMessage, or the agent's own
 * HTTP/1 codec's head (agent/proxy/outbound-h1.ts), which also carries the head's bytes.
 */
export interface UpgradeRequest {
  readonly method?: string;
  url?: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  readonly headers: http.IncomingHttpHeaders;
  /** The head's bytes as read (request line to the empty line), when the codec kept them. */
  readonly rawBytes?: Buffer;
  /** The target as on the wire: `rawBytes` is replayed only while `url` is still this. */
  readonly rawTarget?: string;
}

/**
 * The request head as it was on the wire, for replay on an opaque connection: the bytes read when
 * the codec kept them and the target stage left the target alone, else written from the fields.
 */
export function rawHead(req: UpgradeRequest): string | Buffer {
  if (req.rawBytes !== undefined && req.url === req.rawTarget) return req.rawBytes;
  let s = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return s + '\r\n';
}

/**
 * Whether an upgrade's target is one policy and the pod read alike: origin-form for an Upgrade
 * (an absolute-form target, rewritten for plain requests, would need its Host rewritten in the
 * replayed head too; it is refused instead), authority-form (as llhttp parsed it) for CONNECT.
 */
export function upgradeTargetOk(req: UpgradeRequest): boolean {
  const url = req.url ?? '';
  return req.method === 'CONNECT' ? url !== '' && url.charCodeAt(0) !== 0x2f : isOriginForm(url);
}

/** The answer to an upgrade whose target is refused (counted by the caller as `http_target`). */
export const BAD_UPGRADE_TARGET = `HTTP/1.1 400 Bad Request\r\nweft-error: ${ErrorCodes.HTTP_MALFORMED}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;

export function upgradeAttributes(req: UpgradeRequest): HttpRequestAttributes {
  return { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
}

/**
 * Authorizes the upgrade request, then connects to `target` (a pod on this node), replays the head
 * and `head` (bytes the client sent after it) and splices. Denied: 403 with the same weft-error and
 * weft-denied-by as a denied request, nothing reaches the pod. `onDone` runs once, when it is over.
 */
export function deliverUpgrade(
  deps: UpgradeDeliveryDeps,
  req: UpgradeRequest,
  client: Duplex,
  head: Buffer,
  target: Address,
  ctx: PolicyContext,
  onDone?: SpliceDone,
): void {
  const verdict = authorizeHttp(deps.policy, ctx, upgradeAttributes(req), () => resetSide(client));
  if (verdict.denied !== undefined) {
    client.end(deniedHttp1(verdict.denied));
    onDone?.({ bytesIn: 0, bytesOut: 0 });
    return;
  }
  const up = deps.sockets.connect(target, deps.connectTimeoutMs);
  const fail = (err: Error): void => {
    client.off('close', gone);
    verdict.release();
    deps.log.warn('upgrade connection failed', { target: `${target.ip}:${target.port}`, message: err.message });
    if (!client.destroyed) client.end(`HTTP/1.1 502 Bad Gateway\r\nweft-error: ${ErrorCodes.UPSTREAM_CONNECT}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    onDone?.({ bytesIn: 0, bytesOut: 0, error: err });
  };
  // The client left while we were still connecting.
  const gone = (): void => {
    up.off('error', fail);
    up.destroy();
    verdict.release();
    onDone?.({ bytesIn: 0, bytesOut: 0 });
  };
  up.once('error', fail);
  client.once('close', gone);
  up.once('connect', () => {
    up.off('error', fail);
    client.off('close', gone);
    up.write(rawHead(req));
    if (head.length > 0) up.write(head);
    pipeBoth(client, up, (r) => {
      verdict.release();
      onDone?.(r);
    });
  });
}
