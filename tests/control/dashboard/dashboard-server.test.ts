// The dashboard server in-process on 127.0.0.1:0: read-only, token checks (bearer or ?token=),
// refusal to bind beyond loopback without a token (at config time and at start), security
// headers, and the tap fanned out to agents and back, dropping for a viewer that left.
import t from 'tap';
import http from 'node:http';
import WebSocket from 'ws';
import { createLogger } from '../../../common/log.ts';
import { loadControlConfig } from '../../../control/config.ts';
import { startDashboard } from '../../../control/dashboard/dashboard-server.ts';
import type { TapStartMessage, TapStopMessage } from '../../../control/api/summary.ts';
import { MetricsStore } from '../../../control/metrics/metrics-store.ts';
import { ModelStore } from '../../../control/model/model-store.ts';

const log = createLogger('test');
log.info = log.debug; // keep the test output to tap's

class FakeAgent {
  readonly sent: Array<TapStartMessage | TapStopMessage> = [];
  readonly node: string;
  constructor(node: string) {
    this.node = node;
  }
  sendTap(m: TapStartMessage | TapStopMessage): void {
    this.sent.push(m);
  }
  info(): unknown {
    return { node: this.node };
  }
}

async function start(t: { teardown(fn: () => unknown): void }, token = '', agents: FakeAgent[] = [], rejected: string[] = []) {
  const d = await startDashboard({ address: '127.0.0.1:0', token, store: new ModelStore(), metrics: new MetricsStore(), agents: () => agents, log, onRejected: (r) => rejected.push(r) });
  t.teardown(() => d.close());
  return d;
}

t.test('non-loopback binds need a token: config error and start refusal', async (t) => {
  const env = (e: Record<string, string>) => (k: string) => ({ WEFT_SOURCE_PATH: '/x', WEFT_BOOTSTRAP_TOKENS_FILE: '/t', ...e })[k];
  t.throws(() => loadControlConfig(env({ WEFT_DASHBOARD_ADDRESS: '0.0.0.0:8084' })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_ERR_DASHBOARD_TOKEN_REQUIRED: .*set WEFT_DASHBOARD_TOKEN/ });
  t.equal(loadControlConfig(env({ WEFT_DASHBOARD_ADDRESS: '0.0.0.0:8084', WEFT_DASHBOARD_TOKEN: 's3cret' })).dashboardAddress, '0.0.0.0:8084');
  t.equal(loadControlConfig(env({})).dashboardAddress, '127.0.0.1:8084', 'loopback 8084 by default');
  t.equal(loadControlConfig(env({ WEFT_DASHBOARD_ADDRESS: '' })).dashboardAddress, '', 'empty disables');
  t.throws(() => loadControlConfig(env({ WEFT_DASHBOARD_ADDRESS: 'nope' })), { message: /WEFT_DASHBOARD_ADDRESS: expected host:port/ });
  await t.rejects(startDashboard({ address: '0.0.0.0:0', token: '', store: new ModelStore(), metrics: new MetricsStore(), agents: () => [], log }), { code: 'WEFT_ERR_DASHBOARD_TOKEN_REQUIRED' });
});

