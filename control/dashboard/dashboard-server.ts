// The dashboard's HTTP and WebSocket server: the page and its bundle from memory, a read-only
// JSON API over control's model and the metrics store, and the live tap. GET only; anything else
// is 405. Beyond loopback a token is required (bearer header or ?token=), and the server refuses
// to start without one rather than publish the mesh's traffic map to whoever can reach the port.
import http from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { answerClientError, headerTimeoutOptions } from '../../common/http-client-error.ts';
import type { ModelStore } from '../model/model-store.ts';
import type { MetricsStore } from '../metrics/metrics-store.ts';
import { overview, policiesView, series, topology, workloadDetail, type ViewContext } from '../metrics/views.ts';
import { indexHtml, loadAssets } from './assets.ts';
import { checkDashboardBind, splitAddress } from './bind-check.ts';
import { allowedHostNames, checkHost, checkSite, type SiteVerdict } from '../../common/site-check.ts';
import { TapFanout, TapFilterQueryError, tapFilterFromQuery, type TapAgent } from './tap-fanout.ts';

export interface DashboardOptions {
  /** host:port; port 0 picks one (tests). */
  address: string;
  token: string;
  store: ModelStore;
  metrics: MetricsStore;
  /** Connected agents, for the tap and the agents list. */
  agents(): Array<TapAgent & { info(): unknown }>;
  log: Logger;
  /** How long a client may take over a request's line and headers (slowloris bound). */
  headersTimeoutMs?: number;
  /** Host names (or host:port) the dashboard answers to besides loopback and its bind address (WEFT_DASHBOARD_ALLOWED_HOSTS). */
  allowedHosts?: readonly string[];
  /** Refused requests (wrong method, missing token, cross-site, malformed or slow HTTP), by reason. */
  onRejected?: (reason: string) => void;
}

export interface Dashboard {
  readonly port: number;
  readonly url: string;
  readonly tap: TapFanout;
  /** Open live-view (WebSocket) connections: control's telemetry. */
  connections(): number;
  close(): Promise<void>;
}

const WINDOW_MIN_S = 10;
const WINDOW_MAX_S = 15 * 60;

function windowMs(url: URL, def = 60): number {
  const v = Number(url.searchParams.get('window') ?? def);
  const s = Number.isFinite(v) ? Math.min(WINDOW_MAX_S, Math.max(WINDOW_MIN_S, v)) : def;
  return s * 1000;
}

