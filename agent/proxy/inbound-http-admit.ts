// The decisions on a peer agent's L7 request, ONE implementation for both HTTP/2 engines
// (WEFT_L7_H2_ENGINE): what the request may become (target parse, path normalisation, the
// refusals with their weft-error codes, the local-workload and identity checks, policy per request)
// and what is reported when it is over (inbound telemetry, the server span). The movers that carry
// the bytes are thin and engine-specific: inbound-http.ts on node:http2's stream, and
// inbound-http-codec.ts on agent/h2's codec stream. A check written here cannot be skipped by one
// engine (a past Upgrade path once lost its policy check by having its own copy).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { PROTO_HEADER, RETRY_HEADER, TARGET_HEADER, appendEndToEnd, appendEndToEndList, endToEnd } from '../http/headers.ts';
import { headersToObject } from '../h2/header-object.ts';
import type { LocalUpstream } from '../http/local-upstream.ts';
import type { AttemptRequest } from '../http/upstream.ts';
import { appendTrailerFields, trailerFields } from '../http/trailer-fields.ts';
import { listGet, listGetOnce } from '../http/header-list.ts';
import { WEFT_ERROR_HEADER, parseConnectTarget, type TunnelTarget } from './hbone/index.ts';
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

/**
 * A peer's request head as either engine has it: node:http2's header object, or the codec's header
 * list (names lower case, in order), read as it came — no object is built for it.
 */
export interface PeerHead {
  headers: IncomingHttpHeaders | readonly string[];
  /** The peer agent's verified SPIFFE ID (its client certificate). */
  peerIdentity: string;
  /** The local workload the peer asked for by SNI (whose certificate we presented). */
  localIdentity: string;
  /** The peer's address as the session's socket has it (policy ipBlocks, telemetry). */
  remoteAddress: string;
  /** END_STREAM came with the head. */
  bodyless: boolean;
}

/** What the mover reports when the request is over (one event per request, inbound side). */
export interface RequestReport {
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
  /** When the head arrived (ms). */
  start: number;
}

/** The head's fate: a complete answer (`:status` and its headers, END_STREAM), or forward it. */
export type PeerAdmission =
  | { readonly refuse: OutgoingHttpHeaders; readonly forward?: undefined; readonly report?: undefined }
  | { readonly refuse?: undefined; readonly forward: AttemptRequest; readonly report: RequestReport };

function refusal(status: number, code: string): PeerAdmission {
  return { refuse: { ':status': status, [WEFT_ERROR_HEADER]: code } };
}

/** The answer to a request the local attempt failed before its head went back: the code says delivered or not (replay rules). */
export const FAILED_DELIVERED: OutgoingHttpHeaders = Object.freeze({ ':status': 502, [WEFT_ERROR_HEADER]: ErrorCodes.HTTP_UPSTREAM });
export const FAILED_NOT_DELIVERED: OutgoingHttpHeaders = Object.freeze({ ':status': 503, [WEFT_ERROR_HEADER]: ErrorCodes.UPSTREAM_CONNECT });

/** The error label of a failed attempt (spans): its own code, or what delivered-or-not means. */
export function failureLabel(delivered: boolean, err: Error): string {
  return (err as Error & { code?: string }).code ?? (delivered ? ErrorCodes.HTTP_UPSTREAM : ErrorCodes.UPSTREAM_CONNECT);
}

/** Trailers are expected from h2 servers (gRPC) and from HTTP/1.1 responses that announce them. */
export function wantsTrailers(headers: IncomingHttpHeaders): boolean {
  return headers[':status'] !== undefined || headers.trailer !== undefined;
}

/** The pod's response head as it goes back to the peer: end-to-end fields and `:status`. */
export function responseHead(status: number, headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  // endToEnd's copy is ours: add the status to it rather than spreading it into another.
  const out = endToEnd(headers, true);
  out[':status'] = status;
  return out;
}

/** The same head as an HTTP/2 header list (the codec mover): `:status` first, then the end-to-end fields, one pass. */
export function responseHeadList(status: number, headers: IncomingHttpHeaders): string[] {
  return appendEndToEnd([':status', String(status)], headers, true);
}

