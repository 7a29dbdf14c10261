// Gateway API HTTPRoute (gateway.networking.k8s.io/v1, GAMMA mesh profile) → RouteRecord, and the
// `weft.dev/*` Service annotations → ServiceDefaults. Pure, like the rest of the translation.
//
// Only what the mesh acts on is kept: parentRefs of kind Service, path (Exact/PathPrefix), header
// (Exact) and method matches, weighted Service backendRefs, `timeouts.request` and `retry`
// (attempts, codes, backoff). A route that asks for something we cannot honour (a regex path,
// a non-Service backend) is refused as a whole rather than half-applied: a route that silently
// matches more than its author wrote is worse than a clear error.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { RouteBackend, RouteMatch, RouteRecord, RouteRule, ServiceDefaults } from '../api/model.ts';

export const HTTPROUTE_API_VERSIONS = new Set(['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1']);
export const ANNOTATION_TIMEOUT = 'weft.dev/timeout';
export const ANNOTATION_RETRY_LIMIT = 'weft.dev/retry-limit';
export const ANNOTATION_OPAQUE_PORTS = 'weft.dev/opaque-ports';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const DURATION_PART = /([0-9]{1,5})(h|ms|m|s)/g;
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API duration (GEP-2257: "10s", "1m30s", "500ms") in ms; null if malformed. */
export function parseDuration(text: string): number | null {
  if (!DURATION.test(text)) return null;
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms;
}

function fail(where: string, message: string): never {
  throw new WeftError(ErrorCodes.SOURCE_INVALID, `${where}: ${message} — fix the object; the last good model stays in use`);
}

function list(where: string, v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : fail(where, `${path} must be a list`);
}

function isServiceRef(ref: Obj): boolean {
  const group = ref.group ?? '';
  return (group === '' || group === 'core') && (ref.kind ?? 'Service') === 'Service';
}

function port(where: string, v: unknown, path: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) return fail(where, `${path} must be a port number`);
  return v;
}

function match(where: string, m: unknown, path: string): RouteMatch {
  if (!isObj(m)) return fail(where, `${path} must be a mapping`);
  const out: RouteMatch = {};
  if (m.path !== undefined && m.path !== null) {
    if (!isObj(m.path)) return fail(where, `${path}.path must be a mapping`);
    const type = m.path.type ?? 'PathPrefix';
    const value = m.path.value ?? '/';
    if (type !== 'Exact' && type !== 'PathPrefix') return fail(where, `${path}.path.type ${JSON.stringify(type)} is not supported (Exact or PathPrefix)`);
    if (typeof value !== 'string' || !value.startsWith('/')) return fail(where, `${path}.path.value must start with /`);
    out.path = { type, value };
  }
  const headers = list(where, m.headers, `${path}.headers`).map((h, i) => {
    if (!isObj(h) || typeof h.name !== 'string' || typeof h.value !== 'string') return fail(where, `${path}.headers[${i}] needs a name and a value`);
    if ((h.type ?? 'Exact') !== 'Exact') return fail(where, `${path}.headers[${i}].type must be Exact`);
    return { name: h.name.toLowerCase(), value: h.value };
  });
  if (headers.length > 0) out.headers = headers;
  if (m.method !== undefined && m.method !== null) {
    if (typeof m.method !== 'string' || !/^[A-Z]+$/.test(m.method)) return fail(where, `${path}.method must be an HTTP method`);
    out.method = m.method;
  }
  if (list(where, m.queryParams, `${path}.queryParams`).length > 0) fail(where, `${path}.queryParams is not supported yet`);
  return out;
}

function backend(where: string, b: unknown, path: string, namespace: string): RouteBackend {
  if (!isObj(b) || typeof b.name !== 'string' || b.name === '') return fail(where, `${path} needs a name`);
  if (!isServiceRef(b)) return fail(where, `${path} must reference a Service`);
  const ns = typeof b.namespace === 'string' && b.namespace !== '' ? b.namespace : namespace;
  const p = port(where, b.port, `${path}.port`);
  if (p === undefined) return fail(where, `${path}.port is required for a Service backend`);
  const weight = b.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 1_000_000) return fail(where, `${path}.weight must be an integer in 0–1000000`);
  return { service: `${ns}/${b.name}`, port: p, weight };
}

