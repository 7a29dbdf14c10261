// One h2c (HTTP/2 prior knowledge, no TLS) client session to a pod on this node, on either
// engine (WEFT_L7_H2_ENGINE): node:http2, or the agent's codec (agent/h2) as an H2Session over a
// plain TCP socket from the SocketFactory. The codec's session has the ClientHttp2Session members
// LocalUpstream uses (close, closed/destroyed, 'error'/'goaway'/'close') and carries each request
// as one H2StreamAttempt (H2Session.open);
// a session that never connects fails its streams with no id (never delivered: a retry may go
// elsewhere), as node:http2's does.
import type { ClientHttp2Session } from 'node:http2';
import { H2Session } from '../h2/session.ts';
import type { SocketFactory } from '../proxy/socket-factory.ts';
import type { H2Engine } from '../proxy/hbone/server.ts';
// The same windows as the client sessions of the hop between agents: one stream can fill a link.
import { CLIENT_STREAM_WINDOW, SESSION_WINDOW } from '../proxy/hbone/flow-windows.ts';

export interface PodDial {
  sockets: SocketFactory;
  target: { ip: string; port: number };
  connectTimeoutMs: number;
  engine: H2Engine;
  /** The session closes (GOAWAY, then the socket) after this long without a byte either way. */
  idleMs: number;
}


function ignore(): void {}

export function dialPodSession(d: PodDial): ClientHttp2Session {
  const socket = d.sockets.connect(d.target, d.connectTimeoutMs);
  if (d.engine === 'weft') {
    const session = new H2Session(socket, { role: 'client', readyEvent: 'connect', initialWindowSize: CLIENT_STREAM_WINDOW, connectionWindowSize: SESSION_WINDOW });
    session.on('error', ignore);
    // The socket's own inactivity timer (the SocketFactory cleared its connect timer on 'connect'):
    // what node:http2's session.setTimeout is on the other engine.
    socket.once('connect', () => socket.setTimeout(d.idleMs, () => session.close()));
    return session as unknown as ClientHttp2Session;
  }
  // node:http2 is loaded only where the node engine is chosen.
  const session = process.getBuiltinModule('node:http2').connect(`http://${d.target.ip}:${d.target.port}`, { createConnection: () => socket });
  session.on('error', ignore);
  session.setTimeout(d.idleMs, () => session.close());
  return session;
}
