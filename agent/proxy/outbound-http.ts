// Outbound HTTP: a captured connection that detection found to be HTTP/1.x or HTTP/2 (prior
// knowledge) is served by the agent's own codecs — HTTP/1 by outbound-h1.ts, HTTP/2 by
// outbound-h2.ts (WEFT_L7_H1_ENGINE / WEFT_L7_H2_ENGINE=node: in-process, never-listening node:http
// and node:http2 servers) — which do the framing (keep-alive, chunked, 100-continue, trailers);
// each request then runs through the
// L7 stages (agent/http/exchange.ts) and is balanced on its own. Requests to another node travel
// as HTTP/2 streams on pooled mTLS sessions to that node's agent (agent/http/headers.ts describes
// the hop); same-node requests go straight to the pod with the same stages.
//
// Upgrades (WebSocket, h2c-upgrade, CONNECT) leave HTTP: the request head is replayed on an opaque
// connection to the chosen endpoint and the two connections are spliced, exactly as for TCP. The
// request is authorized first, as any request is (agent/policy/http-authz.ts): on this node by
// upgrade-splice.ts before the splice, on another node by its agent, which reads the head off an
// HBONE tunnel marked as an upgrade (inbound-upgrade.ts) before it reaches the pod.
import http from 'node:http';
import type { Http2Server, Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';
import type net from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import type { Logger } from '../../common/log.ts';
import { Exchange, type ClientRequestLike, type ClientResponseLike, type Forwarder, type RequestSource } from '../http/exchange.ts';
import { startH2Attempt } from '../http/h2-stream-attempt.ts';
import { PROTO_HEADER, TARGET_HEADER } from '../http/headers.ts';
import type { LocalUpstream } from '../http/local-upstream.ts';
import type { PeerKey, PeerSessions } from '../http/peer-sessions.ts';
import type { HttpDestination, HttpEndpoint, Router } from '../http/router.ts';
import { endRequest, type AppProtocol, type AttemptBody, type AttemptRequest, type AttemptSink, type UpstreamAttempt } from '../http/upstream.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { sniffProtocol, type Sniffed } from './detect-socket.ts';
import { planDetection } from './detect.ts';
import type { Address } from './outbound-decide.ts';
import type { L7Hook, MeshedDecision, TunnelOpener } from './outbound.ts';
import type { ProxyStats } from './stats.ts';
import { Readable } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { authorizeHttp, deniedHeaders, deniedHttp1 } from '../policy/http-authz.ts';
import type { PolicyDecision } from '../policy/evaluate.ts';
import { BAD_UPGRADE_TARGET, deliverUpgrade, rawHead, upgradeTargetOk, type UpgradeRequest } from './upgrade-splice.ts';
import { H1Connection, isH2cUpgrade, type H1Front } from './outbound-h1.ts';
import { TunnelError } from './hbone/client.ts';
import { unmapIpv4 } from './socket-admission.ts';
import type { ConnectionContext, Telemetry } from '../telemetry/telemetry.ts';
import type { SocketFactory } from './socket-factory.ts';
import { pipeBoth } from './tcp.ts';
import { refuseRequest, type WorkloadLimiter } from './workload-limits.ts';
import { answerClientError, headerTimeoutOptions } from '../../common/http-client-error.ts';
import { isOriginForm, originForm } from '../http/request-target.ts';
import { createAppH2Server, type AppRequest } from './outbound-h2.ts';
import type { H2Engine } from './hbone/server.ts';
import { DEFAULT_PATH_NORMALIZATION, normalizePath, type PathNormalization } from '../../common/path-normalize.ts';

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

/** What the connection-level decision knew; set on the socket before the HTTP server sees it. */
export interface HttpConnection {
  source: WorkloadRecord;
  /** The source's identity and its address as this agent saw it (the client socket's peer). */
  from: RequestSource;
  destination: HttpDestination;
  proto: AppProtocol;
  /** `ip:port` the app dialled: the authority when a request carries no Host. */
  original: string;
  /** Telemetry's view of the connection (labels for request events). */
  ctx?: ConnectionContext;
}

const CONN = Symbol('weft.httpConnection');
type Tagged = { [CONN]?: HttpConnection };

/** The request headers of the hop between agents (agent/http/headers.ts). */
function peerHeaders(ep: HttpEndpoint, r: AttemptRequest): OutgoingHttpHeaders {
  return {
    ...r.headers,
    ':method': r.method, ':path': r.path, ':authority': r.authority, ':scheme': 'http',
    [TARGET_HEADER]: ep.id, [PROTO_HEADER]: r.proto,
  };
}

/**
 * A request to a peer agent when the source's certificate context is not at hand: waits for it
 * (and the pooled session), buffering the body in a PassThrough meanwhile. The first request of
 * an identity goes this way; the rest take the synchronous path in `forward`.
 */
class PeerAttempt implements UpstreamAttempt {
  readonly body = new PassThrough();
  #inner: UpstreamAttempt | undefined = undefined;
  #aborted = false;
  /** The request's trailers: they end the inner attempt's body once the buffer is relayed. */
  trailers: OutgoingHttpHeaders | undefined = undefined;

  constructor(peers: PeerSessions, key: PeerKey, ep: HttpEndpoint, r: AttemptRequest, sink: AttemptSink) {
    const headers = peerHeaders(ep, r);
    peers.acquire(key).then(
      (entry) => {
        if (this.#aborted) {
          peers.release(entry);
          return;
        }
        try {
          this.#inner = startH2Attempt(entry.session, headers, r.bodyless, sink, peers, entry, r.mayTrail);
        } catch (err) {
          peers.release(entry);
          sink.onFailure(false, err as Error);
          return;
        }
        // A bodyless request's stream ended with its HEADERS; the buffer has nothing to give it.
        if (r.bodyless) this.body.resume();
        else relayBody(this.body, this.#inner, this);
      },
      (err: unknown) => {
        if (!this.#aborted) sink.onFailure(false, err as Error);
      },
    );
  }

  abort(): void {
    this.#aborted = true;
    this.#inner?.abort();
    this.body.destroy();
  }

  endWithTrailers(trailers: OutgoingHttpHeaders): void {
    this.trailers = trailers;
    this.body.end();
  }
}

/**
 * The buffered body into the attempt's (a node Writable or the codec attempt's plain object, so no
 * pipe()): write, wait for 'drain' when it says stop, end. Once per identity's first request.
 */
function relayBody(from: PassThrough, inner: UpstreamAttempt, outer: PeerAttempt): void {
  const to: AttemptBody = inner.body;
  const resume = (): void => {
    from.resume();
  };
  from.on('data', (c: Buffer) => {
    if (to.destroyed) return;
    if (!to.write(c)) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.once('end', () => endRequest(inner, outer.trailers));
}

/** RFC 9112 §6.3: an HTTP/1.1 request without Content-Length or Transfer-Encoding has no body;
 * an HTTP/2 request has none when END_STREAM came with its HEADERS. */
function hasNoBody(req: ClientRequestLike, proto: AppProtocol): boolean {
  if (proto === 'h2') return (req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === true;
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
  const { router, log } = deps;
  const pathMode = deps.pathNormalization ?? DEFAULT_PATH_NORMALIZATION;

  /** A same-node request the destination's policy denies: answered here, 403, never delivered. */
  function denied(d: PolicyDecision, sink: AttemptSink): UpstreamAttempt {
    const body = Readable.from([]);
    queueMicrotask(() => {
      sink.onResponse(403, deniedHeaders(d), body);
      body.resume();
      body.once('end', () => sink.onEnd(undefined));
    });
    const sinkBody = new PassThrough();
    sinkBody.resume();
    return { body: sinkBody, abort: () => body.destroy(), endWithTrailers: () => sinkBody.end() };
  }

  const forward: Forwarder = (ep, r, sink) => {
    if (ep.local) {
      if (deps.policy !== undefined) {
        const v = authorizeHttp(
          deps.policy,
          { sourceIdentity: r.source, sourceAddress: r.sourceAddress, destination: ep.workload.key, destinationIdentity: ep.workload.identity, port: ep.port, transport: 'local' },
          { method: r.method, path: r.path, headers: r.headers },
        );
        if (v.denied !== undefined) return denied(v.denied, sink);
      }
      return deps.local.start(r, sink);
    }
    const nodeIp = router.view.nodeAddress(ep.workload.node);
    if (nodeIp === undefined) {
      const a = new PassThrough();
      queueMicrotask(() => sink.onFailure(false, new Error(`node ${ep.workload.node} of ${ep.workload.key} is unknown`)));
      return { body: a, abort: () => a.destroy(), endWithTrailers: () => a.end() };
    }
    const key = { sourceIdentity: r.source, destinationIdentity: ep.workload.identity, node: { host: nodeIp, port: deps.hbonePort } };
    const entry = deps.peers.acquireNow(key);
    if (entry !== undefined) {
      // The common case: a recent certificate context, so the stream opens now.
      try {
        return startH2Attempt(entry.session, peerHeaders(ep, r), r.bodyless, sink, deps.peers, entry, r.mayTrail);
      } catch {
        deps.peers.release(entry);
      }
    }
    return new PeerAttempt(deps.peers, key, ep, r, sink);
  };

  function onRequest(req: ClientRequestLike & { socket: object }, res: ClientResponseLike): void {
    const conn = (req.socket as Tagged)[CONN];
    if (conn === undefined) {
      res.destroy();
      return;
    }
    const refused = admitTarget(req, conn.proto);
    if (refused !== null) {
      deps.telemetry.inputRejected(refused.reason);
      // HTTP/2 forbids connection headers (setting one throws): only HTTP/1 is told to close.
      res.writeHead(400, conn.proto === 'h2' ? { 'weft-error': refused.code, 'content-length': '0' } : { 'weft-error': refused.code, 'content-length': '0', connection: 'close' });
      res.end();
      return;
    }
    const limit = deps.requestLimit;
    if (limit !== undefined) {
      if (!limit.tryAcquire(conn.source)) {
        refuseRequest(req, res);
        return;
      }
      // 'close' comes once the response is done or the client left, whichever is first.
      res.once('close', () => limit.release(conn.source));
    }
    new Exchange(router, forward, conn.from, conn.destination, conn.proto, req, res, hasNoBody(req, conn.proto), conn.original, conn.ctx).start();
  }

  /**
   * The request head's one target stage, before routing and policy on every entry (HTTP/1,
   * HTTP/2 prior knowledge, upgrades): the target made origin-form and its path normalised
   * (common/path-normalize.ts), written back so that what is routed, authorized and forwarded is
   * one path. Null when admitted; else what to refuse it with (400) and count.
   */
  function admitTarget(req: { url?: string; method?: string; headers: http.IncomingHttpHeaders }, proto: AppProtocol): { code: string; reason: string } | null {
    const url = req.url ?? '/';
    // CONNECT's target is an authority ("host:port"): nothing to normalise.
    if (req.method === 'CONNECT') return null;
    let path = url;
    // Origin-form is the common case and costs one character test (llhttp already refused spaces
    // and controls in an HTTP/1 target; an h2 :path is only a header value, so it is checked whole).
    if (url.charCodeAt(0) !== 0x2f || (proto === 'h2' && !isOriginForm(url))) {
      const t = originForm(url);
      if (t === null) return { code: ErrorCodes.HTTP_MALFORMED, reason: 'http_target' };
      path = t.path;
      if (t.authority !== undefined) {
        if (proto === 'h2') req.headers[':authority'] = t.authority;
        else req.headers.host = t.authority;
      }
    }
    const n = normalizePath(path, pathMode);
    if (typeof n !== 'string') return { code: ErrorCodes.HTTP_PATH, reason: `http_path_${n.refused}` };
    if (n !== url) req.url = n;
    return null;
  }

  /**
   * An h2c upgrade is not offered through the mesh (Envoy drops it too): once an app accepted it,
   * HTTP/2 streams would follow on a spliced connection, each asking for any path with no policy
   * seeing them ("h2c smuggling"). The request is served as the HTTP/1.1 request it also is: its
   * head, less the upgrade headers, goes back to the HTTP/1 server with what followed it. The
   * client sees an ordinary answer, which RFC 9113 §3.2 (formerly RFC 7540) allows.
   */
  function serveWithoutH2c(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
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
    h1.emit('connection', socket);
    socket.emit('data', head.length > 0 ? Buffer.concat([bytes, head]) : bytes);
    socket.resume();
  }

  /** An upgrade or CONNECT head goes through the same target stage as every request. */
  function onUpgradeHead(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    const refused = admitTarget(req, 'http1');
    if (refused === null) {
      if (req.method !== 'CONNECT' && isH2cUpgrade(req.headers.upgrade)) serveWithoutH2c(req, socket, head);
      else onUpgrade(req, socket, head);
      return;
    }
    deps.telemetry.inputRejected(refused.reason);
    socket.on('error', () => undefined);
    socket.end(`HTTP/1.1 400 Bad Request\r\nweft-error: ${refused.code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  }

  /** WebSocket and other upgrades, and CONNECT: replay the head on an opaque connection. */
  function onUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    const conn = (socket as Tagged)[CONN];
    router.counters.upgrades++;
    socket.on('error', () => undefined);
    if (conn === undefined) {
      socket.destroy();
      return;
    }
    if (!upgradeTargetOk(req)) {
      deps.telemetry.inputRejected('http_target');
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
      deliverUpgrade(deps, req, socket, head, { ip: ep.ip, port: ep.port }, {
        sourceIdentity: conn.from.identity, sourceAddress: conn.from.address, destination: ep.workload.key,
        destinationIdentity: ep.workload.identity, port: ep.port, transport: 'local',
      });
      return;
    }
    const start = (upstream: Duplex): void => {
      upstream.write(rawHead(req));
      if (head.length > 0) upstream.write(head);
      pipeBoth(socket, upstream);
    };
    const fail = (err: unknown): void => {
      if (socket.destroyed) return;
      // A peer that decided the tunnel alone (an agent before upgrade tunnels) refused it by policy.
      if (err instanceof TunnelError && err.serverCode === ErrorCodes.POLICY_DENIED) {
        socket.end(deniedHttp1(undefined));
        return;
      }
      log.warn('upgrade connection failed', { target: ep.id, message: (err as Error).message });
      socket.end('HTTP/1.1 502 Bad Gateway\r\nweft-error: WEFT_ERR_UPSTREAM_CONNECT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    };
    const nodeIp = router.view.nodeAddress(ep.workload.node);
    if (nodeIp === undefined) {
      fail(new Error(`node ${ep.workload.node} unknown`));
      return;
    }
    // Marked as an upgrade: the destination's agent reads and authorizes the head before its pod does.
    deps.tunnels
      .open({ sourceIdentity: conn.source.identity, destinationIdentity: ep.workload.identity, nodeAddress: { host: nodeIp, port: deps.hbonePort }, target: { host: ep.ip, port: ep.port }, upgrade: true })
      .then(start, fail);
  }

  const headersTimeout = deps.headersTimeoutMs ?? 30_000;
  const h1 = http.createServer({ keepAlive: true, requestTimeout: 0, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, ...headerTimeoutOptions(headersTimeout) });
  h1.on('request', onRequest);
  h1.on('checkContinue', onRequest);
  h1.on('upgrade', onUpgradeHead);
  h1.on('connect', onUpgradeHead);
  // Malformed, oversized and smuggling-shaped requests, and header timeouts: 400/431/408, closed, counted.
  h1.on('clientError', (err: Error, socket: Duplex) => {
    const kind = answerClientError(err, socket);
    if (kind !== null) deps.telemetry.inputRejected(`http1_${kind}`);
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

  // WEFT_L7_H1_ENGINE=weft: the agent's own codec (outbound-h1.ts) serves HTTP/1.x, one object
  // per connection; the same stages (onRequest, onUpgradeHead) behind it.
  const h1Engine = deps.h1Engine ?? 'weft';
  const front: H1Front = {
    request: onRequest,
    upgrade: onUpgradeHead,
    rejected: (reason) => deps.telemetry.inputRejected(reason),
    headersTimeoutMs: headersTimeout,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
  };

  // WEFT_L7_H2_ENGINE=node: node:http2's server, made (and node:http2 loaded) only then.
  const h2 = deps.h2Engine === 'node' ? nodeH2Server() : undefined;
  function nodeH2Server(): Http2Server {
    const server = process.getBuiltinModule('node:http2').createServer({ settings: { initialWindowSize: 1 << 20 } });
    server.on('request', onRequest as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
    server.on('checkContinue', onRequest as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void);
    // Invalid frames from an app that spoke h2 prior knowledge: nghttp2 sends GOAWAY; counted here.
    server.on('sessionError', () => deps.telemetry.inputRejected('h2_protocol'));
    return server;
  }
  // The same on the agent's codec (outbound-h2.ts): no node:http2 session per app connection.
  const h2Codec = h2 !== undefined ? undefined : createAppH2Server({
    onRequest: onRequest as (req: AppRequest, res: ClientResponseLike) => void,
    onProtocolError: () => deps.telemetry.inputRejected('h2_protocol'),
  });

  const counters = router.counters;

  function handle(socket: net.Socket, s: Sniffed, conn: HttpConnection): void {
    (socket as net.Socket & Tagged)[CONN] = conn;
    if (conn.proto === 'h2') {
      if (s.ended) {
        socket.destroy();
        return;
      }
      if (h2 === undefined) {
        h2Codec?.handle(socket, s.head);
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
    if (h1Engine === 'weft') {
      new H1Connection(socket, front).start(s.head, s.ended);
      return;
    }
    // node:http reads the socket's handle directly; bytes we already took are fed as a 'data'
    // event, which its parser accepts like any other chunk.
    h1.emit('connection', socket);
    if (s.head.length > 0) socket.emit('data', s.head);
    if (s.ended) socket.emit('end');
    socket.resume();
  }

  const hook: L7Hook = (client: net.Socket, original: Address, decision: MeshedDecision, ctx: ConnectionContext, tcp: (s: Sniffed | undefined) => void): void => {
    const match = router.view.serviceByAddress(original.ip, original.port);
    const plan = planDetection(original.port, match === undefined ? undefined : { record: match.service, port: match.port }, deps.opaquePorts);
    if (plan.kind === 'fixed' && plan.protocol === 'tcp') {
      tcp(undefined);
      return;
    }
    const go = (s: Sniffed): void => {
      if (s.protocol === 'tcp') {
        counters.detectedTcp++;
        if (s.timedOut) {
          counters.detectTimeouts++;
          deps.telemetry.detectionTimedOut(ctx);
        }
        tcp(s);
        return;
      }
      if (s.protocol === 'h2') counters.detectedH2++;
      else counters.detectedHttp1++;
      const kind = decision.kind === 'hbone' ? 'outbound_hbone' : 'outbound_local';
      deps.stats.opened(kind);
      deps.telemetry.opened(ctx);
      client.once('close', () => {
        deps.stats.closed(kind, client.bytesRead, client.bytesWritten, false);
        deps.telemetry.closed(ctx, client.bytesRead, client.bytesWritten, undefined);
      });
      const destination: HttpDestination = match !== undefined
        ? { kind: 'service', service: match.service, port: match.port.port }
        : { kind: 'workload', endpoint: router.endpointFor(decision.destination, decision.target.port) };
      const from: RequestSource = { identity: decision.source.identity, address: unmapIpv4(client.remoteAddress) };
      handle(client, s, { source: decision.source, from, destination, proto: s.protocol, original: `${original.ip}:${original.port}`, ctx });
    };
    if (plan.kind === 'fixed') go({ protocol: plan.protocol, head: NOTHING, timedOut: false, ended: false });
    else sniffProtocol(client, deps.detectTimeoutMs, go);
  };

  return {
    hook,
    handle,
    close() {
      h1.close();
      h2?.close();
      h2Codec?.close();
    },
  };
}
