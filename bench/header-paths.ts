// The per-request header work of the L7 path, the object form against the list form, in-process
// (no sockets): what issue 19's header-list changes save per request, apart from the noise of an
// interleaved A/B on a shared machine. Three steps, each timed both ways with the agent's own
// functions on a typical head (curl/browser-like request, a small JSON response):
//   1. source agent, the app's HTTP/1 request: headerObject then the object's reads and
//      appendEndToEnd (before) / lower-cased list, list reads and appendEndToEndList (now);
//   2. destination agent, the peer's HPACK list: headersToObject then admit (before) / admit on
//      the list (now);
//   3. source agent, the response relayed to the app: headersToObject, endToEnd, the writer's
//      fields and responseHead over the object (before) / the list all the way (now).
// Prints ns per request, the median of 7 rounds; no assertions (tests assert behaviour, never speed).
//   node bench/header-paths.ts
import type { IncomingHttpHeaders } from 'node:http';
import { headerObject, fieldValue } from '../agent/http1/header-object.ts';
import { responseHead } from '../agent/http1/response-head.ts';
import { httpDate } from '../agent/http1/http-date.ts';
import { headersToObject } from '../agent/h2/header-object.ts';
import { appendEndToEnd, appendEndToEndList, endToEnd, isGrpc } from '../agent/http/headers.ts';
import { listGet } from '../agent/http/header-list.ts';
import { InboundHttpCore } from '../agent/proxy/inbound-http-admit.ts';
import type { LocalUpstream } from '../agent/http/local-upstream.ts';
import { ProxyStats } from '../agent/proxy/stats.ts';
import type { WorkloadRecord } from '../control/api/model.ts';
import { createLogger } from '../common/log.ts';

const RAW = ['Host', 'orders.shop.svc.cluster.local:8080', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0', 'Accept', 'application/json, text/plain, */*',
  'Accept-Encoding', 'gzip, deflate, br', 'Accept-Language', 'en-US,en;q=0.9', 'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'Cookie', 'session=abc123def456; theme=dark', 'Connection', 'keep-alive'];
const HOP = [':method', 'GET', ':path', '/api/v1/orders/12345', ':authority', 'orders.shop.svc.cluster.local:8080', ':scheme', 'http',
  'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0', 'accept', 'application/json, text/plain, */*', 'accept-encoding', 'gzip, deflate, br',
  'accept-language', 'en-US,en;q=0.9', 'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'cookie', 'session=abc123def456; theme=dark',
  'weft-target', '10.0.0.1:8080', 'weft-proto', 'http1'];
const RESPONSE = [':status', '200', 'content-type', 'application/json', 'content-length', '1024', 'date', 'Mon, 07 Dec 2026 16:00:00 GMT', 'x-request-id', 'f3a1c2', 'cache-control', 'no-store'];

// Fresh strings per request, as a parser or HPACK decoder makes them (not the literals above, whose hashes V8 keeps).
const fresh = (l: readonly string[]): string[] => l.map((s) => `${s} `.slice(0, s.length));
const N = 4096;
const raws = Array.from({ length: N }, () => fresh(RAW));
const hops = Array.from({ length: N }, () => fresh(HOP));
const responses = Array.from({ length: N }, () => fresh(RESPONSE));

const CART = 'spiffe://cluster.local/ns/shop/sa/orders';
const wl: WorkloadRecord = { kind: 'workload', key: 'shop/orders', uid: 'u', name: 'orders', namespace: 'shop', node: 'n1', ip: '10.0.0.1', serviceAccount: 'orders', identity: CART, labels: {}, meshed: true, ready: true };
const core = new InboundHttpCore({
  view: { workloadByIp: (ip) => (ip === '10.0.0.1' ? wl : undefined), serviceByAddress: () => undefined, endpoints: () => [], nodeAddress: () => undefined },
  localNode: 'n1', local: {} as LocalUpstream, stats: new ProxyStats(), log: createLogger('bench', { write() {} }),
});
const peer = { peerIdentity: 'spiffe://cluster.local/ns/shop/sa/web', localIdentity: CART, remoteAddress: '10.0.1.1', bodyless: true };

let sink = 0;
const steps: Record<string, { before: (i: number) => void; now: (i: number) => void }> = {
  'source: app request head': {
    before: (i) => {
      const h: IncomingHttpHeaders = headerObject(raws[i]);
      sink += (h.expect === undefined ? 1 : 0) + (h['content-length'] === undefined ? 1 : 0) + (h['transfer-encoding'] === undefined ? 1 : 0);
      sink += (isGrpc(h) ? 1 : 0) + (h.host ?? '').length + appendEndToEnd([], h, false).length;
    },
    now: (i) => {
      const raw = raws[i];
      const l: string[] = [];
      for (let j = 0; j < raw.length; j += 2) l.push(raw[j].toLowerCase(), raw[j + 1]);
      sink += (listGet(l, 'expect') === undefined ? 1 : 0) + (listGet(l, 'content-length') === undefined ? 1 : 0) + (listGet(l, 'transfer-encoding') === undefined ? 1 : 0);
      sink += (fieldValue(l, 'content-type')?.startsWith('application/grpc') === true ? 1 : 0) + (fieldValue(l, 'host') ?? '').length + appendEndToEndList([], l, false).length;
    },
  },
  'destination: peer request admit': {
    before: (i) => { sink += core.admit({ headers: headersToObject(hops[i]), ...peer }).forward?.headers.length ?? 0; },
    now: (i) => { sink += core.admit({ headers: hops[i], ...peer }).forward?.headers.length ?? 0; },
  },
  'source: response head to the app': {
    before: (i) => {
      const h = headersToObject(responses[i]);
      const o = endToEnd(h, true);
      if (o.date === undefined) o.date = httpDate();
      o.connection = 'keep-alive';
      o['keep-alive'] = 'timeout=65';
      sink += responseHead(200, o).length;
    },
    now: (i) => {
      const h = headersToObject(responses[i]);
      sink += h['content-length'] === undefined ? 0 : 1;
      const l = appendEndToEndList([], responses[i], true);
      if (listGet(l, 'date') === undefined) l.push('date', httpDate());
      l.push('connection', 'keep-alive', 'keep-alive', 'timeout=65');
      sink += responseHead(200, l).length;
    },
  },
};

function nsPer(fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < 50; r++) for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / (50 * N);
}
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

for (const [name, s] of Object.entries(steps)) {
  for (let w = 0; w < 3; w++) { nsPer(s.before); nsPer(s.now); }
  const b: number[] = [];
  const n: number[] = [];
  for (let r = 0; r < 7; r++) { b.push(nsPer(s.before)); n.push(nsPer(s.now)); }
  process.stdout.write(`${name}: before ${median(b).toFixed(0)} ns, now ${median(n).toFixed(0)} ns per request\n`);
}
if (sink === 42) process.stdout.write('\n');
