// The usual end of an HBONE stream: authorize, connect to the target workload, answer 200 only
// once the TCP connection is up (so the client app's connect() result stays truthful), then splice
// (pipeTunnel: the codec's CodecTunnel or node:http2's stream, tunnel-end.ts).
import type { OnReadOpts, Socket } from 'node:net';
import { ErrorCodes, errorCode } from '../../../common/errors.ts';
import type { SpliceDone } from '../tcp.ts';
import { offTunnelClose, onTunnelClose, pipeTunnel } from './tunnel-end.ts';
import type { TunnelTarget } from './connect-target.ts';
import { CodecTunnel } from './codec-tunnel.ts';
import { lentReads } from './lent-reads.ts';
import type { HboneRequest } from './server.ts';

/**
 * Opens the upstream socket (through the agent's SocketFactory in production). `onread`, when
 * given, must reach net.connect / new net.Socket: the codec's tunnel takes reads from one reused
 * buffer (lent-reads.ts).
 */
export type ConnectTcp = (host: string, port: number, onread?: OnReadOpts) => Socket;
export type AuthorizeTunnel = (peerIdentity: string, target: TunnelTarget, localIdentity: string) => boolean;

/** Nothing listening means the workload is not (yet) serving: 503; other failures are 502. */
function statusFor(err: Error): number {
  return errorCode(err) === 'ECONNREFUSED' ? 503 : 502;
}

export function deliverToTcp(req: HboneRequest, connect: ConnectTcp, authorize?: AuthorizeTunnel, onDone?: SpliceDone): void {
  const { stream, target } = req;
  if (authorize !== undefined && !authorize(req.peerIdentity, target, req.localIdentity)) {
    req.respond(403, ErrorCodes.TUNNEL_FORBIDDEN);
    onDone?.({ bytesIn: 0, bytesOut: 0 });
    return;
  }
  let socket: Socket;
  try {
    socket = connect(target.host, target.port, stream instanceof CodecTunnel ? lentReads(stream) : undefined);
  } catch (err) {
    req.respond(502, ErrorCodes.UPSTREAM_CONNECT);
    onDone?.({ bytesIn: 0, bytesOut: 0, error: err as Error });
    return;
  }
  socket.allowHalfOpen = true;

  const onConnectError = (err: Error): void => {
    offTunnelClose(stream, onEarlyClose);
    req.respond(statusFor(err), ErrorCodes.UPSTREAM_CONNECT);
    socket.destroy();
    onDone?.({ bytesIn: 0, bytesOut: 0, error: err });
  };
  // The client gave up (timeout, app went away) while we were still connecting.
  const onEarlyClose = (): void => {
    socket.off('error', onConnectError);
    socket.destroy();
    onDone?.({ bytesIn: 0, bytesOut: 0 });
  };
  socket.once('error', onConnectError);
  onTunnelClose(stream, onEarlyClose);
  socket.once('connect', () => {
    socket.off('error', onConnectError);
    offTunnelClose(stream, onEarlyClose);
    req.respond(200);
    pipeTunnel(stream, socket, onDone);
  });
}
