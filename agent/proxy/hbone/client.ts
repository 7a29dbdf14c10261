// The sending end of HBONE: opens a CONNECT stream to a target through the destination node's
// agent, over a pooled mTLS HTTP/2 session that presents the SOURCE workload's certificate and
// accepts only a server proving the DESTINATION workload's SPIFFE ID (dial-peer.ts). The HTTP/2
// is node:http2's or agent/h2's codec (`engine`, WEFT_L7_H2_ENGINE): the codec's sessions and
// streams have the surface used here, so every rule below holds on both.
import type { Socket } from 'node:net';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Code } from '../../h2/constants.ts';
import { H2Session } from '../../h2/session.ts';
import { CodecTunnel, type TunnelOpening } from './codec-tunnel.ts';
import type { HboneTunnel } from './tunnel-end.ts';
import { ErrorCodes, WeftError, errorCode, type ErrorCode } from '../../../common/errors.ts';
import { TlsContextCache, type CachedContext, type CertificateProvider } from '../../identity/tls-contexts.ts';
import { formatConnectTarget, type TunnelTarget } from './connect-target.ts';
import { dialPeerSession, type DialTls } from './dial-peer.ts';
import type { HeldBytesBudget } from '../../h2/held-bytes-budget.ts';
import type { LivenessOptions } from './liveness.ts';
import { SessionPool, type PoolEntry } from './pool.ts';
import { UPGRADE_TUNNEL_HEADER, WEFT_ERROR_HEADER, type H2Engine } from './server.ts';

export interface TunnelOpenRequest {
  sourceIdentity: string;
  destinationIdentity: string;
  /** The destination node's HBONE listener. */
  nodeAddress: { host: string; port: number };
  target: TunnelTarget;
  /** The tunnel will start with an HTTP Upgrade/CONNECT head for the peer to authorize (UPGRADE_TUNNEL_HEADER). */
  upgrade?: boolean;
}

export interface HboneConnectorOptions {
  trustDomain: string;
  certificates: CertificateProvider;
  trustAnchors?: () => string[];
  /** Default 100: past it another session to the same peer is opened. */
  maxStreamsPerSession?: number;
  /** Default 60 s. */
  idleTimeoutMs?: number;
  /** From open() to the peer's answer; default 10 s. */
  connectTimeoutMs?: number;
  /** How long close() lets open tunnels finish; default 5 s. */
  closeGraceMs?: number;
  /** Opens the TCP socket to a peer agent (the agent's SocketFactory); default: tls dials itself. */
  dialTcp?: (host: string, port: number) => Socket;
  /**
   * Opens the TLS socket to a peer agent itself (the agent's SocketFactory.connectTls); the codec
   * engine prefers it to dialTcp: TLS that makes its own TCP connection can read its cleartext into
   * one reused buffer (lent-reads.ts), one wrapped around a given socket cannot.
   */
  dialTls?: DialTls;
  /** Which HTTP/2 implementation the tunnel sessions use (WEFT_L7_H2_ENGINE); default weft. */
  engine?: H2Engine;
  /** Held bytes per source identity (agent/h2/held-bytes-budget.ts); the codec sessions count against it. */
  heldBytes?: HeldBytesBudget;
  /** PING liveness of pooled sessions (SessionPoolOptions.liveness; default every 5 s, 10 s to answer). */
  liveness?: LivenessOptions;
}

/** A tunnel that could not be opened; `status`/`serverCode` are set when the peer answered. */
export class TunnelError extends WeftError {
  readonly status: number | undefined;
  readonly serverCode: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; status?: number; serverCode?: string } = {}) {
    super(code, message, { cause: opts.cause });
    this.name = 'TunnelError';
    this.status = opts.status;
    this.serverCode = opts.serverCode;
  }
}

function ignore(): void {}

/** Streams pending on a failed session report ERR_HTTP2_STREAM_CANCEL; the reason is its cause. */
function unwrapCancel(err: unknown): unknown {
  while (err instanceof Error && errorCode(err) === 'ERR_HTTP2_STREAM_CANCEL' && err.cause !== undefined) err = err.cause;
  return err;
}

function hostPort(a: { host: string; port: number }): string {
  return formatConnectTarget(a);
}

export class HboneConnector {
  readonly #trustDomain: string;
  readonly #contexts: TlsContextCache;
  readonly #pool: SessionPool;
  readonly #connectTimeoutMs: number;
  readonly #closeGraceMs: number;
  readonly #dialTcp: HboneConnectorOptions['dialTcp'];
  readonly #dialTls: DialTls | undefined;
  readonly #engine: H2Engine;
  readonly #heldBytes: HeldBytesBudget | undefined;

