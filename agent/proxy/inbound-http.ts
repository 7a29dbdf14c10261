// Inbound HTTP on the HBONE port: a peer agent's L7 request (a regular HTTP/2 request on the
// mTLS session, see agent/http/headers.ts), its client certificate already verified. Like a
// CONNECT, it is delivered only to a meshed workload on this node whose identity the peer asked
// for by SNI; then it is restored in the protocol the app spoke (weft-proto) and sent to the pod
// over the local pools, and the answer — 100 Continue, headers, body, trailers — goes back on
// the stream. Failures carry weft-error so the originating agent knows whether the request was
// delivered (UPSTREAM_CONNECT: it was not, and may be replayed).
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { PROTO_HEADER, TARGET_HEADER, endToEnd } from '../http/headers.ts';
import type { LocalUpstream } from '../http/local-upstream.ts';
import { endBody, type AttemptSink, type ResponseBody, type UpstreamAttempt } from '../http/upstream.ts';
import { WEFT_ERROR_HEADER, parseConnectTarget } from './hbone/index.ts';
import { isOriginForm } from '../http/request-target.ts';
import { DEFAULT_PATH_NORMALIZATION, normalizePath, type PathNormalization } from '../../common/path-normalize.ts';
import { decideInbound } from './inbound-decide.ts';
import type { RoutingView } from './routing-view.ts';
import type { ProxyStats } from './stats.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import { authorizeHttp, deniedHeaders } from '../policy/http-authz.ts';
import { connectionContext, noTelemetry, type ConnectionContext, type Telemetry } from '../telemetry/telemetry.ts';
import { startServerSpan } from '../telemetry/request-spans.ts';
import type { RequestSpan } from '../telemetry/trace-context.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { releaseClosedStream } from '../http/h2-release.ts';

export interface InboundHttpDeps {
  view: RoutingView;
  localNode: string;
  local: LocalUpstream;
  stats: ProxyStats;
  log: Logger;
  /** Authorization policy, per request, with the peer's verified identity. */
  policy?: InboundAuthorizer;
  /** Inbound request events (the destination side of the golden metrics). */
  telemetry?: Telemetry;
  /** Path normalisation (WEFT_PATH_NORMALIZATION): the source agent normalised already; a peer that did not is held to it here. */
  pathNormalization?: PathNormalization;
}

export interface PeerHttpRequest {
  stream: ServerHttp2Stream;
  headers: IncomingHttpHeaders;
  peerIdentity: string;
  localIdentity: string;
}

function refuse(stream: ServerHttp2Stream, status: number, code: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': status, [WEFT_ERROR_HEADER]: code }, { endStream: true });
}

/** What the sink reports when the request is over (one event per request, inbound side). */
interface RequestReport {
  telemetry: Telemetry;
  conn: ConnectionContext;
  method: string;
  path: string;
  authority: string;
  retryAttempt: number;
  /** The server span when tracing is on. */
  span: RequestSpan | undefined;
  /** The traceparent the pod got (access records). */
  traceparent: string | undefined;
}

/** Relays one upstream answer onto the peer's stream. One per request. */
class StreamSink implements AttemptSink {
  readonly stream: ServerHttp2Stream;
  attempt: UpstreamAttempt | undefined = undefined;
  #trailers: IncomingHttpHeaders | undefined = undefined;
  readonly #report: RequestReport;
  readonly #start = Date.now();
  #status = 0;
  #requestBytes = 0;
  #responseBytes = 0;
  #error: string | undefined = undefined;

