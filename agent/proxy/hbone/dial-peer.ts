// Dials a peer agent's HBONE port (15008): one mTLS HTTP/2 session, the same for both pools that
// use the hop — the tunnel client (client.ts) and the L7 client sessions
// (agent/http/peer-sessions.ts). The source workload's certificate, SNI naming the destination
// workload, TLS 1.3, ALPN h2, and the server's SPIFFE ID checked against the destination.
//
// WEFT_L7_H2_ENGINE picks the HTTP/2 implementation: node:http2, or agent/h2's codec (`weft`),
// whose H2Session has the node:http2 client surface the pool, the liveness watch and the tunnel
// client use (request, close/destroy, ping, connecting, remoteSettings,
// 'connect'/'goaway'/'error'/'close'); its request() streams have the ClientHttp2Stream surface
// (agent/h2/duplex-stream.ts). L7 requests use H2Session.open instead: one plain object per
// request (agent/http/h2-stream-attempt.ts).
import type { ClientHttp2Session } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { H2Session } from '../../h2/session.ts';
import { formatConnectTarget } from './connect-target.ts';
import { expectServerIdentity } from './peer-identity.ts';
import type { H2Engine } from './server.ts';
import { sniForIdentity } from './sni.ts';
import { CLIENT_STREAM_WINDOW, SESSION_WINDOW } from './flow-windows.ts';
import type { HeldBytesBudget } from '../../h2/held-bytes-budget.ts';
import { lentReads, type LentReader } from './lent-reads.ts';

/** Opens a TLS connection to host:port with `opts` (TLS making its own TCP connection, so `opts.onread` holds). */
export type DialTls = (host: string, port: number, opts: ConnectionOptions) => TLSSocket;

export interface PeerDial {
  /** The source workload's client context. */
  context: SecureContext;
  destinationIdentity: string;
  trustDomain: string;
  node: { host: string; port: number };
  /** An already-dialled TCP socket to `node` (the agent's SocketFactory); absent: TLS dials itself. */
  socket?: Socket;
  /**
   * Codec engine, instead of `socket`: opens the TLS connection itself (the agent's
   * SocketFactory.connectTls), so the session's cleartext reads land in lent-reads.ts's buffer.
   */
  dialTls?: DialTls;
  engine: H2Engine;
  /**
   * The source workload's held-bytes account (agent/h2/held-bytes-budget.ts): the codec session
   * counts what its stalled readers hold against it and lowers its stream window when told.
   * node:http2 has no per-stream held count to feed it: that engine is not bounded this way.
   */
  heldBytes?: { budget: HeldBytesBudget; sourceIdentity: string };
}

// The windows (flow-windows.ts). The h2c pod sessions once kept 1 MiB: a slow app reader's
// download hung with 4 MiB. The cause was not the window: a body that ends exactly as the stream
// window does leaves node:http2's server unable to send its empty END_STREAM DATA frame, so it
// closes the stream with RST_STREAM(NO_ERROR), which the codec's attempt took as a failure
// (agent/h2/reset-ends-response.ts). Any window size can meet it.

function ignore(): void {}

/** The TLS client options every session to a peer agent uses. */
export function peerTlsOptions(d: PeerDial): ConnectionOptions {
  const opts: ConnectionOptions = {
    secureContext: d.context,
    servername: sniForIdentity(d.destinationIdentity),
    ALPNProtocols: ['h2'],
    minVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    checkServerIdentity: expectServerIdentity(d.destinationIdentity, d.trustDomain),
  };
  if (d.socket !== undefined) {
    opts.socket = d.socket;
  } else {
    opts.host = d.node.host;
    opts.port = d.node.port;
  }
  return opts;
}

/**
 * A client session to a peer agent on the chosen engine; its requests wait for the handshake.
 * Session errors are the pool's to record ('error' listener of SessionPool): one is attached
 * here so that a failure before the pool listens cannot crash the agent.
 */
export function dialPeerSession(d: PeerDial): ClientHttp2Session {
  const tlsOpts = peerTlsOptions(d);
  if (d.engine === 'weft') return dialCodec(tlsOpts, d);
  // node:http2 is loaded only where the node engine is chosen.
  const session = process.getBuiltinModule('node:http2').connect(`https://${formatConnectTarget(d.node)}`, {
    createConnection: () => tlsConnect(tlsOpts),
    settings: { enablePush: false, initialWindowSize: CLIENT_STREAM_WINDOW },
  });
  session.on('error', ignore);
  session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
  return session;
}

/** Hands a lent read to the session made after its socket (the socket's onread is fixed at connect). */
class LentToSession implements LentReader {
  session: H2Session | undefined = undefined;

  onLent(chunk: Buffer): boolean {
    this.session?.receiveLent(chunk);
    return true;
  }
}

function dialCodec(tlsOpts: ConnectionOptions, d: PeerDial): ClientHttp2Session {
  // With no socket given, TLS connects itself and its cleartext reads go into one reused buffer
  // (lent-reads.ts): no fresh 16 KiB backing store per TLS record on a bulk download. DATA views of
  // it are copied by whoever keeps them (agent/h2/frame-reader.ts, codec-tunnel.ts).
  let lent: LentToSession | undefined;
  let socket: TLSSocket;
  if (d.socket === undefined) {
    lent = new LentToSession();
    const opts = { ...tlsOpts, host: d.node.host, port: d.node.port, onread: lentReads(lent) };
    socket = d.dialTls !== undefined ? d.dialTls(d.node.host, d.node.port, opts) : tlsConnect(opts);
  } else {
    socket = tlsConnect(tlsOpts);
  }
  // ALPN h2 or nothing, as node:http2 insists; checked before the session starts (listener order).
  socket.once('secureConnect', () => {
    if (socket.alpnProtocol !== 'h2') session.destroy(new Error(`peer agent did not negotiate h2 (ALPN ${String(socket.alpnProtocol)})`));
  });
  const session = new H2Session(socket, { role: 'client', readyEvent: 'secureConnect', initialWindowSize: CLIENT_STREAM_WINDOW, connectionWindowSize: SESSION_WINDOW });
  if (lent !== undefined) lent.session = session;
  session.on('error', ignore);
  if (d.heldBytes !== undefined) session.conn.attachHeldBytes(d.heldBytes.budget.account(d.heldBytes.sourceIdentity));
  // The H2Session stands in for node's ClientHttp2Session: the members its users touch are the
  // same (agent/h2/session.ts).
  return session as unknown as ClientHttp2Session;
}