  constructor(opts: HboneConnectorOptions) {
    this.#trustDomain = opts.trustDomain;
    this.#contexts = new TlsContextCache({ certificates: opts.certificates, trustAnchors: opts.trustAnchors });
    this.#pool = new SessionPool({
      maxStreamsPerSession: opts.maxStreamsPerSession ?? 100,
      idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
      liveness: opts.liveness,
    });
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.#closeGraceMs = opts.closeGraceMs ?? 5000;
    this.#dialTcp = opts.dialTcp;
    this.#dialTls = opts.dialTls;
    this.#engine = opts.engine ?? 'weft';
    this.#heldBytes = opts.heldBytes;
  }

  /**
   * Opens a tunnel; resolves once the peer answered 200 (its TCP connect to the target is up).
   * The stream is the tunnel as a Duplex on either engine (tests, tools); the agent's movers use
   * openTunnel.
   */
  async open(req: TunnelOpenRequest): Promise<ClientHttp2Stream> {
    return this.#openDuplex(req, await this.#acquire(req));
  }

  /**
   * The agent's way to open a tunnel: on the codec engine one CodecTunnel per tunnel (no Duplex,
   * codec-tunnel.ts), on node:http2 its stream; either is spliced with the app's socket by
   * pipeTunnel (tunnel-end.ts). Same answers and failures as open().
   */
  async openTunnel(req: TunnelOpenRequest): Promise<HboneTunnel> {
    const entry = await this.#acquire(req);
    const session: unknown = entry.session;
    if (!(session instanceof H2Session)) return this.#openDuplex(req, entry);
    return new Promise<CodecTunnel>((resolve, reject) => {
      new CodecOpen(req, entry, session, this.#pool, this.#connectTimeoutMs, resolve, reject);
    });
  }

  async #acquire(req: TunnelOpenRequest): Promise<PoolEntry> {
    const ctx = await this.#contexts.get(req.sourceIdentity);
    const key = `${req.sourceIdentity}|${req.destinationIdentity}|${hostPort(req.nodeAddress)}`;
    return this.#pool.acquire(key, ctx.context, () => this.#dial(req, ctx));
  }

  #openDuplex(req: TunnelOpenRequest, entry: PoolEntry): Promise<ClientHttp2Stream> {
    let stream: ClientHttp2Stream;
    try {
      const headers: OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': formatConnectTarget(req.target) };
      if (req.upgrade === true) headers[UPGRADE_TUNNEL_HEADER] = '1';
      stream = entry.session.request(headers, { endStream: false });
    } catch (err) {
      this.#pool.release(entry);
      return Promise.reject(connectError(req, entry, err));
    }
    stream.once('close', () => this.#pool.release(entry));
    // Errors after the answer are reported to whoever splices the stream (through 'close' and
    // rstCode); this keeps an unobserved reset from crashing the agent.
    stream.on('error', ignore);
    return this.#awaitAnswer(req, entry, stream);
  }

  /** Sessions currently pooled for a source/destination/node (for tests and the admin dump). */
  sessionCount(req: Pick<TunnelOpenRequest, 'sourceIdentity' | 'destinationIdentity' | 'nodeAddress'>): number {
    return this.#pool.sessionsFor(`${req.sourceIdentity}|${req.destinationIdentity}|${hostPort(req.nodeAddress)}`).length;
  }

  /** Sessions not yet closed, pooled or draining after a rotation. */
  get liveSessions(): number {
    return this.#pool.liveSessions;
  }

  close(): Promise<void> {
    return this.#pool.close(this.#closeGraceMs);
  }

  #dial(req: TunnelOpenRequest, ctx: CachedContext): ClientHttp2Session {
    const { host, port } = req.nodeAddress;
    return dialPeerSession({
      context: ctx.context,
      destinationIdentity: req.destinationIdentity,
      trustDomain: this.#trustDomain,
      node: req.nodeAddress,
      ...(this.#engine === 'weft' && this.#dialTls !== undefined ? { dialTls: this.#dialTls } : { socket: this.#dialTcp?.(host, port) }),
      engine: this.#engine,
      heldBytes: this.#heldBytes === undefined ? undefined : { budget: this.#heldBytes, sourceIdentity: req.sourceIdentity },
    });
  }

  #awaitAnswer(req: TunnelOpenRequest, entry: PoolEntry, stream: ClientHttp2Stream): Promise<ClientHttp2Stream> {
    return new Promise((resolve, reject) => {
      let streamError: Error | undefined;
      const onError = (err: Error): void => { streamError ??= err; };
      const cleanup = (): void => {
        clearTimeout(timer);
        stream.off('response', onResponse);
        stream.off('close', onClose);
        stream.off('error', onError);
      };
      const onResponse = (headers: IncomingHttpHeaders): void => {
        cleanup();
        const status = Number(headers[':status']);
        if (status === 200) {
          resolve(stream);
          return;
        }
        stream.close(H2Code.CANCEL);
        const raw = headers[WEFT_ERROR_HEADER];
        reject(refusedError(req, status, typeof raw === 'string' ? raw : undefined));
      };
      const onClose = (): void => {
        cleanup();
        reject(connectError(req, entry, streamError));
      };
      const timer = setTimeout(() => {
        cleanup();
        stream.close(H2Code.CANCEL);
        // A session that never finished its handshake is useless to the next caller too.
        if (entry.session.connecting) entry.session.destroy();
        reject(noAnswerError(req, this.#connectTimeoutMs));
      }, this.#connectTimeoutMs);
      stream.once('response', onResponse);
      stream.once('close', onClose);
      stream.on('error', onError);
    });
  }

}

/** The peer answered the CONNECT with a status other than 200 (and maybe its weft-error code). */
function refusedError(req: TunnelOpenRequest, status: number, serverCode: string | undefined): TunnelError {
  return new TunnelError(
    ErrorCodes.TUNNEL_REFUSED,
    `HBONE peer ${hostPort(req.nodeAddress)} refused the tunnel to ${hostPort(req.target)} for ${req.sourceIdentity}: ${status} ${serverCode ?? ''}`.trimEnd(),
    { status, serverCode },
  );
}

function noAnswerError(req: TunnelOpenRequest, ms: number): TunnelError {
  return new TunnelError(
    ErrorCodes.TUNNEL_CONNECT,
    `HBONE tunnel via ${hostPort(req.nodeAddress)} to ${hostPort(req.target)} got no answer in ${ms} ms — is a NetworkPolicy blocking port ${req.nodeAddress.port}?`,
  );
}

/** The stream closed or never opened before an answer: the session's GOAWAY or failure says why. */
function connectError(req: TunnelOpenRequest, entry: PoolEntry, cause: unknown): TunnelError {
  const via = hostPort(req.nodeAddress);
  if (entry.goaway !== undefined && entry.goaway.errorCode !== H2Code.NO_ERROR) {
    const serverCode = entry.goaway.detail === '' ? undefined : entry.goaway.detail;
    return new TunnelError(ErrorCodes.TUNNEL_REFUSED, `HBONE peer ${via} closed the session (HTTP/2 error ${entry.goaway.errorCode}${serverCode === undefined ? '' : `, ${serverCode}`})`, { cause, serverCode });
  }
  const why = unwrapCancel(cause ?? entry.failure);
  const reason = why instanceof Error ? `${errorCode(why)}: ${why.message}` : 'stream closed before an answer';
  return new TunnelError(
    ErrorCodes.TUNNEL_CONNECT,
    `HBONE tunnel via ${via} to ${hostPort(req.target)} failed (${reason}) — is the peer agent up, and are both certificates from the mesh CA and current?`,
    { cause: why },
  );
}

/**
 * A codec tunnel's open, until the answer: sends the CONNECT (H2Session.open, so it waits for the
 * handshake like any stream), and settles the open's promise once — 200 resolves with the tunnel,
 * another status, a closed stream or the connect timeout reject with the same TunnelErrors as the
 * Duplex path. One object per open; the tunnel forgets it once answered.
 */
class CodecOpen implements TunnelOpening {
  readonly #req: TunnelOpenRequest;
  readonly #entry: PoolEntry;
  readonly #session: H2Session;
  readonly #ms: number;
  readonly #resolve: (t: CodecTunnel) => void;
  readonly #reject: (err: TunnelError) => void;
  readonly #tunnel: CodecTunnel;
  readonly #timer: NodeJS.Timeout;
  #settled = false;

  constructor(req: TunnelOpenRequest, entry: PoolEntry, session: H2Session, pool: SessionPool, ms: number, resolve: (t: CodecTunnel) => void, reject: (err: TunnelError) => void) {
    this.#req = req;
    this.#entry = entry;
    this.#session = session;
    this.#ms = ms;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#tunnel = new CodecTunnel(session.conn, this, pool, entry);
    this.#timer = setTimeout(this.#onTimeout, ms);
    const headers = [':method', 'CONNECT', ':authority', formatConnectTarget(req.target)];
    if (req.upgrade === true) headers.push(UPGRADE_TUNNEL_HEADER, '1');
    session.open(headers, false, this.#tunnel);
  }

  answered(tunnel: CodecTunnel, headers: string[]): void {
    if (!this.#settle()) return;
    let status = 0;
    let serverCode: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === ':status') status = Number(headers[i + 1]);
      else if (headers[i] === WEFT_ERROR_HEADER) serverCode = headers[i + 1];
    }
    if (status === 200) {
      this.#resolve(tunnel);
      return;
    }
    tunnel.destroy();
    this.#reject(refusedError(this.#req, status, serverCode));
  }

  failed(_tunnel: CodecTunnel, err: Error | undefined): void {
    if (!this.#settle()) return;
    this.#reject(connectError(this.#req, this.#entry, err));
  }

  readonly #onTimeout = (): void => {
    if (!this.#settle()) return;
    this.#tunnel.destroy();
    // A session that never finished its handshake is useless to the next caller too.
    if (this.#session.connecting) this.#session.destroy();
    this.#reject(noAnswerError(this.#req, this.#ms));
  };

  #settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    clearTimeout(this.#timer);
    return true;
  }
}
