// One HTTP request through the L7 stages, on the originating agent:
//   route (router.resolve) → balance (breaker filter, then p2c) → forward (local pod or peer agent)
//   → observe (latency to the balancer, outcome to the breaker) → retry? (replay rules, budget,
//   jittered backoff) → respond; with the request timeout and the idle timeout around it all.
// One object per request holds all of its state; its handlers are fields, made once per request.
//
// Replay: the request body is kept while it streams, up to MAX_REPLAY_BODY; past that the request
// can no longer be replayed and its outcome is final. Nothing is buffered before it is forwarded:
// the first attempt sees the body as it arrives.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { ErrorCodes } from '../../common/errors.ts';
import { backoffMs } from './backoff.ts';
import { RETRY_HEADER, TIMEOUT_HEADER, appendEndToEnd, appendEndToEndList, endToEnd, isGrpc } from './headers.ts';
import { listGet, listSet } from './header-list.ts';
import { fieldValue } from '../http1/header-object.ts';
import { GRPC_UNAVAILABLE, MAX_REPLAY_BODY, isRetryable, type AttemptOutcome } from './request-policy.ts';
import type { HttpDestination, HttpEndpoint, Resolved, Router } from './router.ts';
import { H2Code } from '../h2/constants.ts';
import { headersToObject, joinedValue } from '../h2/header-object.ts';
import { trailerFields } from './trailer-fields.ts';
import { deadlineQueue, type DeadlineEntry, type DeadlineQueue } from '../deadline-queue.ts';
import { endRequest, type AppProtocol, type AttemptRequest, type AttemptSink, type ResponseBody, type UpstreamAttempt } from './upstream.ts';
import type { ConnectionContext } from '../telemetry/telemetry.ts';
import { endClientSpan, startClientSpan } from '../telemetry/request-spans.ts';
import type { RequestSpan } from '../telemetry/trace-context.ts';

/**
 * The app's request as the exchange reads it: the head, and a body it can pause. Structural, so
 * that node:http's IncomingMessage, node:http2's compatibility request and the agent's own codec
 * adapters (agent/http1, agent/h2) all fit without a wrapper object per request.
 */
export interface ClientRequestLike {
  readonly method?: string;
  url: string;
  headers: IncomingHttpHeaders;
  /**
   * The head as a header list (names lower case, in order), when the codec keeps one and nobody
   * asked for `headers` (which may then be changed, and is the truth from then on): the exchange
   * reads and forwards it with no object (the agent's HTTP/1 codec).
   */
  readonly headerList?: readonly string[];
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  on(event: 'end', fn: () => void): unknown;
  off(event: 'data', fn: (chunk: Buffer) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  /**
   * The request's trailer section, complete by 'end' (node:http's and node:http2's `trailers`,
   * the codecs' own): empty or absent when it had none.
   */
  readonly trailers?: IncomingHttpHeaders;
}

/** HTTP/2 only: the stream under a response, for the answers a response object cannot give. */
export interface ClientStreamLike {
  readonly headersSent: boolean;
  /** A trailers-only answer: one HEADERS frame with END_STREAM. */
  respond(headers: OutgoingHttpHeaders, options: { endStream: boolean }): void;
  /** RST_STREAM with `code`: the response was cut short. */
  close(code: number): void;
}

/** The app's response, as the exchange writes it (same structural idea as ClientRequestLike). */
export interface ClientResponseLike {
  readonly headersSent: boolean;
  readonly statusCode: number;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  /** Present on HTTP/2 responses only. */
  readonly stream?: ClientStreamLike;
  writeHead(status: number, headers?: OutgoingHttpHeaders): unknown;
  /**
   * The same with the fields as a header list (names lower case, end-to-end already; the writer
   * may append its own to it): the agent's codecs take the relayed head this way, no object.
   */
  writeHeadList?(status: number, fields: string[]): unknown;
  writeContinue(): void;
  addTrailers(headers: OutgoingHttpHeaders): void;
  /** False: over the high-water mark, wait for 'drain'. */
  write(chunk: Buffer): boolean;
  end(text?: string): unknown;
  /** HTTP/1: the only way to tell the app a response is incomplete is to close its connection. */
  destroy(): unknown;
  once(event: 'drain' | 'close', fn: () => void): unknown;
  /** Once the response is done or the client left, whichever is first. */
  on(event: 'close', fn: () => void): unknown;
}

/** Starts an attempt towards an endpoint (chooses local delivery or the peer hop). */
/** Who sent a request: its SPIFFE ID and its address as this agent saw it. One per connection. */
export interface RequestSource {
  readonly identity: string;
  readonly address: string;
}

export type Forwarder = (ep: HttpEndpoint, r: AttemptRequest, sink: AttemptSink) => UpstreamAttempt;

const WEFT_ERROR = 'weft-error';
const MAX_BACKOFF_MS = 1000;

export class Exchange implements AttemptSink, DeadlineEntry {
  readonly #router: Router;
  readonly #forward: Forwarder;
  readonly #req: ClientRequestLike;
  readonly #res: ClientResponseLike;
  readonly #method: string;
  readonly #grpc: boolean;
  readonly #resolved: Resolved;
  readonly #request: AttemptRequest;
  #chunks: Buffer[] | null = [];
  #bodyBytes = 0;
  #bodyEnded = false;
  /** The request's trailers as forwarded (trailer-fields.ts), kept for replays; undefined: none. */
  #trailers: OutgoingHttpHeaders | undefined = undefined;
  #attempt: UpstreamAttempt | undefined = undefined;
  #endpoint: HttpEndpoint | undefined = undefined;
  #attemptStart = 0;
  /** The balancer counts the current attempt as pending until it is observed. */
  #inflight = false;
  #retries = 0;
  /** Endpoints that failed this request before any app saw it: its retries go elsewhere. */
  #avoid: Set<string> | undefined = undefined;
  #continued = false;
  #committed = false;
  #finished = false;
  #timer: NodeJS.Timeout | undefined = undefined;
  /** The idle timeout's queue while it runs (deadline-queue.ts: one timer per duration, not one per request; null once expired or finished); its links below. */
  dqQueue: DeadlineQueue | null = null;
  dqPrev: DeadlineEntry | null = null;
  dqNext: DeadlineEntry | null = null;
  dqAt = 0;
  #backoff: NodeJS.Timeout | undefined = undefined;
  #body: ResponseBody | undefined = undefined;

