// Opens N HTTP/1.1 keep-alive connections, makes one request on each (so every hop along the path
// — the agents' L7 state, the HBONE streams, HAProxy's sessions — has really set the connection
// up), then holds them all idle. What the proxies' memory grows by while they are held is their
// cost per open connection. Opening is paced (`parallel` at a time) so the ramp measures nothing
// but the end state.
import net from 'node:net';
import { errorCode } from '../../common/errors.ts';
import { ResponseParser } from './http1-response-parser.ts';
import { codedError } from './transport.ts';

export interface HoldOptions {
  url: URL;
  connections: number;
  /** Connections being opened at once. */
  parallel: number;
  /** Per connection: connect, request and response within this long, or it counts as failed. */
  timeoutMs: number;
}

export interface HoldState {
  /** Connections that completed their request and are open now. */
  open: number;
  /** Connections that could not be set up, by error code. */
  failed: Record<string, number>;
  /** Connections that were held and then closed by the other side before we let go. */
  closedEarly: number;
}

export interface Holder {
  /** Resolves once every connection is either held or failed, with the time that took. */
  established: Promise<HoldState & { openMs: number }>;
  state(): HoldState;
  /** Closes everything still open. */
  close(): void;
}

function openOne(o: HoldOptions, request: Buffer, sockets: Set<net.Socket>, onEarlyClose: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: o.url.hostname.replace(/^\[|\]$/g, ''), port: Number(o.url.port || 80), noDelay: true });
    const parser = new ResponseParser();
    let held = false;
    const timer = setTimeout(() => s.destroy(codedError('ETIMEDOUT', `not set up within ${o.timeoutMs} ms`)), o.timeoutMs);
    s.on('connect', () => s.write(request));
    s.on('data', (chunk: Buffer) => {
      if (held) return;
      let r;
      try {
        r = parser.feed(chunk);
      } catch (err) {
        s.destroy(codedError('EPROTO', (err as Error).message));
        return;
      }
      if (r === undefined) return;
      clearTimeout(timer);
      if (r.status >= 400 || r.close) {
        s.destroy(codedError(r.close ? 'ECONNCLOSE' : `HTTP_${r.status}`, `the set-up request was answered ${r.status}${r.close ? ' with close' : ''}`));
        return;
      }
      held = true;
      sockets.add(s);
      resolve();
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('close', () => {
      clearTimeout(timer);
      if (held && sockets.delete(s)) onEarlyClose();
      reject(codedError('ECONNRESET', 'closed before the set-up response'));
    });
  });
}

export function holdConnections(o: HoldOptions): Holder {
  const host = o.url.port === '' ? o.url.hostname : `${o.url.hostname}:${o.url.port}`;
  const request = Buffer.from(`GET ${o.url.pathname}${o.url.search} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: weft-hold\r\n\r\n`, 'latin1');
  const sockets = new Set<net.Socket>();
  const failed: Record<string, number> = {};
  let closedEarly = 0;
  let closing = false;
  let started = 0;
  const t0 = performance.now();
  const state = (): HoldState => ({ open: sockets.size, failed: { ...failed }, closedEarly });
  const lane = async (): Promise<void> => {
    while (!closing && started < o.connections) {
      started++;
      try {
        await openOne(o, request, sockets, () => { if (!closing) closedEarly++; });
      } catch (err) {
        const code = errorCode(err);
        failed[code] = (failed[code] ?? 0) + 1;
      }
    }
  };
  const established = Promise.all(Array.from({ length: Math.max(1, Math.min(o.parallel, o.connections)) }, lane))
    .then(() => ({ ...state(), openMs: Math.round(performance.now() - t0) }));
  return {
    established,
    state,
    close() {
      closing = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}