t.test('read-only, served from memory, with security headers', async (t) => {
  const d = await start(t);
  const page = await fetch(d.url);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-security-policy'), /default-src 'none'.*script-src 'self'/);
  t.match(await page.text(), /<script type="module" src="app.js">/);
  t.equal((await fetch(`${d.url}app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
  const post = await fetch(`${d.url}api/overview`, { method: 'POST' });
  t.equal(post.status, 405, 'POST is refused');
  t.match(await post.json(), { code: 'WEFT_ERR_HTTP_ROUTE', message: /read-only/ });
  const ov = await fetch(`${d.url}api/overview?window=60`);
  t.match(await ov.json(), { workloads: [], namespaces: [], agents: [] });
  t.equal((await fetch(`${d.url}api/workload?key=demo/none`)).status, 404);
});

t.test('a token guards pages, API and tap; bearer or ?token=', async (t) => {
  const d = await start(t, 'let-me-in');
  const no = await fetch(`${d.url}api/overview`);
  t.equal(no.status, 401);
  t.match(await no.json(), { code: 'WEFT_ERR_DASHBOARD_UNAUTHORIZED' });
  t.equal((await fetch(`${d.url}api/overview`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  t.equal((await fetch(`${d.url}api/overview`, { headers: { authorization: 'Bearer let-me-in' } })).status, 200);
  t.equal((await fetch(`${d.url}?token=let-me-in`)).status, 200);
  t.equal((await fetch(`${d.url}healthz`)).status, 200, 'healthz needs no token');
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}api/tap`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
  });
  t.equal(refused, 401, 'the tap needs the token too');
});

t.test('tap: filters to every agent, events back, stop when the viewer leaves', async (t) => {
  const agents = [new FakeAgent('n1'), new FakeAgent('n2')];
  const rejected: string[] = [];
  const d = await start(t, '', agents, rejected);
  const bad = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${d.url.replace('http', 'ws')}api/tap?colour=red`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
  });
  t.equal(bad, 400, 'unknown filters are refused');
  t.same(rejected, ['dashboard_tap_filter'], 'and counted, as every other refusal is');
  const ws = new WebSocket(`${d.url.replace('http', 'ws')}api/tap?workload=server&status_class=5xx`);
  const got: Array<Record<string, unknown>> = [];
  await new Promise<void>((resolve) => ws.on('message', (m) => {
    got.push(JSON.parse(String(m)) as Record<string, unknown>);
    resolve();
  }));
  t.match(got[0], { type: 'tap-started', filter: { workload: 'server', statusClass: '5xx' }, agents: ['n1', 'n2'] });
  const start0 = agents[0].sent[0] as TapStartMessage;
  t.match(agents.map((a) => a.sent[0]), [{ type: 'tap-start', filter: { workload: 'server' } }, { type: 'tap-start', tapId: start0.tapId }], 'one tap id, sent to both agents');
  const late = new FakeAgent('n3');
  d.tap.agentStreaming(late);
  t.match(late.sent, [{ type: 'tap-start', tapId: start0.tapId }], 'an agent that connects later joins the open tap');
  const next = new Promise<Record<string, unknown>>((resolve) => ws.once('message', (m) => resolve(JSON.parse(String(m)) as Record<string, unknown>)));
  d.tap.deliver('n2', { type: 'tap-events', tapId: start0.tapId, events: [{ type: 'connection', at: 'x' }], dropped: 3 });
  t.match(await next, { type: 'dropped', events: 3 }, 'drops upstream are announced first');
  ws.close();
  await new Promise((r) => ws.once('close', r));
  await new Promise((r) => setTimeout(r, 50));
  t.match(agents[1].sent.at(-1), { type: 'tap-stop', tapId: start0.tapId }, 'the viewer left: agents stop tapping');
  d.tap.deliver('n2', { type: 'tap-events', tapId: start0.tapId, events: [{ type: 'connection' }], dropped: 0 });
  t.equal(d.tap.viewers, 0);
});

/** Opens the tap with a real WebSocket client sending these headers: 101, or the refusal's status, weft-error and body. */
function openTap(url: string, headers: Record<string, string>, origin?: string): Promise<{ status: number; code: string | undefined; body: string; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, ...(origin === undefined ? {} : { origin }) });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['weft-error'] as string | undefined, body }));
    });
    ws.on('open', () => resolve({ status: 101, code: undefined, body: '', ws }));
    ws.on('error', () => undefined);
  });
}

t.test('cross-site: a foreign Origin or Host is refused on the tap and the API; the dashboard\'s own origin and plain clients are not', async (t) => {
  const rejected: string[] = [];
  const d = await startDashboard({ address: '127.0.0.1:0', token: '', store: new ModelStore(), metrics: new MetricsStore(), agents: () => [], log, onRejected: (r) => rejected.push(r) });
  t.teardown(() => d.close());
  const port = d.port;
  const tapUrl = `ws://127.0.0.1:${port}/api/tap`;
  // Refused: another site's page, another port on localhost (a different origin), an opaque origin,
  // and DNS rebinding (the attacker's name resolving to 127.0.0.1: same origin to the browser).
  const refusals: Array<[string, Record<string, string>, string | undefined, string]> = [
    ['a page on another site', {}, 'https://evil.example', 'WEFT_ERR_DASHBOARD_CROSS_SITE'],
    ['a page on another localhost port', {}, 'http://localhost:9999', 'WEFT_ERR_DASHBOARD_CROSS_SITE'],
    ['a page on 127.0.0.1 at another port', {}, `http://127.0.0.1:${port + 1}`, 'WEFT_ERR_DASHBOARD_CROSS_SITE'],
    ['an opaque origin (sandboxed frame, file:)', {}, 'null', 'WEFT_ERR_DASHBOARD_CROSS_SITE'],
    ['DNS rebinding: Host and Origin both the attacker\'s name', { host: `rebind.evil.example:${port}` }, `http://rebind.evil.example:${port}`, 'WEFT_ERR_DASHBOARD_HOST'],
    ['an unknown Host without Origin', { host: `intranet.example:${port}` }, undefined, 'WEFT_ERR_DASHBOARD_HOST'],
  ];
  for (const [why, headers, origin, code] of refusals) {
    const r = await openTap(tapUrl, headers, origin);
    t.equal(r.status, 403, `tap: ${why}: 403`);
    t.equal(r.code, code, `tap: ${why}: weft-error ${code}`);
    t.match(JSON.parse(r.body), { code }, 'and the code in the body');
  }
  t.equal(d.tap.viewers, 0, 'no refused client became a tap viewer');
  // Accepted: the dashboard's own origin under each loopback name, and a client with no Origin.
  const accepted: Array<[string, string, Record<string, string>, string | undefined]> = [
    ['the page at http://127.0.0.1:PORT', tapUrl, {}, `http://127.0.0.1:${port}`],
    ['the page at http://localhost:PORT (port-forward)', tapUrl, { host: `localhost:${port}` }, `http://localhost:${port}`],
    ['a non-browser client (no Origin)', tapUrl, {}, undefined],
  ];
  for (const [why, url, headers, origin] of accepted) {
    const r = await openTap(url, headers, origin);
    t.equal(r.status, 101, `tap: ${why}: opened`);
    r.ws?.close();
  }
  // The API: a cross-site fetch, or one from a rebinding name, is refused; the page's own is not.
  const api = (headers: Record<string, string>): Promise<Response> => fetch(`http://127.0.0.1:${port}/api/overview`, { headers });
  const cross = await api({ origin: 'https://evil.example' });
  t.equal(cross.status, 403, 'API: foreign Origin 403');
  t.equal(cross.headers.get('weft-error'), 'WEFT_ERR_DASHBOARD_CROSS_SITE');
  t.equal((await api({ 'sec-fetch-site': 'cross-site' })).status, 403, 'API: Sec-Fetch-Site cross-site without Origin 403');
  t.equal((await api({ 'sec-fetch-site': 'same-site' })).status, 403, 'API: same-site (another localhost port) 403');
  t.equal((await api({ 'sec-fetch-site': 'same-origin' })).status, 200, 'API: same-origin 200');
  t.equal((await api({ origin: `http://127.0.0.1:${port}` })).status, 200, 'API: the page\'s own Origin 200');
  t.equal((await api({})).status, 200, 'API: a plain client 200');
  // The page itself may be opened from a link anywhere, but only under a name it answers to.
  t.equal((await fetch(`http://127.0.0.1:${port}/`, { headers: { 'sec-fetch-site': 'cross-site' } })).status, 200, 'page: a link from another site opens it');
  const rebindPage = await new Promise<number>((resolve) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host: `rebind.evil.example:${port}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
  });
  t.equal(rebindPage, 403, 'page: not under a rebinding name');
  t.equal(rejected.filter((r) => r === 'dashboard_cross_site').length, 7, 'counted: dashboard_cross_site');
  t.equal(rejected.filter((r) => r === 'dashboard_host').length, 3, 'counted: dashboard_host');
});

t.test('WEFT_DASHBOARD_ALLOWED_HOSTS adds names; the bind address answers too', async (t) => {
  const d = await startDashboard({ address: '127.0.0.2:0', token: '', store: new ModelStore(), metrics: new MetricsStore(), agents: () => [], log, allowedHosts: ['dash.example.internal'] });
  t.teardown(() => d.close());
  const get = (host: string, origin?: string): Promise<number> => new Promise((resolve) => {
    http.get({ host: '127.0.0.2', port: d.port, path: '/api/overview', headers: { host, ...(origin === undefined ? {} : { origin }) } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
  });
  t.equal(await get(`dash.example.internal:${d.port}`, `https://dash.example.internal:${d.port}`), 200, 'a listed name, from its own (TLS-terminated) origin');
  t.equal(await get(`DASH.example.internal:${d.port}`), 200, 'names are case-insensitive');
  t.equal(await get(`127.0.0.2:${d.port}`), 200, 'the bind address');
  t.equal(await get(`other.example.internal:${d.port}`), 403, 'an unlisted name');
  const env = (e: Record<string, string>) => (k: string) => ({ WEFT_SOURCE_PATH: '/x', WEFT_BOOTSTRAP_TOKENS_FILE: '/t', ...e })[k];
  t.equal(loadControlConfig(env({ WEFT_DASHBOARD_ALLOWED_HOSTS: 'a.example, b.example:8084' })).dashboardAllowedHosts, 'a.example, b.example:8084');
  t.throws(() => loadControlConfig(env({ WEFT_DASHBOARD_ALLOWED_HOSTS: 'http://a.example/' })), { code: 'WEFT_ERR_CONFIG_INVALID', message: /WEFT_DASHBOARD_ALLOWED_HOSTS: "http:\/\/a.example\/" is not a host name/ });
});