  readonly #conn: ConnectionContext | undefined;
  #responseBytes = 0;
  #status = 0;
  #grpcStatus: string | undefined = undefined;
  /** Tracing only: the client span, and why the exchange failed when the status does not say. */
  #span: RequestSpan | undefined = undefined;
  #error: string | undefined = undefined;

  /** `bodyless`: the request has no body (RFC 9112 §6.3 for HTTP/1.1; END_STREAM on its HEADERS for HTTP/2) — the entry knows it. */
  constructor(router: Router, forward: Forwarder, source: RequestSource, dst: HttpDestination, proto: AppProtocol, req: ClientRequestLike, res: ClientResponseLike, bodyless: boolean, fallbackAuthority: string, conn?: ConnectionContext) {
    this.#conn = conn;
    this.#router = router;
    this.#forward = forward;
    this.#req = req;
    this.#res = res;
    this.#method = req.method ?? 'GET';
    const list = req.headerList;
    let authority: string;
    let mayTrail: boolean;
    let forwarded: string[];
    if (list !== undefined) {
      // An HTTP/1 head kept as a list: read and forwarded as one, no object (fieldValue: node:http's reading of a field).
      this.#grpc = fieldValue(list, 'content-type')?.startsWith('application/grpc') === true;
      authority = fieldValue(list, 'host') ?? fallbackAuthority;
      this.#resolved = router.resolve(dst, this.#method, req.url, list);
      mayTrail = !bodyless && listGet(list, 'transfer-encoding') !== undefined;
      forwarded = appendEndToEndList([], list, false);
    } else {
      const h = req.headers;
      this.#grpc = isGrpc(h);
      authority = (h[':authority'] as string | undefined) ?? h.host ?? fallbackAuthority;
      this.#resolved = router.resolve(dst, this.#method, req.url, h);
      // Only a chunked HTTP/1.1 body or an HTTP/2 body can end with trailers (RFC 9112 §7.1.2, RFC 9113 §8.1).
      mayTrail = !bodyless && (proto === 'h2' || h['transfer-encoding'] !== undefined);
      forwarded = appendEndToEnd([], h, false);
    }
    this.#request = { method: this.#method, path: req.url, authority, headers: forwarded, proto, target: { ip: '', port: 0 }, source: source.identity, sourceAddress: source.address, bodyless, mayTrail };
  }

