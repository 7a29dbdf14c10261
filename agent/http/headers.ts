// Header handling between hops. Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and
// never cross a proxy; HTTP/2 forbids them outright (RFC 9113 §8.2.2). Everything else passes
// unchanged, in both directions, so apps see what they would see without the mesh.
//
// The hop between agents is a plain HTTP/2 request on the pooled mTLS session, with:
//   :method, :path, :authority (the app's Host), :scheme http — the app's request line;
//   weft-target: ip:port — the endpoint the originating agent chose (checked against the SNI
//     identity at the destination, like an HBONE CONNECT target);
//   weft-proto: http1 | h2 — what the app spoke, so the destination speaks the same to the pod;
//   weft-retry-attempt: n — on retries only; passed on to the server so it can tell replays.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { AttemptRequest } from './upstream.ts';

export const TARGET_HEADER = 'weft-target';
export const PROTO_HEADER = 'weft-proto';
export const RETRY_HEADER = 'weft-retry-attempt';
export const TIMEOUT_HEADER = 'weft-timeout';

/**
 * The hop-by-hop fields: connection, keep-alive, proxy-connection, transfer-encoding, upgrade,
 * te, host, http2-settings, and the mesh's weft-target and weft-proto. Tested by length first:
 * this runs on every field of every message at each hop, and most names fail on their length
 * alone, with no hashing of a freshly parsed string (a Set lookup was ~1 % of an agent's samples).
 */
function isHopByHop(k: string): boolean {
  switch (k.length) {
    case 2: return k === 'te';
    case 4: return k === 'host';
    case 7: return k === 'upgrade';
    case 10: return k === 'connection' || k === 'keep-alive' || k === PROTO_HEADER;
    case 11: return k === TARGET_HEADER;
    case 14: return k === 'http2-settings';
    case 16: return k === 'proxy-connection';
    case 17: return k === 'transfer-encoding';
    default: return false;
  }
}

/** The options a message's Connection field names (lower case): those fields stop at this hop too. */
function connectionOptions(h: IncomingHttpHeaders): string[] | undefined {
  const conn = h.connection;
  return typeof conn === 'string' && conn !== '' ? conn.toLowerCase().split(/\s*,\s*/) : undefined;
}

/**
 * THE rule of what stops at a hop, for both forms below: pseudo-headers, hop-by-hop fields, the
 * mesh's own hop fields, what Connection names, and the retry mark unless kept. `te` is among the
 * hop-by-hop fields; `teTrailers` says whether it comes back as "trailers".
 */
function hopOnly(k: string, named: string[] | undefined, keepRetryHeader: boolean): boolean {
  return k.charCodeAt(0) === 0x3a /* ':' */ || isHopByHop(k) || (!keepRetryHeader && k === RETRY_HEADER) || (named !== undefined && named.includes(k));
}

function teTrailers(h: IncomingHttpHeaders): boolean {
  return h.te !== undefined && /(^|,)\s*trailers\s*(,|$)/i.test(String(h.te));
}

/**
 * End-to-end headers of a request or response (pseudo-headers, hop-by-hop and anything the
 * Connection header names removed; `te: trailers` kept — gRPC needs it). One copy per message.
 */
export function endToEnd(h: IncomingHttpHeaders, keepRetryHeader: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionOptions(h);
  for (const k in h) {
    if (hopOnly(k, named, keepRetryHeader)) continue;
    const v = h[k];
    if (v !== undefined) out[k] = v;
  }
  if (teTrailers(h)) out.te = 'trailers';
  return out;
}

/**
 * The same end-to-end fields appended to an HTTP/2 header list (`list`, returned): names lower
 * case, an array value as repeated fields, a number in decimal. Where the fields go straight to a
 * list (the pod's response head back to the peer agent), this is one pass and no object — endToEnd
 * then objectToHeaders were an object and two arrays per response.
 */
export function appendEndToEnd(list: string[], h: IncomingHttpHeaders, keepRetryHeader: boolean): string[] {
  const named = connectionOptions(h);
  for (const key in h) {
    const v = h[key];
    if (v === undefined) continue;
    // Our parsers' names are lower case already (toLowerCase then returns the same string).
    const k = key.toLowerCase();
    if (hopOnly(k, named, keepRetryHeader)) continue;
    if (typeof v === 'string') list.push(k, v);
    else if (Array.isArray(v)) for (const one of v) list.push(k, String(one));
    else list.push(k, String(v));
  }
  if (teTrailers(h)) list.push('te', 'trailers');
  return list;
}

/**
 * The same end-to-end fields of a received header list (`src`: names lower case, as the HTTP/2
 * codec hands them), appended to `list` (returned) in order, a repeated field repeated: the hop's
 * request head goes list to list, with no object between (headersToObject then appendEndToEnd
 * were an object and its megamorphic stores per request at the destination agent).
 */
export function appendEndToEndList(list: string[], src: readonly string[], keepRetryHeader: boolean): string[] {
  let named: string[] | undefined = undefined;
  let trailers = false;
  for (let i = 0; i < src.length; i += 2) {
    const k = src[i];
    if (k === 'connection') {
      const v = src[i + 1];
      if (v !== '') (named ??= []).push(...v.toLowerCase().split(/\s*,\s*/));
    } else if (k === 'te' && !trailers) {
      trailers = /(^|,)\s*trailers\s*(,|$)/i.test(src[i + 1]);
    }
  }
  for (let i = 0; i < src.length; i += 2) {
    const k = src[i];
    if (hopOnly(k, named, keepRetryHeader)) continue;
    list.push(k, src[i + 1]);
  }
  if (trailers) list.push('te', 'trailers');
  return list;
}

export function isGrpc(h: IncomingHttpHeaders): boolean {
  const ct = h['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}

/**
 * A request's HTTP/2 header list: the pseudo-headers, then the request's end-to-end fields
 * (`r.headers`, a list already through the hop rule) and, on the hop between agents (`target`
 * given: the chosen endpoint), weft-target and weft-proto — one array copy, no object. Also the
 * head of an h2c request to a pod on this node (no `target`: no mesh fields).
 */
export function requestHeaderList(r: AttemptRequest, target?: string): string[] {
  const list = [':method', r.method, ':path', r.path, ':authority', r.authority, ':scheme', 'http'];
  const h = r.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    // The hop rule dropped pseudo-headers and the mesh's own fields; nothing may bring them back.
    if (name.charCodeAt(0) === 0x3a || name === TARGET_HEADER || name === PROTO_HEADER) continue;
    list.push(name, h[i + 1]);
  }
  if (target !== undefined) list.push(TARGET_HEADER, target, PROTO_HEADER, r.proto);
  return list;
}