const SECURITY_HEADERS = {
  // Same origin only (ws: to the same host is 'self' in CSP 3); no inline script; no framing.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token may ride in the URL: never hand it to another site.
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
function json(res: http.ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function siteCode(v: Exclude<SiteVerdict, { ok: true }>): string {
  return v.reason === 'host' ? ErrorCodes.DASHBOARD_HOST : ErrorCodes.DASHBOARD_CROSS_SITE;
}
function siteReason(v: Exclude<SiteVerdict, { ok: true }>): string {
  return v.reason === 'host' ? 'dashboard_host' : 'dashboard_cross_site';
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  checkDashboardBind(o.address, o.token);
  const log = o.log.child('dashboard');
  const assets = loadAssets();
  if (!assets.built) log.warn('dashboard bundle not found; the page says how to build it', { code: ErrorCodes.DASHBOARD_ASSETS });
  const html = indexHtml();
  const tokenHash = o.token === '' ? null : createHash('sha256').update(o.token).digest();
  const authorized = (req: http.IncomingMessage, url: URL): boolean => {
    if (tokenHash === null) return true;
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token') ?? '';
    // Compare digests: equal length, constant time, whatever was sent.
    return timingSafeEqual(createHash('sha256').update(given).digest(), tokenHash);
  };
  const { host, port } = splitAddress(o.address);
  const hosts = allowedHostNames(host, o.allowedHosts ?? []);
  const tap = new TapFanout({ agents: () => o.agents(), log });
  const ctx = (): ViewContext => ({ records: o.store.snapshot().records, metrics: o.metrics });

  const api: Record<string, (url: URL) => [number, unknown]> = {
    '/api/overview': (url) => [200, { ...overview(ctx(), windowMs(url)), agents: o.agents().map((a) => a.info()).filter((x) => x !== null), summaries: o.metrics.latest().map((l) => ({ node: l.node, receivedAt: new Date(l.receivedAt).toISOString() })) }],
    '/api/workload': (url) => {
      const key = url.searchParams.get('key') ?? '';
      const d = workloadDetail(ctx(), key, windowMs(url));
      return d === null ? [404, { code: ErrorCodes.HTTP_ROUTE, message: `no workload ${JSON.stringify(key)} in the model or the traffic` }] : [200, d];
    },
    '/api/topology': (url) => [200, topology(ctx(), windowMs(url))],
    '/api/series': (url) => {
      const w = url.searchParams.get('workload');
      const dir = url.searchParams.get('direction') === 'outbound' ? 'outbound' : 'inbound';
      return [200, series(ctx(), windowMs(url, WINDOW_MAX_S), w === '' ? null : w, dir)];
    },
    '/api/policies': (url) => [200, policiesView(ctx(), windowMs(url, WINDOW_MAX_S))],
  };

  const rejected = o.onRejected ?? ((): void => undefined);
  const timeout = o.headersTimeoutMs ?? 30_000;
  const server = http.createServer({ requestTimeout: timeout * 2, ...headerTimeoutOptions(timeout) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      rejected('dashboard_method');
      res.setHeader('allow', 'GET, HEAD');
      json(res, 405, { code: ErrorCodes.HTTP_ROUTE, message: 'the dashboard is read-only: GET only' });
      return;
    }
    if (url.pathname === '/healthz') {
      json(res, 200, { status: 'ok' });
      return;
    }
    // The page and its bundle hold no state: a link from anywhere may open them, but only under a
    // name the dashboard answers to. What reads state (the API) must come from the page itself.
    const site = url.pathname.startsWith('/api/') ? checkSite(req.headers, hosts) : checkHost(req.headers.host, hosts);
    if (!site.ok) {
      rejected(siteReason(site));
      res.setHeader('weft-error', siteCode(site));
      json(res, 403, { code: siteCode(site), message: site.message });
      return;
    }
    if (!authorized(req, url)) {
      rejected('dashboard_unauthorized');
      res.setHeader('www-authenticate', 'Bearer realm="weft-dashboard"');
      json(res, 401, { code: ErrorCodes.DASHBOARD_UNAUTHORIZED, message: 'this dashboard needs its token: open it with ?token=<WEFT_DASHBOARD_TOKEN> or send Authorization: Bearer <token>' });
      return;
    }
    try {
      switch (url.pathname) {
        case '/':
        case '/index.html':
          send(res, 200, 'text/html; charset=utf-8', html);
          return;
        case '/app.js':
          send(res, 200, 'text/javascript; charset=utf-8', assets.js);
          return;
        case '/style.css':
          send(res, 200, 'text/css; charset=utf-8', assets.css);
          return;
      }
      const handler = api[url.pathname];
      if (handler === undefined) {
        json(res, 404, { code: ErrorCodes.HTTP_ROUTE, message: `no route GET ${url.pathname}` });
        return;
      }
      const [status, body] = handler(url);
      json(res, status, body);
    } catch (err) {
      log.error('dashboard request failed', { path: url.pathname, err });
      json(res, 500, { code: ErrorCodes.DASHBOARD_INTERNAL, message: 'the dashboard could not answer; see control\'s log' });
    }
  });

  server.on('clientError', (err: Error, socket: Duplex) => {
    const kind = answerClientError(err, socket);
    if (kind !== null) rejected(`dashboard_${kind}`);
  });

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 4096 });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const refuse = (status: string, code: string, message: string): void => {
      const body = JSON.stringify({ code, message });
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\nweft-error: ${code}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    // Browsers let any page open a WebSocket anywhere, naming itself in Origin: check it first.
    const site = checkSite(req.headers, hosts);
    if (!site.ok) {
      rejected(siteReason(site));
      return refuse('403 Forbidden', siteCode(site), site.message);
    }
    if (url.pathname !== '/api/tap') return refuse('404 Not Found', ErrorCodes.HTTP_ROUTE, `no WebSocket at ${url.pathname}`);
    if (!authorized(req, url)) {
      rejected('dashboard_unauthorized');
      return refuse('401 Unauthorized', ErrorCodes.DASHBOARD_UNAUTHORIZED, 'this dashboard needs its token');
    }
    let filter;
    try {
      filter = tapFilterFromQuery(url.searchParams);
    } catch (err) {
      rejected('dashboard_tap_filter');
      return refuse('400 Bad Request', ErrorCodes.TAP_FILTER, err instanceof TapFilterQueryError ? err.message : 'bad tap request');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The viewer only listens; anything it sends is ignored.
      ws.on('message', () => undefined);
      tap.add(ws, filter);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/`;
  log.info('dashboard listening', { url, token: o.token !== '' });

  return {
    port: bound,
    url,
    tap,
    connections: () => wss.clients.size,
    async close() {
      tap.close();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