  start(): void {
    const c = this.#router.counters;
    c.requests++;
    this.#resolved.budget?.deposit();
    const { policy } = this.#resolved;
    if (policy.timeoutMs > 0) this.#timer = setTimeout(requestTimedOut, policy.timeoutMs, this);
    if (policy.idleTimeoutMs > 0) deadlineQueue(policy.idleTimeoutMs).arm(this);
    // A bodyless request never says 'data': its handler is not made.
    if (!this.#request.bodyless) this.#req.on('data', (this.#onReqData = this.#reqData.bind(this)));
    this.#req.on('end', this.#onReqEnd);
    this.#res.on('close', this.#onClientClose);
    const t = this.#router.telemetry;
    if (t.tracing) this.#span = startClientSpan(t.spans, this.#conn, this.#request, this.#resolved.route);
    this.#startAttempt();
  }

  // ---- body ----

  /** The request body's 'data' handler (made only for a request with a body). */
  #onReqData: ((chunk: Buffer) => void) | undefined = undefined;

  #reqData(chunk: Buffer): void {
    this.dqQueue?.arm(this);
    this.#bodyBytes += chunk.length;
    if (this.#chunks !== null) {
      if (this.#bodyBytes > MAX_REPLAY_BODY) this.#chunks = null;
      else this.#chunks.push(chunk);
    }
    const a = this.#attempt;
    if (a === undefined) {
      // Between attempts: hold the client until the next attempt can take the bytes.
      if (this.#chunks === null) this.#req.pause();
      return;
    }
    if (!a.body.write(chunk)) {
      this.#req.pause();
      a.body.once('drain', (this.#resumeReq ??= () => {
        if (!this.#finished) this.#req.resume();
      }));
    }
  }

  /** Made at the first backpressure only (most requests never see any). */
  #resumeReq: (() => void) | undefined = undefined;

  readonly #onReqEnd = (): void => {
    this.#bodyEnded = true;
    const t = this.#req.trailers;
    if (t !== undefined) {
      const v = trailerFields(t);
      if (v.dropped > 0) this.#router.counters.requestTrailerFieldsDropped += v.dropped;
      this.#trailers = v.forward;
    }
    if (this.#attempt !== undefined) endRequest(this.#attempt, this.#trailers);
  };

  // ---- attempts ----

  #startAttempt(): void {
    if (this.#finished) return;
    const { endpoints } = this.#resolved;
    const router = this.#router;
    const available = router.breaker.available(endpoints);
    const avoid = this.#avoid;
    let pool = available;
    if (avoid !== undefined) {
      // A retry goes elsewhere: first among the endpoints the breaker allows, then among those it
      // ejected (one may be back — a restarted agent — and is a better bet than the endpoint that
      // just failed this request); only with no other endpoint at all, the same one again.
      const others = available.filter((e) => !avoid.has(e.id));
      const elsewhere = others.length > 0 ? others : endpoints.filter((e) => !avoid.has(e.id));
      if (elsewhere.length > 0) pool = elsewhere;
    }
    const ep = router.lb.pick(pool);
    if (ep === undefined) {
      this.#meshError(503, ErrorCodes.NO_ROUTE, `no ready endpoints for ${this.#resolved.backend}`);
      return;
    }
    this.#endpoint = ep;
    router.lb.started(ep.id);
    router.breaker.dispatched(ep.id);
    this.#inflight = true;
    this.#attemptStart = router.now();
    const r = this.#request;
    r.target = { ip: ep.ip, port: ep.port };
    if (this.#retries > 0) {
      // A copy: the list an earlier attempt was given stays as it was sent.
      r.headers = r.headers.slice();
      listSet(r.headers, RETRY_HEADER, String(this.#retries));
    }
    const a = this.#forward(ep, r, this);
    this.#attempt = a;
    if (this.#chunks !== null) for (const c of this.#chunks) a.body.write(c);
    // A replay ends with the same trailers as the first attempt.
    if (this.#bodyEnded) endRequest(a, this.#trailers);
    else this.#req.resume();
  }

  #observe(failed: boolean): void {
    const ep = this.#endpoint;
    if (ep === undefined || !this.#inflight) return;
    this.#inflight = false;
    const router = this.#router;
    router.lb.finished(ep.id, router.now() - this.#attemptStart);
    if (failed) {
      const ejections = router.counters.ejections;
      router.breaker.failure(ep.id, this.#resolved.endpoints);
      if (router.counters.ejections !== ejections) router.telemetry.endpointEjected(this.#resolved.backend);
    } else {
      router.breaker.success(ep.id);
    }
  }

  /** One request event per attempt (retries are separate requests), for metrics, tap and logs. */
  #report(timedOut: boolean): void {
    const conn = this.#conn;
    if (conn === undefined || this.#endpoint === undefined) return;
    const g = this.#grpcStatus;
    this.#router.telemetry.request({
      connection: conn,
      method: this.#method,
      status: this.#status,
      route: this.#resolved.route,
      path: this.#request.path,
      serverAddress: this.#request.authority,
      durationSeconds: (this.#router.now() - this.#attemptStart) / 1000,
      requestBytes: this.#bodyBytes,
      responseBytes: this.#responseBytes,
      grpcStatus: g === undefined ? null : Number(g),
      retryAttempt: this.#retries,
      timedOut,
      traceparent: listGet(this.#request.headers, 'traceparent'),
    });
    this.#status = 0;
    this.#grpcStatus = undefined;
    this.#responseBytes = 0;
  }

  /** Whether to replay: the outcome, the body, the retry limit and the budget must all allow it. */
  #mayRetry(outcome: AttemptOutcome): boolean {
    if (this.#finished || this.#retries >= this.#resolved.policy.retryLimit) return false;
    if (this.#chunks === null || !isRetryable(outcome, this.#method, this.#resolved.policy)) return false;
    const budget = this.#resolved.budget;
    if (budget !== undefined && !budget.tryWithdraw()) {
      this.#router.counters.retryBudgetExhausted++;
      return false;
    }
    return true;
  }

  #avoidEndpoint(): void {
    if (this.#endpoint !== undefined) (this.#avoid ??= new Set()).add(this.#endpoint.id);
  }

  #retry(): void {
    this.#attempt?.abort();
    this.#attempt = undefined;
    this.#retries++;
    this.#router.counters.retries++;
    this.#backoff = setTimeout(retryNow, backoffMs(this.#retries, this.#resolved.policy.backoffMs, MAX_BACKOFF_MS, this.#router.random), this);
  }

  /** (Internal: the backoff timer's call, through retryNow.) */
  retryNow(): void {
    this.#backoff = undefined;
    this.#startAttempt();
  }

  onContinue(): void {
    if (this.#continued || this.#finished) return;
    this.#continued = true;
    this.#res.writeContinue();
  }

  onResponse(status: number, headers: IncomingHttpHeaders, body: ResponseBody, list?: readonly string[]): void {
    const grpcStatus = headers['grpc-status'] as string | undefined;
    if (!this.#accept(status, grpcStatus, headers[WEFT_ERROR], body)) return;
    const res = this.#res;
    // A gRPC trailers-only answer carries its status in the headers; relayed as headers plus a
    // body end, a gRPC client would see a stream without a status (INTERNAL). Move the status to
    // the trailers, which is valid framing for every gRPC client.
    const moveStatus = this.#grpc && grpcStatus !== undefined;
    if (res.writeHeadList !== undefined && !moveStatus) {
      res.writeHeadList(status, list !== undefined ? appendEndToEndList([], list, true) : appendEndToEnd([], headers, true));
    } else {
      const head = endToEnd(headers, true);
      if (moveStatus) res.addTrailers(takeGrpcStatus(head));
      res.writeHead(status, head);
    }
    // One 'data' handler copies, counts and applies backpressure: pipe() would add and later
    // remove half a dozen listeners on both streams for every request.
    body.on('data', this.#onResData);
  }

  /**
   * The head as a list (the codec's attempts): read and relayed list to list, the header object
   * made only where a writer needs one (node's response objects, a gRPC status moved to trailers).
   */
  onResponseList(status: number, list: readonly string[], body: ResponseBody): void {
    const grpcStatus = joinedValue(list, 'grpc-status');
    const res = this.#res;
    if (res.writeHeadList === undefined || (this.#grpc && grpcStatus !== undefined)) {
      this.onResponse(status, headersToObject(list), body, list);
      return;
    }
    if (!this.#accept(status, grpcStatus, joinedValue(list, WEFT_ERROR), body)) return;
    res.writeHeadList(status, appendEndToEndList([], list, true));
    body.on('data', this.#onResData);
  }

  /**
   * A response head's verdict, before anything is relayed: observed, then replayed (false: the
   * body is destroyed, a retry or nothing follows) or committed to (true: relay it).
   */
  #accept(status: number, grpcStatus: string | undefined, meshCode: string | string[] | undefined, body: ResponseBody): boolean {
    if (this.#finished) {
      body.destroy();
      return false;
    }
    // The peer agent refused before any app saw the request: the endpoint left its node's view
    // first (churn: the two agents apply a change moments apart) or is not who we thought.
    // Nothing happened, so another endpoint may take it, whatever the method.
    const refused = meshCode === ErrorCodes.UPSTREAM_CONNECT || meshCode === ErrorCodes.TUNNEL_REFUSED || meshCode === ErrorCodes.PEER_IDENTITY;
    const failed = refused || status === 502 || status === 503 || status === 504 || grpcStatus === GRPC_UNAVAILABLE;
    this.#observe(failed);
    this.#status = status;
    this.#grpcStatus = grpcStatus;
    const outcome: AttemptOutcome = refused ? { kind: 'not-delivered' } : { kind: 'response', status, grpcStatus };
    if (refused) this.#avoidEndpoint();
    // Whether to replay is the request policy's call alone (isRetryable): a route that lists 500
    // retries a 500, one that lists only 500 does not retry a 503. `failed` feeds the balancer
    // and breaker, which judge the endpoint, not the request.
    if (this.#mayRetry(outcome)) {
      this.#report(false);
      this.#retry();
      body.destroy();
      return false;
    }
    this.#committed = true;
    if (status >= 500) this.#router.counters.responses5xx++;
    this.#body = body;
    return true;
  }

  readonly #onResData = (chunk: Buffer): void => {
    this.#responseBytes += chunk.length;
    this.dqQueue?.arm(this);
    const res = this.#res;
    if (res.destroyed || res.writableEnded) return;
    if (!res.write(chunk)) {
      this.#body?.pause();
      res.once('drain', (this.#resumeBody ??= () => {
        if (!this.#finished) this.#body?.resume();
      }));
    }
  };

  /** Made at the first backpressure only. */
  #resumeBody: (() => void) | undefined = undefined;

  onEnd(trailers: IncomingHttpHeaders | undefined): void {
    if (this.#finished) return;
    if (trailers !== undefined) {
      const g = trailers['grpc-status'];
      if (typeof g === 'string') this.#grpcStatus = g;
      // The trailer rule both ways (trailer-fields.ts), not the header section's hop rule.
      const v = trailerFields(trailers);
      if (v.dropped > 0) this.#router.counters.responseTrailerFieldsDropped += v.dropped;
      if (v.forward !== undefined) this.#res.addTrailers(v.forward);
    }
    this.#report(false);
    this.#res.end();
    this.#finish();
  }

  onFailure(delivered: boolean, err: Error): void {
    if (this.#finished) return;
    if (this.#committed) {
      // The response had begun: the app must see it cut short, never a clean truncated end.
      this.#report(false);
      this.#abortClient();
      return;
    }
    this.#observe(true);
    this.#report(false);
    if (!delivered) this.#avoidEndpoint();
    if (this.#mayRetry(delivered ? { kind: 'response', status: 502, grpcStatus: undefined } : { kind: 'not-delivered' })) {
      this.#retry();
      return;
    }
    if (delivered) this.#meshError(502, ErrorCodes.HTTP_UPSTREAM, `upstream ${this.#endpoint?.id ?? ''} failed: ${err.message}`);
    else this.#meshError(503, ErrorCodes.UPSTREAM_CONNECT, `could not reach ${this.#endpoint?.id ?? ''}: ${err.message}`);
  }

  // ---- timeouts and the end ----

  /** (Internal: the request timer's call, through requestTimedOut.) */
  requestTimeout(): void {
    this.#timer = undefined;
    this.#router.counters.timeouts++;
    this.#timedOut('request');
  }

  /** The idle timeout's queue says no bytes moved for the timeout (it let go of this exchange already). */
  deadlineExpired(): void {
    this.#router.counters.idleTimeouts++;
    this.#timedOut('idle');
  }

  #timedOut(which: 'request' | 'idle'): void {
    if (this.#finished) return;
    this.#error = 'timeout';
    this.#attempt?.abort();
    if (this.#inflight) {
      this.#observe(true);
      this.#report(true);
    } else if (this.#committed) {
      this.#report(true);
    }
    if (this.#committed) {
      this.#abortClient();
      return;
    }
    const headers: OutgoingHttpHeaders = { [TIMEOUT_HEADER]: which };
    if (this.#grpc) {
      // gRPC: a trailers-only response, DEADLINE_EXCEEDED (4).
      this.#respond(200, { ...headers, 'content-type': 'application/grpc', 'grpc-status': '4', 'grpc-message': `weft: ${which} timeout` }, '');
    } else {
      this.#respond(504, { ...headers, 'content-type': 'text/plain' }, `weft: ${which} timeout after ${which === 'request' ? this.#resolved.policy.timeoutMs : this.#resolved.policy.idleTimeoutMs} ms\n`);
    }
  }

  #meshError(status: number, code: string, message: string): void {
    this.#router.counters.responses5xx++;
    this.#error = code;
    const headers: OutgoingHttpHeaders = { [WEFT_ERROR]: code };
    if (this.#grpc) this.#respond(200, { ...headers, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': message }, '');
    else this.#respond(status, { ...headers, 'content-type': 'text/plain' }, `${message}\n`);
  }

  #respond(status: number, headers: OutgoingHttpHeaders, text: string): void {
    this.#committed = true;
    const res = this.#res;
    if (!res.headersSent && !res.destroyed) {
      const h2 = res.stream;
      if (this.#grpc && h2 !== undefined && !h2.headersSent) {
        // The mesh's own gRPC answers (timeouts, unavailable) are trailers-only: one HEADERS frame
        // with the status and END_STREAM, as gRPC servers send an immediate error.
        h2.respond({ ...headers, ':status': status }, { endStream: true });
      } else if (this.#grpc) {
        const head = { ...headers };
        res.addTrailers(takeGrpcStatus(head));
        res.writeHead(status, head);
        res.end();
      } else {
        res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    }
    this.#finish();
  }

  #abortClient(): void {
    this.#error ??= 'response_aborted';
    this.#attempt?.abort();
    const res = this.#res;
    // HTTP/2: RST_STREAM; HTTP/1.1: the connection is the only way to say "incomplete".
    if (res.stream !== undefined) res.stream.close(H2Code.INTERNAL_ERROR);
    else res.destroy();
    this.#finish();
  }

  readonly #onClientClose = (): void => {
    if (this.#finished) return;
    // The app went away (or the response finished writing before our own bookkeeping).
    if (!this.#res.writableEnded) this.#error ??= 'client_closed';
    this.#attempt?.abort();
    this.#finish();
  };

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#span !== undefined) endClientSpan(this.#span, { status: this.#res.headersSent ? this.#res.statusCode : 0, endpoint: this.#endpoint, retries: this.#retries, error: this.#error });
    clearTimeout(this.#timer);
    this.dqQueue?.disarm(this);
    clearTimeout(this.#backoff);
    if (this.#inflight && this.#endpoint !== undefined) {
      // Abandoned (the app left): release the pending count without judging the endpoint.
      this.#inflight = false;
      this.#router.lb.finished(this.#endpoint.id, this.#router.now() - this.#attemptStart);
    }
    if (this.#onReqData !== undefined) this.#req.off('data', this.#onReqData);
    this.#body?.off('data', this.#onResData);
    this.#chunks = null;
    // An unread request body must not hold the connection (node:http drains it on response end).
    this.#req.resume();
  }
}

// The exchange's timers call these with the exchange as their argument: no closure per request.
function requestTimedOut(e: Exchange): void {
  e.requestTimeout();
}
function retryNow(e: Exchange): void {
  e.retryNow();
}

const GRPC_STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'] as const;

/** Removes the gRPC status fields from `head` and returns them (for the trailers). */
function takeGrpcStatus(head: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const trailers: OutgoingHttpHeaders = {};
  for (const f of GRPC_STATUS_FIELDS) {
    if (head[f] !== undefined) {
      trailers[f] = head[f];
      delete head[f];
    }
  }
  return trailers;
}
