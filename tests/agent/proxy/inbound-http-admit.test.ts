// The decisions on a peer agent's L7 request (inbound-http-admit.ts), shared by both HTTP/2
// engines' movers, as a table: what each head becomes — a refusal with its status, weft-error code
// and counted reason, or the request forwarded to the pod. Fakes: the routing view (a table), the
// policy (denies one path) and the telemetry sink (records reasons); LocalUpstream is not reached.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http2';
import { InboundHttpCore, type PeerHead } from '../../../agent/proxy/inbound-http-admit.ts';
import type { LocalUpstream } from '../../../agent/http/local-upstream.ts';
import { ProxyStats } from '../../../agent/proxy/stats.ts';
import type { InboundAuthorizer } from '../../../agent/policy/authorizer.ts';
import { noTelemetry, type Telemetry } from '../../../agent/telemetry/telemetry.ts';
import type { WorkloadRecord } from '../../../control/api/model.ts';
import { createLogger } from '../../../common/log.ts';
import { listGet } from '../../../agent/http/header-list.ts';

const PEER = 'spiffe://cluster.local/ns/shop/sa/frontend';
const CART = 'spiffe://cluster.local/ns/shop/sa/cart';
const wl = (ip: string, identity: string, node = 'n1', meshed = true): WorkloadRecord => ({
  kind: 'workload', key: `shop/${ip}`, uid: ip, name: ip, namespace: 'shop', node, ip, serviceAccount: 'x', identity, labels: {}, meshed, ready: true,
});
const workloads = new Map([['10.0.0.1', wl('10.0.0.1', CART)], ['10.0.0.2', wl('10.0.0.2', CART, 'n2')], ['10.0.0.3', wl('10.0.0.3', CART, 'n1', false)], ['10.0.0.4', wl('10.0.0.4', 'spiffe://cluster.local/ns/shop/sa/other')]]);
const policy: InboundAuthorizer = {
  admit: () => { throw new Error('unused'); },
  authorizeRequest: (ctx, req) => ({ allowed: !(req.path === '/admin' && ctx.sourceIdentity === PEER && ctx.port === 8080), policy: 'shop/no-admin', reason: '', audits: [] }),
};
const reasons: string[] = [];
const telemetry: Telemetry = { ...noTelemetry, inputRejected: (r) => { reasons.push(r); } };
const stats = new ProxyStats();
const core = new InboundHttpCore({
  view: { workloadByIp: (ip) => workloads.get(ip), serviceByAddress: () => undefined, endpoints: () => [], nodeAddress: () => undefined },
  localNode: 'n1', local: {} as LocalUpstream, stats, log: createLogger('test', { write() {} }), policy, telemetry,
});

// Both forms a head comes in: node:http2's object, and the codec's header list (pairs in order).
type Form = 'object' | 'list';
const FORMS: Form[] = ['object', 'list'];

function head(over: IncomingHttpHeaders, bodyless = false, form: Form = 'object'): PeerHead {
  const headers: IncomingHttpHeaders = { ':method': 'GET', ':scheme': 'http', ':authority': 'cart:8080', ':path': '/x', 'weft-target': '10.0.0.1:8080', ...over };
  for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
  const list: string[] = [];
  for (const [k, v] of Object.entries(headers)) list.push(k, String(v));
  return { headers: form === 'list' ? list : headers, peerIdentity: PEER, localIdentity: CART, remoteAddress: '192.0.2.7', bodyless };
}