  constructor(stream: ServerHttp2Stream, report: RequestReport) {
    this.stream = stream;
    this.#report = report;
    stream.on('close', this.#onClose);
  }

  /** Relays the peer's request body into the attempt: one handler counts, writes and applies backpressure. */
  relayRequestBody(): void {
    const s = this.stream;
    s.on('data', this.#onReqData);
    s.once('end', this.#onReqEnd);
  }

  readonly #onReqData = (c: Buffer): void => {
    this.#requestBytes += c.length;
    const body = this.attempt?.body;
    if (body === undefined || body.destroyed || body.writableEnded) return;
    if (!body.write(c)) {
      this.stream.pause();
      body.once('drain', this.#resumeReq);
    }
  };

  readonly #resumeReq = (): void => {
    if (!this.stream.destroyed) this.stream.resume();
  };

  readonly #onReqEnd = (): void => {
    const body = this.attempt?.body;
    if (body !== undefined) endBody(body);
  };

  #body: ResponseBody | undefined = undefined;

  readonly #onBodyData = (c: Buffer): void => {
    this.#responseBytes += c.length;
    const s = this.stream;
    if (s.destroyed || s.writableEnded) return;
    if (!s.write(c)) {
      this.#body?.pause();
      s.once('drain', this.#resumeBody);
    }
  };

  readonly #resumeBody = (): void => {
    if (!this.stream.destroyed) this.#body?.resume();
  };

