// The metrics port: Prometheus text on GET /metrics and nothing else, for a scraper off the node
// (WEFT_METRICS_ADDRESS; the chart binds the node IP when its ServiceMonitor is on). Pods reach
// node addresses without capture, so this listener must show nothing but counts: the tap, the
// config dump, readiness detail and the golden-metrics views stay on the loopback admin server.
// Read-only like admin: other methods 405, other paths 404, no upgrades; bad and slow requests
// are answered, closed and counted (weft_rejected_input_total{reason="metrics_*"}).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import { answerClientError, headerTimeoutOptions } from '../../common/http-client-error.ts';
import type { AdminRoute } from './server.ts';

export const METRICS_PATH = '/metrics';

export interface MetricsServerOptions {
  /** Renders /metrics (the admin server's own route, so both answer the same). */
  metrics: AdminRoute;
  /** Counts a refusal by reason. */
  reject(reason: string): void;
  headersTimeoutMs?: number;
}

export interface MetricsServer {
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

function refuse(res: http.ServerResponse, status: number, code: string, message: string): void {
  const text = JSON.stringify({ code, message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'weft-error': code });
  res.end(text);
}

export function createMetricsServer(o: MetricsServerOptions): MetricsServer {
  const timeout = o.headersTimeoutMs ?? 30_000;
  const server = http.createServer({ requestTimeout: timeout * 2, ...headerTimeoutOptions(timeout) }, (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      o.reject('metrics_method');
      res.setHeader('allow', 'GET, HEAD');
      refuse(res, 405, ErrorCodes.ADMIN_METHOD, 'the metrics port is read-only');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://metrics');
    if (url.pathname !== METRICS_PATH) {
      refuse(res, 404, ErrorCodes.ADMIN_NOT_FOUND, `this port serves only ${METRICS_PATH}; the admin API is on the node's loopback and the agent's unix socket`);
      return;
    }
    o.metrics(req, res, url);
  });
  server.on('clientError', (err: Error, socket: Duplex) => {
    const kind = answerClientError(err, socket);
    if (kind !== null) o.reject(`metrics_${kind}`);
  });
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) => {
    o.reject('metrics_upgrade');
    socket.end(`HTTP/1.1 404 Not Found\r\nweft-error: ${ErrorCodes.ADMIN_NOT_FOUND}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address();
          resolve(typeof a === 'object' && a !== null ? a.port : port);
        });
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
