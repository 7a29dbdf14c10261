// The mesh's request spans: what the L7 path gives the span recorder at the start and at the end
// of a request. The source agent's span (client) covers the whole exchange, retries included; the
// destination agent's span (server) covers one delivery to the pod and is the client span's
// child, because the source agent forwards its own span's traceparent. Both carry the connection's
// mesh labels (as `weft.*` attributes) next to the HTTP semantic-convention ones.
//
// Callers check `Telemetry.tracing` first; nothing here runs when tracing is off.
import type { Attributes } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { listDelete, listGet, listSet, type HeaderList } from '../http/header-list.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { workloadName } from './labels.ts';
import { namespaceOf } from './recorder.ts';
import type { ConnectionContext } from './telemetry.ts';
import type { RequestSpan, SpanRecorder } from './trace-context.ts';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

/** The request as the L7 path forwards it; `headers` is the forwarded copy and gets the new context. */
export interface SpannedRequest {
  method: string;
  path: string;
  authority: string;
  headers: HeaderList;
}

function put(a: Attributes, key: string, value: string): void {
  if (value !== '') a[key] = value;
}

/** server.address / server.port (semconv): the authority the app addressed, split. */
function putAuthority(a: Attributes, authority: string): void {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (m === null) {
    put(a, 'server.address', authority);
    return;
  }
  put(a, 'server.address', m[1]);
  if (m[2] !== undefined) a['server.port'] = Number(m[2]);
}

function baseAttributes(conn: ConnectionContext | undefined, r: SpannedRequest, route: string): Attributes {
  const a: Attributes = { 'http.request.method': r.method };
  const q = r.path.indexOf('?');
  // The path without its query: queries often carry tokens.
  a['url.path'] = q < 0 ? r.path : r.path.slice(0, q);
  putAuthority(a, r.authority);
  put(a, 'http.route', route);
  if (conn !== undefined) {
    const l = conn.labels;
    a['weft.direction'] = l.direction;
    put(a, 'weft.source.workload', l.source_workload);
    put(a, 'weft.source.namespace', l.source_namespace || namespaceOf(l.source_identity));
    put(a, 'weft.source.identity', l.source_identity);
    put(a, 'weft.destination.workload', l.destination_workload);
    put(a, 'weft.destination.namespace', l.destination_namespace);
    put(a, 'weft.destination.identity', l.destination_identity);
    put(a, 'weft.destination.service', l.destination_service);
    a['weft.tls'] = l.tls;
  }
  return a;
}

function start(spans: SpanRecorder, kind: 'client' | 'server', incoming: string | string[] | undefined, r: SpannedRequest, route: string): RequestSpan {
  const span = spans.startRequest({ kind, traceparent: typeof incoming === 'string' ? incoming : undefined, name: route === '' ? r.method : `${r.method} ${route}` });
  listSet(r.headers, TRACEPARENT, span.traceparent);
  // W3C Trace Context §3.3: tracestate belongs to the traceparent it came with.
  if (!span.continued) listDelete(r.headers, TRACESTATE);
  return span;
}

/** Source agent, request start: a client span, its context forwarded upstream in `r.headers`. */
export function startClientSpan(spans: SpanRecorder, conn: ConnectionContext | undefined, r: SpannedRequest, route: string): RequestSpan {
  const span = start(spans, 'client', listGet(r.headers, TRACEPARENT), r, route);
  // Unsampled requests (most, at a low ratio) only propagate: no attributes to build.
  if (span.recording) span.setAttributes(baseAttributes(conn, r, route));
  return span;
}

export interface ClientSpanEnd {
  /** What the app got; 0 when no response head reached it. */
  status: number;
  /** The endpoint of the last attempt: the actual destination workload of a Service request. */
  endpoint: { workload: WorkloadRecord; local: boolean } | undefined;
  retries: number;
  error: string | undefined;
}

export function endClientSpan(span: RequestSpan, e: ClientSpanEnd): void {
  if (!span.recording) return;
  const a: Attributes = { 'http.request.resend_count': e.retries };
  const ep = e.endpoint;
  if (ep !== undefined) {
    a['weft.destination.workload'] = workloadName(ep.workload);
    a['weft.destination.namespace'] = ep.workload.namespace;
    if (ep.workload.meshed) a['weft.destination.identity'] = ep.workload.identity;
    // Per request, not per connection: a Service's endpoints may be on this node (no TLS) or not.
    a['weft.tls'] = ep.local ? 'none' : 'mutual';
  }
  span.end(e.status, a, e.error);
}

/**
 * Destination agent, request start: a server span, child of what the source agent sent; its
 * context goes to the pod in `forwarded` (the headers the pod will get).
 */
export function startServerSpan(spans: SpanRecorder, incoming: IncomingHttpHeaders, conn: ConnectionContext, r: SpannedRequest, attempt: number): RequestSpan {
  const span = start(spans, 'server', incoming[TRACEPARENT], r, '');
  if (span.recording) {
    const a = baseAttributes(conn, r, '');
    // The source agent's retry ordinal (weft-retry-attempt): this delivery's place in the exchange.
    a['http.request.resend_count'] = attempt;
    span.setAttributes(a);
  }
  return span;
}