  readonly #onBodyEnd = (): void => {
    const s = this.stream;
    if (!s.destroyed && !s.writableEnded) s.end();
  };

  onContinue(): void {
    if (!this.stream.destroyed && !this.stream.headersSent) this.stream.additionalHeaders({ ':status': 100 });
  }

  onResponse(status: number, headers: IncomingHttpHeaders, body: ResponseBody): void {
    const s = this.stream;
    if (s.destroyed) {
      body.destroy();
      return;
    }
    // Trailers are expected from h2 servers (gRPC) and from HTTP/1.1 responses that announce them.
    const wantTrailers = headers[':status'] !== undefined || headers.trailer !== undefined;
    this.#status = status;
    // endToEnd's copy is ours: add the status to it rather than spreading it into another.
    const out = endToEnd(headers, true);
    out[':status'] = status;
    s.respond(out, { waitForTrailers: wantTrailers });
    if (wantTrailers) s.once('wantTrailers', this.#sendTrailers);
    // One 'data' handler copies, counts and applies backpressure (cheaper per request than pipe()).
    this.#body = body;
    body.on('data', this.#onBodyData);
    body.once('end', this.#onBodyEnd);
  }

  onEnd(trailers: IncomingHttpHeaders | undefined): void {
    this.#trailers = trailers;
  }

  onFailure(delivered: boolean, err: Error): void {
    const s = this.stream;
    this.#error = (err as Error & { code?: string }).code ?? (delivered ? ErrorCodes.HTTP_UPSTREAM : ErrorCodes.UPSTREAM_CONNECT);
    if (s.headersSent) {
      if (!s.destroyed) s.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // The code tells the originating agent whether the app saw the request (replay rules).
    refuse(s, delivered ? 502 : 503, delivered ? ErrorCodes.HTTP_UPSTREAM : ErrorCodes.UPSTREAM_CONNECT);
  }

  readonly #sendTrailers = (): void => {
    if (this.stream.destroyed) return;
    this.stream.sendTrailers(this.#trailers === undefined ? {} : endToEnd(this.#trailers, true));
  };

  readonly #onClose = (): void => {
    this.attempt?.abort();
    const r = this.#report;
    const g = this.#trailers?.['grpc-status'];
    r.telemetry.request({
      connection: r.conn,
      method: r.method,
      status: this.#status,
      route: '',
      path: r.path,
      serverAddress: r.authority,
      durationSeconds: (Date.now() - this.#start) / 1000,
      requestBytes: this.#requestBytes,
      responseBytes: this.#responseBytes,
      grpcStatus: typeof g === 'string' ? Number(g) : null,
      retryAttempt: r.retryAttempt,
      timedOut: false,
      traceparent: r.traceparent,
    });
    r.span?.end(this.#status, undefined, this.#error ?? (this.stream.rstCode !== 0 ? 'stream_reset' : undefined));
    releaseClosedStream(this.stream);
  };
}

export function createInboundHttpHandler(deps: InboundHttpDeps): (req: PeerHttpRequest) => void {
  const telemetry = deps.telemetry ?? noTelemetry;
  const pathMode = deps.pathNormalization ?? DEFAULT_PATH_NORMALIZATION;
  // One telemetry context per (peer identity, workload): the labels of inbound request events.
  const contexts = new Map<string, ConnectionContext>();
  const contextFor = (peer: string, dst: WorkloadRecord, address: string): ConnectionContext => {
    const key = `${peer}|${dst.key}`;
    let c = contexts.get(key);
    if (c === undefined) {
      if (contexts.size > 10_000) contexts.clear();
      c = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: peer, destination: dst, tls: 'mutual', sourceAddress: address, destinationAddress: `${dst.ip}` });
      contexts.set(key, c);
    }
    return c;
  };
  return function onPeerHttp(req: PeerHttpRequest): void {
    const { stream, headers } = req;
    const target = parseConnectTarget(headers[TARGET_HEADER] as string | undefined);
    const rawPath = headers[':path'];
    if (target === null || typeof rawPath !== 'string' || (rawPath !== '*' && !isOriginForm(rawPath))) {
      telemetry.inputRejected('hbone_http_target');
      refuse(stream, 400, ErrorCodes.HTTP_TARGET);
      return;
    }
    // Idempotent: a path the source agent normalised comes out unchanged (one scan, no copy).
    const path = normalizePath(rawPath, pathMode);
    if (typeof path !== 'string') {
      telemetry.inputRejected(`hbone_http_path_${path.refused}`);
      refuse(stream, 400, ErrorCodes.HTTP_PATH);
      return;
    }
    const decision = decideInbound(target.host, deps.view, deps.localNode);
    if (decision.kind === 'refuse') {
      deps.stats.rejected++;
      telemetry.inputRejected('hbone_target_refused');
      deps.log.warn('HTTP request refused', { code: decision.code, reason: decision.reason, peer: req.peerIdentity });
      refuse(stream, decision.status, decision.code);
      return;
    }
    if (decision.destination.identity !== req.localIdentity) {
      deps.stats.rejected++;
      telemetry.inputRejected('hbone_identity_mismatch');
      refuse(stream, 421, ErrorCodes.PEER_IDENTITY);
      return;
    }
    if (deps.policy !== undefined) {
      const v = authorizeHttp(
        deps.policy,
        {
          sourceIdentity: req.peerIdentity,
          sourceAddress: stream.session?.socket?.remoteAddress ?? '',
          destination: decision.destination.key,
          destinationIdentity: decision.destination.identity,
          port: target.port,
          transport: 'hbone',
        },
        { method: headers[':method'] as string, path, headers },
      );
      if (v.denied !== undefined) {
        deps.stats.rejected++;
        // 403 is final for the originating agent (never retried); the app sees it with the policy.
        if (!stream.destroyed) stream.respond({ ':status': 403, ...deniedHeaders(v.denied) }, { endStream: true });
        return;
      }
    }
    const method = headers[':method'] as string;
    const conn = contextFor(req.peerIdentity, decision.destination, stream.session?.socket?.remoteAddress ?? '');
    const retryAttempt = Number(headers['weft-retry-attempt'] ?? 0) || 0;
    const forward = {
      method,
      path,
      authority: (headers[':authority'] as string | undefined) ?? `${target.host}:${target.port}`,
      headers: endToEnd(headers, true),
      proto: headers[PROTO_HEADER] === 'h2' ? 'h2' as const : 'http1' as const,
      target: { ip: target.host, port: target.port },
      source: req.peerIdentity,
      sourceAddress: stream.session?.socket?.remoteAddress ?? '',
      bodyless: stream.endAfterHeaders,
    };
    const span = telemetry.tracing ? startServerSpan(telemetry.spans, headers, conn, forward, retryAttempt) : undefined;
    const sink = new StreamSink(stream, {
      telemetry,
      conn,
      method,
      path,
      authority: (headers[':authority'] as string | undefined) ?? '',
      retryAttempt,
      span,
      traceparent: forward.headers.traceparent as string | undefined,
    });
    const attempt = deps.local.start(forward, sink);
    sink.attempt = attempt;
    // A bodyless request went out whole (its attempt's body is already ended); piping would end it twice.
    if (stream.endAfterHeaders) stream.resume();
    else sink.relayRequestBody();
  };
}