function rule(where: string, r: unknown, path: string, namespace: string): RouteRule {
  if (!isObj(r)) return fail(where, `${path} must be a mapping`);
  const out: RouteRule = {
    matches: list(where, r.matches, `${path}.matches`).map((m, i) => match(where, m, `${path}.matches[${i}]`)),
    backends: list(where, r.backendRefs, `${path}.backendRefs`).map((b, i) => backend(where, b, `${path}.backendRefs[${i}]`, namespace)),
  };
  if (isObj(r.timeouts) && typeof r.timeouts.request === 'string') {
    const ms = parseDuration(r.timeouts.request);
    if (ms === null) return fail(where, `${path}.timeouts.request ${JSON.stringify(r.timeouts.request)} is not a duration like 10s or 500ms`);
    out.timeoutMs = ms;
  }
  if (isObj(r.retry)) {
    const attempts = r.retry.attempts ?? 1;
    if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 0 || attempts > 10) return fail(where, `${path}.retry.attempts must be an integer in 0–10`);
    const codes = list(where, r.retry.codes, `${path}.retry.codes`).map((c, i) => {
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 400 || c > 599) return fail(where, `${path}.retry.codes[${i}] must be a status in 400–599`);
      return c;
    });
    let backoffMs = 25;
    if (typeof r.retry.backoff === 'string') {
      const ms = parseDuration(r.retry.backoff);
      if (ms === null) return fail(where, `${path}.retry.backoff is not a duration`);
      backoffMs = ms;
    }
    out.retry = { attempts, codes: codes.length > 0 ? codes : [502, 503, 504], backoffMs };
  }
  return out;
}

/** One HTTPRoute object (already checked for kind/metadata) → its record, or null if it has no Service parent. */
export function httpRouteRecord(where: string, o: Obj, namespace: string, name: string): RouteRecord | null {
  const meta = isObj(o.metadata) ? o.metadata : {};
  const spec = isObj(o.spec) ? o.spec : fail(where, 'spec is required');
  const parents: RouteRecord['parents'] = [];
  list(where, spec.parentRefs, 'spec.parentRefs').forEach((p, i) => {
    if (!isObj(p) || typeof p.name !== 'string') return fail(where, `spec.parentRefs[${i}] needs a name`);
    // Gateway parents are the ingress's business; the mesh only acts on Service parents.
    // (The spec's default group is the Gateway API's; `kind: Service` alone is read as core.)
    const group = p.group ?? '';
    if (p.kind !== 'Service' || (group !== '' && group !== 'core')) return;
    const ns = typeof p.namespace === 'string' && p.namespace !== '' ? p.namespace : namespace;
    const pp = port(where, p.port, `spec.parentRefs[${i}].port`);
    parents.push(pp === undefined ? { service: `${ns}/${p.name}` } : { service: `${ns}/${p.name}`, port: pp });
  });
  if (parents.length === 0) return null;
  const rules = list(where, spec.rules, 'spec.rules').map((r, i) => rule(where, r, `spec.rules[${i}]`, namespace));
  const created = typeof meta.creationTimestamp === 'string' ? meta.creationTimestamp : '';
  return { kind: 'route', key: `${namespace}/${name}`, name, namespace, createdAt: created, parents, rules };
}

/** `weft.dev/*` annotations of a Service → its L7 defaults, or undefined when it has none. */
export function serviceDefaults(where: string, annotations: Record<string, string>): ServiceDefaults | undefined {
  const out: ServiceDefaults = {};
  const timeout = annotations[ANNOTATION_TIMEOUT];
  if (timeout !== undefined) {
    const ms = parseDuration(timeout);
    if (ms === null) return fail(where, `annotation ${ANNOTATION_TIMEOUT} ${JSON.stringify(timeout)} is not a duration like 5s`);
    out.timeoutMs = ms;
  }
  const retry = annotations[ANNOTATION_RETRY_LIMIT];
  if (retry !== undefined) {
    if (!/^\d{1,2}$/.test(retry) || Number(retry) > 10) return fail(where, `annotation ${ANNOTATION_RETRY_LIMIT} must be an integer in 0–10`);
    out.retryLimit = Number(retry);
  }
  const opaque = annotations[ANNOTATION_OPAQUE_PORTS];
  if (opaque !== undefined) {
    const ports = opaque.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (!ports.every((p) => /^\d{1,5}$/.test(p) && Number(p) >= 1 && Number(p) <= 65535)) return fail(where, `annotation ${ANNOTATION_OPAQUE_PORTS} must be a comma-separated list of ports`);
    out.opaquePorts = ports.map(Number);
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
