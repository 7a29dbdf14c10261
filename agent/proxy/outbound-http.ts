// Outbound HTTP: a captured connection that detection found to be HTTP/1.x or HTTP/2 (prior
// knowledge) is served by the agent's own codecs — HTTP/1 by outbound-h1.ts, HTTP/2 by
// outbound-h2.ts (WEFT_L7_H1_ENGINE / WEFT_L7_H2_ENGINE=node: in-process, never-listening node:http
// and node:http2 servers) — which do the framing (keep-alive, chunked, 100-continue, trailers);
// each request then runs through the L7 stages (agent/http/exchange.ts) and is balanced on its
// own. Requests to another node travel as HTTP/2 streams on pooled mTLS sessions to that node's
// agent (agent/http/headers.ts describes the hop); same-node requests go straight to the pod with
// the same stages. Named parts: the target stage (admit-target.ts), where an attempt goes
// (outbound-forward.ts), upgrades and CONNECT (outbound-upgrade.ts); this file wires them to the
// HTTP servers and to detection (the L7 hook outbound.ts offers meshed connections to).
import http from 'node:http';
import type { Http2Server, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/log.ts';
import { answerClientError, headerTimeoutOptions } from '../../common/http-client-error.ts';
import { DEFAULT_PATH_NORMALIZATION, type PathNormalization } from '../../common/path-normalize.ts';
import { listGet } from '../http/header-list.ts';
import { Exchange, type ClientRequestLike, type ClientResponseLike, type RequestSource } from '../http/exchange.ts';
import type { LocalUpstream } from '../http/local-upstream.ts';
import type { PeerSessions } from '../http/peer-sessions.ts';
import type { HttpDestination, Router } from '../http/router.ts';
import type { AppProtocol } from '../http/upstream.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import type { ConnectionContext, Telemetry } from '../telemetry/telemetry.ts';
import { admitTarget } from './admit-target.ts';
import { releaseSniffed, sniffProtocol, type Sniffed } from './detect-socket.ts';
import { planDetection } from './detect.ts';
import type { H2Engine } from './hbone/server.ts';
import { connectionOf, tagConnection, type HttpConnection } from './http-connection.ts';
import type { Address } from './outbound-decide.ts';
import { OutboundForwarder } from './outbound-forward.ts';
import { H1Connection, type H1Front } from './outbound-h1.ts';
import { createAppH2Server, type AppH2Server, type AppRequest } from './outbound-h2.ts';
import { OutboundUpgrades } from './outbound-upgrade.ts';
import type { L7Hook, MeshedDecision, TunnelOpener } from './outbound.ts';
import { unmapIpv4 } from './socket-admission.ts';
import type { SocketFactory } from './socket-factory.ts';
import type { ProxyStats } from './stats.ts';
import { refuseRequest, type WorkloadLimiter } from './workload-limits.ts';

export type { HttpConnection } from './http-connection.ts';

export interface OutboundHttpDeps {
  router: Router;
  local: LocalUpstream;
  peers: PeerSessions;
  tunnels: TunnelOpener;
  sockets: SocketFactory;
  /** HTTP/2 prior knowledge from apps: node:http2's server or the agent's codec (WEFT_L7_H2_ENGINE); default weft. */
  h2Engine?: H2Engine;
  hbonePort: number;
  connectTimeoutMs: number;
  detectTimeoutMs: number;
  /** Agent-wide opaque destination ports. */
  opaquePorts: ReadonlySet<number>;
  stats: ProxyStats;
  telemetry: Telemetry;
  /** Authorization of same-node requests (this agent is the destination's too). */
  policy?: InboundAuthorizer;
  log: Logger;
  /** Requests in flight per source pod (workload-limits.ts); absent: unlimited. */
  requestLimit?: WorkloadLimiter;
  /** How long a client may take to send a request's line and headers (slowloris bound). */
  headersTimeoutMs?: number;
  /** How request paths are normalised before routing and policy (WEFT_PATH_NORMALIZATION). */
  pathNormalization?: PathNormalization;
  /** What serves the app's HTTP/1.x connections (WEFT_L7_H1_ENGINE): the agent's codec (default) or node:http. */
  h1Engine?: 'weft' | 'node';
}

/** RFC 9112 §6.3: an HTTP/1.1 request without Content-Length or Transfer-Encoding has no body;
 * an HTTP/2 request has none when END_STREAM came with its HEADERS. */
function hasNoBody(req: ClientRequestLike, proto: AppProtocol): boolean {
  if (proto === 'h2') return (req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === true;
  const list = req.headerList;
  if (list !== undefined) return listGet(list, 'content-length') === undefined && listGet(list, 'transfer-encoding') === undefined;
  const h = req.headers;
  return h['content-length'] === undefined && h['transfer-encoding'] === undefined;
}

export interface OutboundHttp {
  /** Detection, then HTTP or back to TCP: the hook outbound.ts offers meshed connections to. */
  readonly hook: L7Hook;
  /** Takes over a sniffed HTTP connection (the socket is paused, `s.head` unread). */
  handle(socket: net.Socket, s: Sniffed, conn: HttpConnection): void;
  close(): void;
}

const NOTHING = Buffer.alloc(0);
/** How long an app's HTTP/1 connection may sit idle between requests (node:http's keepAliveTimeout before). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export function createOutboundHttp(deps: OutboundHttpDeps): OutboundHttp {
  return new OutboundHttpPath(deps);
}

class OutboundHttpPath implements OutboundHttp {
  readonly #d: OutboundHttpDeps;
  readonly #pathMode: PathNormalization;
  readonly #forwarder: OutboundForwarder;
  readonly #upgrades: OutboundUpgrades;
  /** node:http's server (WEFT_L7_H1_ENGINE=node, and the h2c-declined replay): never listens. */
  readonly #h1: http.Server;
  readonly #h1Engine: 'weft' | 'node';
  /** What the agent's own HTTP/1 codec calls back (WEFT_L7_H1_ENGINE=weft). */
  readonly #front: H1Front;
  /** WEFT_L7_H2_ENGINE=node: node:http2's server, made (and node:http2 loaded) only then. */
  readonly #h2: Http2Server | undefined;
  /** The same on the agent's codec (outbound-h2.ts): no node:http2 session per app connection. */
  readonly #h2Codec: AppH2Server | undefined;

  constructor(deps: OutboundHttpDeps) {
    this.#d = deps;
    this.#pathMode = deps.pathNormalization ?? DEFAULT_PATH_NORMALIZATION;
    this.#forwarder = new OutboundForwarder(deps);
    this.#upgrades = new OutboundUpgrades({ ...deps, pathMode: this.#pathMode, replayHttp1: (socket, bytes) => this.#replayHttp1(socket, bytes) });
    const headersTimeout = deps.headersTimeoutMs ?? 30_000;
    this.#h1 = this.#nodeH1Server(headersTimeout);
    this.#h1Engine = deps.h1Engine ?? 'weft';
    this.#front = {
      request: this.#onRequest,
      upgrade: this.#upgrades.onHead,
      rejected: (reason) => deps.telemetry.inputRejected(reason),
      headersTimeoutMs: headersTimeout,
      keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    };
    this.#h2 = deps.h2Engine === 'node' ? this.#nodeH2Server() : undefined;
    this.#h2Codec = this.#h2 !== undefined ? undefined : createAppH2Server({
      onRequest: this.#onRequest as (req: AppRequest, res: ClientResponseLike) => void,
      onProtocolError: () => deps.telemetry.inputRejected('h2_protocol'),
    });
  }

  /** Every request of every engine: the target stage, the per-workload limit, then the exchange. */
  readonly #onRequest = (req: ClientRequestLike & { socket: object }, res: ClientResponseLike): void => {
    const d = this.#d;
    const conn = connectionOf(req.socket);
    if (conn === undefined) {
      res.destroy();
      return;
    }
    const refused = admitTarget(req, conn.proto, this.#pathMode);
    if (refused !== null) {
      d.telemetry.inputRejected(refused.reason);
      // HTTP/2 forbids connection headers (setting one throws): only HTTP/1 is told to close.
      res.writeHead(400, conn.proto === 'h2' ? { 'weft-error': refused.code, 'content-length': '0' } : { 'weft-error': refused.code, 'content-length': '0', connection: 'close' });
      res.end();
      return;
    }
    const limit = d.requestLimit;
    if (limit !== undefined) {
      if (!limit.tryAcquire(conn.source)) {
        refuseRequest(req, res);
        return;
      }
      // 'close' comes once the response is done or the client left, whichever is first.
      res.once('close', (conn.releaseRequest ??= () => limit.release(conn.source)));
    }
    new Exchange(d.router, this.#forwarder.forward, conn.from, conn.destination, conn.proto, req, res, hasNoBody(req, conn.proto), conn.original, conn.ctx).start();
  };

  #nodeH1Server(headersTimeout: number): http.Server {
    const d = this.#d;
    const h1 = http.createServer({ keepAlive: true, requestTimeout: 0, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, ...headerTimeoutOptions(headersTimeout) });
    h1.on('request', this.#onRequest);
    h1.on('checkContinue', this.#onRequest);
    h1.on('upgrade', this.#upgrades.onHead);
    h1.on('connect', this.#upgrades.onHead);
    // Malformed, oversized and smuggling-shaped requests, and header timeouts: 400/431/408, closed, counted.
    h1.on('clientError', (err: Error, socket: Duplex) => {
      const kind = answerClientError(err, socket);
      if (kind !== null) d.telemetry.inputRejected(`http1_${kind}`);
    });
    // This server never listens (sockets come from the sniffer), and node:http only tracks
    // connections for headersTimeout once its 'listening' has fired: without this a client could
    // trickle headers forever (slowloris). tests/e2e/sec-bad-input.test.ts holds it to that.
    h1.emit('listening');
    // A client may shut its write side once its request is sent (HTTP/1.0-style close, `nc -q`,
    // scripts): by default node:http answers that FIN by ending our side at once, so the answer in
    // flight was lost (0 bytes, while the opaque path delivered it). Half-open, node:http marks the
    // last response in flight to end the connection once written, and ends at once when nothing is
    // in flight. tests/e2e/l7-half-close.test.ts holds it to that. (A server property since Node
    // 0.x; not in the typings.)
    (h1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    return h1;
  }

  #nodeH2Server(): Http2Server {
    const server = process.getBuiltinModule('node:http2').createServer({ settings: { initialWindowSize: 1 << 20 } });
    server.on('request', this.#onRequest as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
    server.on('checkContinue', this.#onRequest as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
    // Invalid frames from an app that spoke h2 prior knowledge: nghttp2 sends GOAWAY; counted here.
    server.on('sessionError', () => this.#d.telemetry.inputRejected('h2_protocol'));
    return server;
  }

  /** node:http's engine: a head that came as an upgrade, served as the HTTP/1.1 request it also is. */
  #replayHttp1(socket: Duplex, bytes: Buffer): void {
    this.#h1.emit('connection', socket);
    socket.emit('data', bytes);
    socket.resume();
  }

  handle(socket: net.Socket, s: Sniffed, conn: HttpConnection): void {
    tagConnection(socket, conn);
    if (conn.proto === 'h2') {
      if (s.ended) {
        socket.destroy();
        return;
      }
      const h2 = this.#h2;
      if (h2 === undefined) {
        this.#h2Codec?.handle(socket, s.head);
        return;
      }
      // node:http2 takes what is already buffered on the socket before reading its handle
      // (resuming the socket here would instead flow those bytes to nobody).
      if (s.head.length > 0) socket.unshift(s.head);
      // The sniffer held FINs back for a TCP splice; an HTTP/2 session expects the socket to
      // close on the client's FIN (it has no half-closed state of its own).
      socket.allowHalfOpen = false;
      h2.emit('connection', socket);
      return;
    }
    if (this.#h1Engine === 'weft') {
      new H1Connection(socket, this.#front).start(s.head, s.ended);
      return;
    }
    // node:http reads the socket's handle directly; bytes we already took are fed as a 'data'
    // event, which its parser accepts like any other chunk.
    this.#h1.emit('connection', socket);
    if (s.head.length > 0) socket.emit('data', s.head);
    if (s.ended) socket.emit('end');
    socket.resume();
  }

  /** Detection, then HTTP (counted, tagged, handed to its engine) or back to TCP. */
  readonly hook: L7Hook = (client: net.Socket, original: Address, decision: MeshedDecision, ctx: ConnectionContext, tcp: (s: Sniffed | undefined) => void): void => {
    const d = this.#d;
    const { router } = d;
    const counters = router.counters;
    const match = router.view.serviceByAddress(original.ip, original.port);
    const plan = planDetection(original.port, match === undefined ? undefined : { record: match.service, port: match.port }, d.opaquePorts);
    if (plan.kind === 'fixed' && plan.protocol === 'tcp') {
      tcp(undefined);
      return;
    }
    const go = (s: Sniffed): void => {
      if (s.protocol === 'tcp') {
        counters.detectedTcp++;
        if (s.timedOut) {
          counters.detectTimeouts++;
          d.telemetry.detectionTimedOut(ctx);
        }
        tcp(s);
        return;
      }
      if (s.protocol === 'h2') counters.detectedH2++;
      else counters.detectedHttp1++;
      const kind = decision.kind === 'hbone' ? 'outbound_hbone' : 'outbound_local';
      d.stats.opened(kind);
      d.telemetry.opened(ctx);
      this.#countClose(client, kind, ctx);
      const destination: HttpDestination = match !== undefined
        ? { kind: 'service', service: match.service, port: match.port.port }
        : { kind: 'workload', endpoint: router.endpointFor(decision.destination, decision.target.port) };
      const from: RequestSource = { identity: decision.source.identity, address: unmapIpv4(client.remoteAddress) };
      this.handle(client, s, { source: decision.source, from, destination, proto: s.protocol, original: `${original.ip}:${original.port}`, ctx });
      // The codec has its own 'end' listener now; the sniffer (and this closure) may go.
      releaseSniffed(s);
    };
    if (plan.kind === 'fixed') go({ protocol: plan.protocol, head: NOTHING, timedOut: false, ended: false });
    else sniffProtocol(client, d.detectTimeoutMs, go);
  };

  /**
   * The connection's close, counted. Its own small scope: a listener made in `hook` would keep
   * that whole scope (the decision, the detection closure, the TCP fallback) for as long as the
   * connection lives. 'close' comes once, so `on`, without once()'s wrapper.
   */
  #countClose(client: net.Socket, kind: 'outbound_hbone' | 'outbound_local', ctx: ConnectionContext): void {
    const d = this.#d;
    client.on('close', () => {
      d.stats.closed(kind, client.bytesRead, client.bytesWritten, false);
      d.telemetry.closed(ctx, client.bytesRead, client.bytesWritten, undefined);
    });
  }

  close(): void {
    this.#h1.close();
    this.#h2?.close();
    this.#h2Codec?.close();
  }
}