/** One field of a head in either form: a string, or undefined (absent; in a list, also repeated, as an object would join it). */
function field(h: IncomingHttpHeaders | readonly string[], name: string): string | undefined {
  if (isList(h)) return listGetOnce(h, name);
  const v = h[name];
  return typeof v === 'string' ? v : undefined;
}

function isList(h: IncomingHttpHeaders | readonly string[]): h is readonly string[] {
  return Array.isArray(h);
}

/** Parsed weft-target values kept per core: the endpoints a node serves are few, parsing (isIP, a regex) is per request. */
const TARGET_CACHE_MAX = 4096;

/** The deciding half of the inbound L7 path, shared by both movers. One per agent (worker). */
export class InboundHttpCore {
  readonly deps: InboundHttpDeps;
  readonly telemetry: Telemetry;
  readonly #pathMode: PathNormalization;
  /** One telemetry context per (peer identity, workload): the labels of inbound request events. */
  readonly #contexts = new Map<string, Map<string, ConnectionContext>>();
  #contextCount = 0;
  readonly #targets = new Map<string, TunnelTarget>();

  constructor(deps: InboundHttpDeps) {
    this.deps = deps;
    this.telemetry = deps.telemetry ?? noTelemetry;
    this.#pathMode = deps.pathNormalization ?? DEFAULT_PATH_NORMALIZATION;
  }

  /**
   * A peer's request trailers as the pod gets them: the same rule as the source agent's
   * (trailer-fields.ts), held here too (a peer is trusted with identity, not with framing).
   */
  forwardTrailers(t: IncomingHttpHeaders): OutgoingHttpHeaders | undefined {
    const v = trailerFields(t);
    if (v.dropped > 0) this.deps.stats.l7.requestTrailerFieldsDropped += v.dropped;
    return v.forward;
  }

  /** The pod's response trailers as the peer gets them (the same rule, trailer-fields.ts); undefined: none to send. */
  responseTrailers(t: IncomingHttpHeaders): OutgoingHttpHeaders | undefined {
    const v = trailerFields(t);
    if (v.dropped > 0) this.deps.stats.l7.responseTrailerFieldsDropped += v.dropped;
    return v.forward;
  }

  /** The same as an HTTP/2 header list (the codec mover's trailing HEADERS); empty: none to send. */
  responseTrailerList(t: IncomingHttpHeaders): string[] {
    const list: string[] = [];
    const dropped = appendTrailerFields(list, t);
    if (dropped > 0) this.deps.stats.l7.responseTrailerFieldsDropped += dropped;
    return list;
  }

