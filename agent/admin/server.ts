// The agent's admin server: read-only HTTP on loopback and a unix socket for the `weft` CLI. Never
// beyond loopback (agent/config.ts refuses it): pods reach node addresses uncaptured, and /tap and
// /config_dump show every request and the whole config. Prometheus scrapes the metrics port
// (metrics-server.ts), which serves /metrics and nothing else.
// Subsystems register handlers by key (grpc-js style) and each adds its part of /config_dump,
// so the admin server knows nothing of the subsystems.
import http from 'node:http';
import { chmod, unlink } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { answerClientError, headerTimeoutOptions } from '../../common/http-client-error.ts';
import { checkSite, type SiteVerdict } from '../../common/site-check.ts';

export interface AdminHandler {
  /** Section name in /config_dump, and the path /config_dump/<key>. */
  readonly key: string;
  handle(): unknown;
}

export interface Readiness {
  ready: boolean;
  /** Why not ready, for operators. Empty when ready. */
  reasons: string[];
}

/** A whole endpoint (non-JSON bodies, query strings): /metrics, /stats, /edges. */
export type AdminRoute = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;
/** A WebSocket (or other upgrade) endpoint: /tap. */
export type AdminUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

export interface AdminServer {
  register(handler: AdminHandler): void;
  route(path: string, handler: AdminRoute): void;
  upgrade(path: string, handler: AdminUpgrade): void;
  listenTcp(host: string, port: number): Promise<number>;
  listenUnix(path: string): Promise<void>;
  /** A registered route (the metrics port serves the admin's /metrics through it). */
  routeFor(path: string): AdminRoute | undefined;
  /** Bad requests refused so far, by reason (weft_rejected_input_total on /metrics). */
  rejections(): ReadonlyMap<string, number>;
  /** Counts a refusal made elsewhere on the admin's behalf (the metrics port). */
  countRejected(reason: string): void;
  close(): Promise<void>;
}

export interface AdminServerOptions {
  /** How long a client may take over a request's line and headers (slowloris bound). */
  headersTimeoutMs?: number;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function createAdminServer(readiness: () => Readiness, log: Logger, opts: AdminServerOptions = {}): AdminServer {
  const rejected = new Map<string, number>();
  const reject = (reason: string): void => void rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
  const headersTimeout = opts.headersTimeoutMs ?? 30_000;
  const handlers = new Map<string, AdminHandler>();
  const routes = new Map<string, AdminRoute>();
  const upgrades = new Map<string, AdminUpgrade>();
  const servers: http.Server[] = [];
  const sockets: string[] = [];

  async function dump(keys: string[]): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const h = handlers.get(k);
      if (h !== undefined) out[k] = await h.handle();
    }
    return out;
  }

  // Over TCP (loopback) a browser on the machine could be the client: any page it has open may
  // open ws://127.0.0.1:15020/tap, and a DNS-rebinding name may read the rest. Only requests from
  // no page at all (the CLI, the kubelet, curl) or under a loopback name pass; the unix socket
  // cannot be dialled by a browser and skips the check.
  const NO_EXTRA_HOSTS: ReadonlySet<string> = new Set();
  const siteRefusal = (req: http.IncomingMessage): Exclude<SiteVerdict, { ok: true }> | null => {
    const v = checkSite(req.headers, NO_EXTRA_HOSTS);
    if (v.ok) return null;
    reject(v.reason === 'host' ? 'admin_host' : 'admin_cross_site');
    return v;
  };

  const onTcpRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const refused = siteRefusal(req);
    if (refused !== null) {
      res.setHeader('weft-error', ErrorCodes.ADMIN_CROSS_SITE);
      send(res, 403, { code: ErrorCodes.ADMIN_CROSS_SITE, message: refused.message });
      return;
    }
    onRequest(req, res);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // Read-only: nothing here lets a caller change the mesh.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reject('admin_method');
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { code: ErrorCodes.ADMIN_METHOD, message: 'the admin API is read-only' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (path === '/healthz') {
      send(res, 200, 'ok\n');
    } else if (path === '/ready') {
      const r = readiness();
      send(res, r.ready ? 200 : 503, r);
    } else if (path === '/config_dump' || path.startsWith('/config_dump/')) {
      const key = path.slice('/config_dump/'.length);
      const keys = key === '' ? [...handlers.keys()] : [key];
      if (key !== '' && !handlers.has(key)) {
        send(res, 404, { code: ErrorCodes.ADMIN_NOT_FOUND, message: `no config_dump section "${key}"; sections: ${[...handlers.keys()].join(', ')}` });
        return;
      }
      dump(keys).then(
        (body) => send(res, 200, body),
        (err: unknown) => {
          log.error('config_dump failed', { err });
          send(res, 500, { code: ErrorCodes.ADMIN_INTERNAL, message: (err as Error).message });
        },
      );
    } else if (routes.has(path)) {
      routes.get(path)?.(req, res, url);
    } else {
      send(res, 404, { code: ErrorCodes.ADMIN_NOT_FOUND, message: `no admin endpoint ${path}; try /healthz, /ready, /config_dump, ${[...routes.keys()].join(', ')}` });
    }
  };

  function start(listen: (s: http.Server, cb: () => void) => void, tcp: boolean): Promise<http.Server> {
    const s = http.createServer({ requestTimeout: headersTimeout * 2, ...headerTimeoutOptions(headersTimeout) }, tcp ? onTcpRequest : onRequest);
    s.on('clientError', (err: Error, socket: Duplex) => {
      const kind = answerClientError(err, socket);
      if (kind !== null) reject(`admin_${kind}`);
    });
    s.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const refused = tcp ? siteRefusal(req) : null;
      if (refused !== null) {
        const body = JSON.stringify({ code: ErrorCodes.ADMIN_CROSS_SITE, message: refused.message });
        socket.end(`HTTP/1.1 403 Forbidden\r\nweft-error: ${ErrorCodes.ADMIN_CROSS_SITE}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
        return;
      }
      const url = new URL(req.url ?? '/', 'http://admin');
      const h = upgrades.get(url.pathname);
      if (h === undefined) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      h(req, socket, head, url);
    });
    servers.push(s);
    return new Promise((resolve, reject) => {
      s.once('error', reject);
      listen(s, () => {
        s.off('error', reject);
        resolve(s);
      });
    });
  }

  return {
    register(h) {
      handlers.set(h.key, h);
    },
    route(path, h) {
      routes.set(path, h);
    },
    upgrade(path, h) {
      upgrades.set(path, h);
    },
    async listenTcp(host, port) {
      const s = await start((srv, cb) => srv.listen(port, host, cb), true);
      const addr = s.address();
      return typeof addr === 'object' && addr !== null ? addr.port : port;
    },
    async listenUnix(path) {
      // A stale socket from a crashed agent would make listen fail with EADDRINUSE.
      await unlink(path).catch(() => undefined);
      await start((srv, cb) => srv.listen(path, cb), false);
      await chmod(path, 0o660);
      sockets.push(path);
    },
    routeFor: (path) => routes.get(path),
    rejections: () => rejected,
    countRejected: reject,
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
      await Promise.all(sockets.map((p) => unlink(p).catch(() => undefined)));
    },
  };
}