const refusals: [string, IncomingHttpHeaders, number, string, string | null, boolean][] = [
  // what, head, status, weft-error, counted reason (inputRejected), stats.rejected counted
  ['no weft-target', { 'weft-target': undefined }, 400, 'WEFT_ERR_HTTP_TARGET', 'hbone_http_target', false],
  ['a weft-target without a port', { 'weft-target': '10.0.0.1' }, 400, 'WEFT_ERR_HTTP_TARGET', 'hbone_http_target', false],
  ['an absolute-form path', { ':path': 'http://evil/x' }, 400, 'WEFT_ERR_HTTP_TARGET', 'hbone_http_target', false],
  ['a dot segment with parameters', { ':path': '/a/..;x/b' }, 400, 'WEFT_ERR_HTTP_PATH', 'hbone_http_path_dot_segment_params', false],
  ['an unknown workload', { 'weft-target': '10.0.0.9:8080' }, 404, 'WEFT_ERR_TUNNEL_REFUSED', 'hbone_target_refused', true],
  ['a workload on another node', { 'weft-target': '10.0.0.2:8080' }, 421, 'WEFT_ERR_TUNNEL_REFUSED', 'hbone_target_refused', true],
  ['an unmeshed workload', { 'weft-target': '10.0.0.3:8080' }, 403, 'WEFT_ERR_TUNNEL_REFUSED', 'hbone_target_refused', true],
  ['a workload the SNI did not name', { 'weft-target': '10.0.0.4:8080' }, 421, 'WEFT_ERR_PEER_IDENTITY', 'hbone_identity_mismatch', true],
  ['denied by policy', { ':path': '/admin' }, 403, 'WEFT_ERR_POLICY_DENIED', null, true],
];

for (const form of FORMS) t.test(`refusals (${form}): status, weft-error, counted`, async (t) => {
  for (const [what, over, status, code, reason, counted] of refusals) {
    reasons.length = 0;
    const before = stats.rejected;
    const a = core.admit(head(over, false, form));
    t.equal(a.refuse?.[':status'], status, what);
    t.equal(a.refuse?.['weft-error'], code, what);
    t.same(reasons, reason === null ? [] : [reason], `${what}: reason`);
    t.equal(stats.rejected - before, counted ? 1 : 0, `${what}: stats.rejected`);
  }
  t.equal(core.admit(head({ ':path': '/admin' }, false, form)).refuse?.['weft-denied-by'], 'shop/no-admin', 'the deciding policy is named');
});

t.test('a list with weft-target twice is refused, as the object form joins the two into no target', async (t) => {
  const h = head({}, false, 'list');
  (h.headers as string[]).push('weft-target', '10.0.0.4:8080');
  t.equal(core.admit(h).refuse?.[':status'], 400);
});

t.test('a list keeps repeated end-to-end fields as repeated fields, in order', async (t) => {
  const h = head({}, false, 'list');
  (h.headers as string[]).push('x-a', '1', 'x-b', '2', 'x-a', '3');
  t.same(core.admit(h).forward?.headers, ['x-a', '1', 'x-b', '2', 'x-a', '3']);
});

for (const form of FORMS) t.test(`forwarded (${form}): the request the pod gets`, async (t) => {
  const a = core.admit(head({ ':method': 'POST', ':path': '//a/./b/../c?q=1', 'weft-proto': 'h2', 'weft-retry-attempt': '2', connection: 'x-hop', 'x-hop': '1', 'x-keep': 'yes', te: 'trailers' }, true, form));
  t.equal(a.refuse, undefined);
  t.match(a.forward, {
    method: 'POST', path: '/a/c?q=1', authority: 'cart:8080', proto: 'h2', target: { ip: '10.0.0.1', port: 8080 },
    source: PEER, sourceAddress: '192.0.2.7', bodyless: true,
  });
  const fwd = a.forward?.headers ?? [];
  t.equal(listGet(fwd, 'x-keep'), 'yes');
  t.equal(listGet(fwd, 'x-hop'), undefined, 'fields named by Connection are dropped');
  t.equal(listGet(fwd, 'te'), 'trailers');
  t.notOk(fwd.some((n, i) => i % 2 === 0 && n.startsWith(':')), 'no pseudo-headers');
  t.equal(listGet(fwd, 'weft-proto'), undefined, 'no mesh fields');
  t.equal(a.report?.retryAttempt, 2);
  t.equal(a.report?.path, '/a/c?q=1');
  const b = core.admit(head({ 'weft-proto': undefined }, false, form));
  t.equal(b.forward?.proto, 'http1', 'HTTP/1.1 unless the peer said h2');
  t.equal(b.forward?.bodyless, false);
  t.equal(core.admit(head({ ':path': '/admin', 'weft-target': '10.0.0.1:9090' }, false, form)).refuse, undefined, 'the policy sees the target port');
  t.equal(core.admit(head({ 'weft-target': '10.0.0.1:8080' }, false, form)).forward?.target.port, 8080, 'a target parsed before (kept by the core) gives the same answer');
});
