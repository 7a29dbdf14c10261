// The HBONE listener (port 15008): HTTP/2 over mutual TLS 1.3. The client's SNI names the
// destination workload, so the agent presents that workload's certificate; the client must present
// a mesh certificate with exactly one SPIFFE ID, which becomes `peerIdentity` for policy. Every
// stream must be a CONNECT to host:port; what happens next is the `onStream` handler's business
// (`deliverToTcp` is the usual one).
//
// Two engines speak the HTTP/2 (WEFT_L7_H2_ENGINE): node:http2's secure server, or agent/h2's
// codec on a plain TLS server (`weft`), whose sessions and streams have the node:http2 surface
// the handlers use (agent/h2/session.ts) — the same handlers run on both, and either engine
// serves a peer running the other. On the codec, an L7 request from a verified peer can skip that
// surface: `onCodecHttp` takes the codec stream and its header list directly (one plain object per
// request, agent/proxy/inbound-http-codec.ts), and a plain CONNECT tunnel from a verified peer is
// one CodecTunnel (codec-tunnel.ts: the stream's handler and, once delivered, the splice with the
// target's socket). Upgrade tunnels (`weft-upgrade: 1`, whose head node:http reads in
// agent/proxy/inbound-upgrade.ts), and every stream of a session whose peer was refused, still go
// the Duplex way. Both ways reach `onStream` through the same checks (connectRequest).
import type { EventEmitter } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { H2Code } from '../../h2/constants.ts';
import { createServer as createTlsServer, type SecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
import { H2Session } from '../../h2/session.ts';
import type { H2Connection, H2Stream } from '../../h2/connection.ts';
import { isConnect } from '../outbound-h2.ts';
import { ErrorCodes, WeftError, errorCode } from '../../../common/errors.ts';
import { createLogger, type Logger } from '../../../common/log.ts';
import { TlsContextCache, type CertificateProvider } from '../../identity/tls-contexts.ts';
import { parseConnectTarget, type TunnelTarget } from './connect-target.ts';
import { CodecTunnel } from './codec-tunnel.ts';
import type { HboneTunnel } from './tunnel-end.ts';
import { peerSpiffeId } from './peer-identity.ts';
import { identityForSni } from './sni.ts';
import { LISTENER_STREAM_WINDOW, SESSION_WINDOW } from './flow-windows.ts';
import type { HeldBytesBudget } from '../../h2/held-bytes-budget.ts';

export const HBONE_PORT = 15008;
/** Response header that carries our stable error code to the client agent. */
export const WEFT_ERROR_HEADER = 'weft-error';
/**
 * On a CONNECT: the tunnel starts with an HTTP/1 Upgrade or CONNECT request head (a source agent
 * relaying an app's WebSocket, h2c upgrade or CONNECT). The destination agent reads and authorizes
 * that head as an HTTP request before the pod gets it (agent/proxy/inbound-upgrade.ts).
 */
export const UPGRADE_TUNNEL_HEADER = 'weft-upgrade';

export interface HboneRequest {
  /** The client workload's verified SPIFFE ID. */
  readonly peerIdentity: string;
  /** The local workload identity the client asked for (and whose certificate we presented). */
  readonly localIdentity: string;
  readonly target: TunnelTarget;
  /** The CONNECT carried UPGRADE_TUNNEL_HEADER: the tunnel starts with an HTTP request head. */
  readonly upgrade: boolean;
  /**
   * The tunnel: node:http2's stream (a Duplex; on the codec an H2DuplexStream for upgrade tunnels),
   * or the codec's CodecTunnel for a plain one. Moved with tunnel-end.ts (pipeTunnel, resetTunnel…).
   */
  readonly stream: HboneTunnel;
  /** The session's TLS socket (the peer agent's address, its certificate). */
  readonly socket: TLSSocket;
  /** Answers the CONNECT: 200 opens the tunnel; anything else ends it, with `code` in weft-error. */
  respond(status: number, code?: string): void;
}

export interface HboneServerOptions {
  trustDomain: string;
  certificates: CertificateProvider;
  /** The identities of workloads on this node: the only certificates the server will present. */
  localIdentities: () => Iterable<string>;
  /** Overrides the certificates' own trust anchors for verifying clients. */
  trustAnchors?: () => string[];
  onStream: (req: HboneRequest) => void;
  /** Non-CONNECT requests (L7 requests between agents, agent/proxy/inbound-http.ts); 405 without it. */
  onHttp?: (req: { stream: ServerHttp2Stream; headers: IncomingHttpHeaders; peerIdentity: string; localIdentity: string }) => void;
  /**
   * The codec engine only: non-CONNECT requests from a verified peer, taken as the codec stream and
   * its header list before any Duplex is made; the handler answers it or attaches its own
   * H2StreamHandler as the stream's `ctx`. Without it, the codec's streams go to `onHttp`.
   */
  onCodecHttp?: (peer: CodecPeer, stream: H2Stream, headers: string[], endStream: boolean) => void;
  log?: Logger;
  /** Advertised SETTINGS_MAX_CONCURRENT_STREAMS; clients open another session past it. */
  maxConcurrentStreams?: number;
  /** How long close() lets open tunnels drain before cutting them. */
  closeGraceMs?: number;
  /** A peer that has not finished the TLS handshake by then is cut off (slowloris bound). */
  handshakeTimeoutMs?: number;
  /** Bad input refused here (failed handshakes, bad targets, protocol errors), by reason. */
  onRejected?: (reason: string) => void;
  /** Which HTTP/2 implementation serves the port (WEFT_L7_H2_ENGINE); default weft. */
  engine?: H2Engine;
  /** Held bytes per client identity (agent/h2/held-bytes-budget.ts): what uploads to pods that do not read hold; codec sessions only. */
  heldBytes?: HeldBytesBudget;
}

/** The HTTP/2 implementation on the hop between agents: node:http2, or agent/h2 (`weft`). */
export type H2Engine = 'node' | 'weft';

export interface HboneServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** What the listener needs of a session, whichever engine made it. */
interface ServerSession extends EventEmitter {
  readonly socket: TLSSocket | Socket;
  close(): void;
  destroy(): void;
}

interface SessionInfo {
  peer: string | WeftError;
  local: string;
  /** A codec session whose peer was verified: what onCodecHttp gets. */
  codec?: CodecPeer;
}

/** One codec session's verified peer, shared by every request on it (onCodecHttp). */
export interface CodecPeer {
  readonly conn: H2Connection;
  readonly peerIdentity: string;
  readonly localIdentity: string;
  readonly remoteAddress: string;
}

const NO_BYTES = Buffer.alloc(0);

function respondOn(stream: ServerHttp2Stream, status: number, code: string | undefined): void {
  if (stream.destroyed || stream.headersSent) return;
  if (status === 200) {
    stream.respond({ ':status': 200 });
    return;
  }
  const headers: OutgoingHttpHeaders = { ':status': status };
  if (code !== undefined) headers[WEFT_ERROR_HEADER] = code;
  stream.respond(headers, { endStream: true });
}

/** The answer to a CONNECT on the codec's per-tunnel object, as respondOn gives it on a Duplex. */
function respondOnCodec(tunnel: CodecTunnel, status: number, code: string | undefined): void {
  if (status === 200) {
    tunnel.answer([':status', '200'], false);
    return;
  }
  const headers = [':status', String(status)];
  if (code !== undefined) headers.push(WEFT_ERROR_HEADER, code);
  tunnel.answer(headers, true);
}

function headerValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

function ignore(): void {}

export function createHboneServer(opts: HboneServerOptions): HboneServer {
  const log = opts.log ?? createLogger('agent.hbone.server');
  const contexts = new TlsContextCache({ certificates: opts.certificates, trustAnchors: opts.trustAnchors });
  const sessions = new Map<ServerSession, SessionInfo>();

  const sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    const identity = identityForSni(servername, opts.trustDomain, opts.localIdentities());
    if (identity === null) {
      cb(new WeftError(ErrorCodes.NO_IDENTITY, `HBONE client asked for ${servername}, which is no workload on this node`));
      return;
    }
    contexts.get(identity).then((c) => cb(null, c.context), (err: Error) => cb(err));
  };

  const rejected = opts.onRejected ?? ignore;
  const tlsOptions: TlsOptions = {
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    SNICallback: sniCallback,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    ALPNProtocols: ['h2'],
  };
  const maxConcurrentStreams = opts.maxConcurrentStreams ?? 1000;
  const engine = opts.engine ?? 'weft';
  const server: Server = engine === 'weft'
    ? createTlsServer({ ...tlsOptions, noDelay: true } as TlsOptions)
    : process.getBuiltinModule('node:http2').createSecureServer({
      ...tlsOptions,
      allowHTTP1: false,
      // Nagle off, as on every other socket of the proxy: a response's HEADERS and its DATA can leave
      // as separate TLS records, and the second must not wait for the peer's (delayed) ACK of the first.
      noDelay: true,
      settings: { maxConcurrentStreams, initialWindowSize: LISTENER_STREAM_WINDOW },
    });
  if (engine === 'weft') {
    server.on('secureConnection', (socket: TLSSocket) => {
      // ALPN h2 only (as allowHTTP1: false): a client that did not pick it gets no HTTP/2.
      if (socket.alpnProtocol !== 'h2') {
        rejected('hbone_alpn');
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      const session = new H2Session(socket, {
        role: 'server', initialWindowSize: LISTENER_STREAM_WINDOW, connectionWindowSize: SESSION_WINDOW, limits: { maxConcurrentStreams },
        onStreamHead: takeHead,
      });
      const info = onSession(session);
      if (typeof info.peer === 'string') {
        info.codec = { conn: session.conn, peerIdentity: info.peer, localIdentity: info.local, remoteAddress: socket.remoteAddress ?? '' };
        if (opts.heldBytes !== undefined) session.conn.attachHeldBytes(opts.heldBytes.account(info.peer));
      }
      // The codec's streams have the node:http2 surface the handlers use (agent/h2/duplex-stream.ts).
      session.on('stream', onStream as unknown as (stream: unknown, headers: IncomingHttpHeaders) => void);
    });
  }

  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    // Refused peers (foreign CA, expired, TLS 1.2, no certificate, garbage) are expected in a
    // mesh: no stack, but counted; a client that stalls the handshake is told apart.
    rejected(errorCode(err) === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'hbone_handshake_timeout' : 'hbone_tls_handshake');
    log.debug('HBONE handshake refused', { code: errorCode(err), reason: err.message });
    // A plain tls.Server leaves the socket open on a handshake error (the timeout included);
    // node:http2's server destroys it itself, so this is a no-op there.
    socket.destroy();
  });

  /**
   * A codec stream's head, from a verified peer: a plain CONNECT becomes a CodecTunnel, an L7
   * request goes to onCodecHttp; the rest (upgrade tunnels, refused peers, L7 without onCodecHttp)
   * the Duplex way.
   */
  function takeHead(session: H2Session, s: H2Stream, headers: string[], endStream: boolean): boolean {
    const info = sessions.get(session);
    const codec = info?.codec;
    if (info === undefined || codec === undefined) return false;
    if (isConnect(headers)) {
      const upgrade = headerValue(headers, UPGRADE_TUNNEL_HEADER) === '1';
      if (upgrade) return false;
      const tunnel = new CodecTunnel(codec.conn);
      tunnel.attach(s);
      if (endStream) tunnel.onData(NO_BYTES, true);
      connectRequest(info, codec.peerIdentity, headerValue(headers, ':authority'), false, tunnel, session.socket as TLSSocket);
      return true;
    }
    if (opts.onCodecHttp === undefined) return false;
    opts.onCodecHttp(codec, s, headers, endStream);
    return true;
  }

  function onSession(session: ServerSession): SessionInfo {
    const socket = session.socket as TLSSocket;
    const peer = peerSpiffeId(socket, opts.trustDomain);
    const servername = typeof socket.servername === 'string' ? socket.servername : '';
    const local = identityForSni(servername, opts.trustDomain, opts.localIdentities()) ?? '';
    const info: SessionInfo = { peer, local };
    sessions.set(session, info);
    session.once('close', () => sessions.delete(session));
    // Invalid frames end the session (nghttp2 answers GOAWAY); the agent only counts them.
    session.on('error', () => rejected('hbone_h2_protocol'));
    session.on('frameError', () => rejected('hbone_h2_frame'));
    if (peer instanceof WeftError) log.warn('HBONE peer refused', { err: peer, remote: socket.remoteAddress });
    return info;
  }
  if (engine === 'node') {
    server.on('session', (session: ServerHttp2Session) => {
      onSession(session);
      session.setLocalWindowSize(SESSION_WINDOW);
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => onStream(stream, headers));
  }

  function onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // The handler attaches its own; this one keeps a reset before then from crashing the agent.
    stream.on('error', ignore);
    const info = sessions.get(stream.session as unknown as ServerSession);
    if (info === undefined) {
      stream.close(H2Code.REFUSED_STREAM);
      return;
    }
    if (info.peer instanceof WeftError) {
      rejected('hbone_peer_identity');
      respondOn(stream, 403, info.peer.code);
      // One answer says why; the session has no business staying open.
      stream.session?.close();
      return;
    }
    if (headers[':method'] !== 'CONNECT') {
      if (opts.onHttp !== undefined) {
        opts.onHttp({ stream, headers, peerIdentity: info.peer, localIdentity: info.local });
        return;
      }
      rejected('hbone_method');
      respondOn(stream, 405, ErrorCodes.TUNNEL_TARGET);
      return;
    }
    const authority = headers[':authority'];
    connectRequest(info, info.peer, typeof authority === 'string' ? authority : undefined, headers[UPGRADE_TUNNEL_HEADER] === '1', stream, (stream.session as unknown as ServerSession).socket as TLSSocket);
  }

  /**
   * A CONNECT from a verified peer, on either engine: the target's check, then onStream. The one
   * place both tunnel shapes pass (the Duplex's onStream above, the codec's takeHead).
   */
  function connectRequest(info: SessionInfo, peer: string, authority: string | undefined, upgrade: boolean, stream: HboneTunnel, socket: TLSSocket): void {
    const respond = (status: number, code?: string): void => {
      if (stream instanceof CodecTunnel) respondOnCodec(stream, status, code);
      else respondOn(stream as ServerHttp2Stream, status, code);
    };
    const target = parseConnectTarget(authority);
    if (target === null) {
      rejected('hbone_connect_target');
      respond(400, ErrorCodes.TUNNEL_TARGET);
      return;
    }
    const req: HboneRequest = { peerIdentity: peer, localIdentity: info.local, target, upgrade, stream, socket, respond };
    try {
      opts.onStream(req);
    } catch (err) {
      log.error('HBONE stream handler failed', { err });
      respond(500, ErrorCodes.TUNNEL_CONNECT);
    }
  }

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sessions.keys()) s.close();
        if (sessions.size === 0) return;
        const timer = setTimeout(() => {
          for (const s of sessions.keys()) s.destroy();
        }, opts.closeGraceMs ?? 5000);
        timer.unref();
        server.once('close', () => clearTimeout(timer));
      });
    },
  };
}