  /** Decides one head: every refusal counted and coded, policy applied, the forward request built. */
  admit(h: PeerHead): PeerAdmission {
    const { deps, telemetry } = this;
    const headers = h.headers;
    const target = this.#target(field(headers, TARGET_HEADER));
    const rawPath = field(headers, ':path');
    if (target === null || typeof rawPath !== 'string' || (rawPath !== '*' && !isOriginForm(rawPath))) {
      telemetry.inputRejected('hbone_http_target');
      return refusal(400, ErrorCodes.HTTP_TARGET);
    }
    // Idempotent: a path the source agent normalised comes out unchanged (one scan, no copy).
    const path = normalizePath(rawPath, this.#pathMode);
    if (typeof path !== 'string') {
      telemetry.inputRejected(`hbone_http_path_${path.refused}`);
      return refusal(400, ErrorCodes.HTTP_PATH);
    }
    const decision = decideInbound(target.host, deps.view, deps.localNode);
    if (decision.kind === 'refuse') {
      deps.stats.rejected++;
      telemetry.inputRejected('hbone_target_refused');
      deps.log.warn('HTTP request refused', { code: decision.code, reason: decision.reason, peer: h.peerIdentity });
      return refusal(decision.status, decision.code);
    }
    if (decision.destination.identity !== h.localIdentity) {
      deps.stats.rejected++;
      telemetry.inputRejected('hbone_identity_mismatch');
      return refusal(421, ErrorCodes.PEER_IDENTITY);
    }
    const method = field(headers, ':method') as string;
    if (deps.policy !== undefined) {
      const v = authorizeHttp(
        deps.policy,
        {
          sourceIdentity: h.peerIdentity,
          sourceAddress: h.remoteAddress,
          destination: decision.destination.key,
          destinationIdentity: decision.destination.identity,
          port: target.port,
          transport: 'hbone',
        },
        { method, path, headers },
      );
      if (v.denied !== undefined) {
        deps.stats.rejected++;
        // 403 is final for the originating agent (never retried); the app sees it with the policy.
        return { refuse: { ':status': 403, ...deniedHeaders(v.denied) } };
      }
    }
    const conn = this.#contextFor(h.peerIdentity, decision.destination, h.remoteAddress);
    const retryAttempt = Number(field(headers, RETRY_HEADER) ?? 0) || 0;
    const authority = field(headers, ':authority');
    const forward: AttemptRequest = {
      method,
      path,
      authority: authority ?? `${target.host}:${target.port}`,
      headers: isList(headers) ? appendEndToEndList([], headers, true) : appendEndToEnd([], headers, true),
      proto: field(headers, PROTO_HEADER) === 'h2' ? 'h2' : 'http1',
      target: { ip: target.host, port: target.port },
      source: h.peerIdentity,
      sourceAddress: h.remoteAddress,
      bodyless: h.bodyless,
      // Any HTTP/2 body may end with trailers; the source agent forwards an app's (trailer-fields.ts).
      mayTrail: !h.bodyless,
    };
    const span = telemetry.tracing ? startServerSpan(telemetry.spans, isList(headers) ? headersToObject(headers) : headers, conn, forward, retryAttempt) : undefined;
    const report: RequestReport = {
      telemetry,
      conn,
      method,
      path,
      authority: authority ?? '',
      retryAttempt,
      span,
      traceparent: listGet(forward.headers, 'traceparent'),
      start: Date.now(),
    };
    return { forward, report };
  }

  /** weft-target parsed (parseConnectTarget), through a bounded cache: the same few strings come on every request. */
  #target(text: string | undefined): TunnelTarget | null {
    if (text === undefined) return null;
    const hit = this.#targets.get(text);
    if (hit !== undefined) return hit;
    const t = parseConnectTarget(text);
    if (t !== null) {
      if (this.#targets.size >= TARGET_CACHE_MAX) this.#targets.clear();
      this.#targets.set(text, Object.freeze(t));
    }
    return t;
  }

  /** Keyed by peer, then workload: two lookups and no key string made per request. */
  #contextFor(peer: string, dst: WorkloadRecord, address: string): ConnectionContext {
    let byDst = this.#contexts.get(peer);
    if (byDst === undefined) this.#contexts.set(peer, (byDst = new Map()));
    let c = byDst.get(dst.key);
    if (c === undefined) {
      if (this.#contextCount > 10_000) {
        this.#contexts.clear();
        this.#contextCount = 0;
        this.#contexts.set(peer, (byDst = new Map()));
      }
      c = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: peer, destination: dst, tls: 'mutual', sourceAddress: address, destinationAddress: `${dst.ip}` });
      byDst.set(dst.key, c);
      this.#contextCount++;
    }
    return c;
  }
}

/**
 * The request is over (its stream closed, whatever way): the inbound request event and the span's
 * end. Each mover calls it exactly once, from its stream's close.
 */
export function reportPeerRequest(
  r: RequestReport,
  status: number,
  requestBytes: number,
  responseBytes: number,
  trailers: IncomingHttpHeaders | undefined,
  error: string | undefined,
  reset: boolean,
): void {
  const g = trailers?.['grpc-status'];
  r.telemetry.request({
    connection: r.conn,
    method: r.method,
    status,
    route: '',
    path: r.path,
    serverAddress: r.authority,
    durationSeconds: (Date.now() - r.start) / 1000,
    requestBytes,
    responseBytes,
    grpcStatus: typeof g === 'string' ? Number(g) : null,
    retryAttempt: r.retryAttempt,
    timedOut: false,
    traceparent: r.traceparent,
  });
  r.span?.end(status, undefined, error ?? (reset ? 'stream_reset' : undefined));
}
