// Transport on node:net: a fixed pool of keep-alive connections, one request in flight on each,
// a prebuilt request buffer and a response reader that only finds the status and the end.
// Requests beyond the pool wait in a FIFO (their wait counts in open-loop latency, as it should).
import net from 'node:net';
import { ResponseParser } from './http1-response-parser.ts';
import { codedError, type RequestSpec, type Transport } from './transport.ts';

interface Pending {
  resolve(status: number): void;
  reject(err: Error): void;
}

class Connection {
  readonly socket: net.Socket;
  readonly #parser = new ResponseParser();
  #current: Pending | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #noBody: boolean;
  readonly #onFree: (c: Connection) => void;
  readonly #onGone: (c: Connection) => void;

  constructor(spec: RequestSpec, onFree: (c: Connection) => void, onGone: (c: Connection) => void) {
    this.#noBody = spec.method === 'HEAD';
    this.#onFree = onFree;
    this.#onGone = onGone;
    this.socket = net.connect({ host: spec.url.hostname.replace(/^\[|\]$/g, ''), port: Number(spec.url.port || 80), noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.socket.on('end', () => {
      const r = this.#parser.end();
      if (r !== undefined) this.#settle(undefined, r.status);
      this.socket.destroy();
    });
    this.socket.on('error', (err) => this.#settle(err));
    this.socket.on('close', () => {
      this.#settle(codedError('ECONNRESET', 'connection closed before the response ended'));
      this.#onGone(this);
    });
  }

  start(p: Pending, request: Buffer, timeoutMs: number): void {
    this.#current = p;
    this.#timer = setTimeout(() => {
      this.socket.destroy(codedError('ETIMEDOUT', `no response within ${timeoutMs} ms`));
    }, timeoutMs);
    this.socket.write(request);
  }

  #onData(chunk: Buffer): void {
    let r;
    try {
      r = this.#parser.feed(chunk, this.#noBody);
    } catch (err) {
      this.socket.destroy(codedError('EPROTO', (err as Error).message));
      return;
    }
    if (this.#current === undefined) {
      this.socket.destroy(codedError('EPROTO', 'response bytes without a request'));
      return;
    }
    if (r === undefined) return;
    this.#settle(undefined, r.status);
    if (r.close) this.socket.end();
    else this.#onFree(this);
  }

  #settle(err: Error | undefined, status = 0): void {
    const p = this.#current;
    if (p === undefined) return;
    this.#current = undefined;
    clearTimeout(this.#timer);
    if (err !== undefined) p.reject(err);
    else p.resolve(status);
  }
}

export function rawTransport(spec: RequestSpec): Transport {
  const host = spec.url.port === '' ? spec.url.hostname : `${spec.url.hostname}:${spec.url.port}`;
  let head = `${spec.method} ${spec.url.pathname}${spec.url.search} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: weft-load\r\n`;
  if (spec.newConnection === true) head += 'Connection: close\r\n';
  if (spec.body !== undefined) head += `Content-Type: application/octet-stream\r\nContent-Length: ${spec.body.length}\r\n`;
  const request = Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), spec.body ?? Buffer.alloc(0)]);

  const all = new Set<Connection>();
  const idle: Connection[] = [];
  const queue: Pending[] = [];
  let closed = false;

  const dispatch = (): void => {
    while (queue.length > 0) {
      let c = idle.pop();
      if (c === undefined && all.size < spec.connections) {
        c = new Connection(spec, (free) => { idle.push(free); dispatch(); }, (gone) => {
          all.delete(gone);
          const i = idle.indexOf(gone);
          if (i >= 0) idle.splice(i, 1);
          if (!closed) dispatch();
        });
        all.add(c);
      }
      if (c === undefined) return;
      c.start(queue.shift()!, request, spec.timeoutMs);
    }
  };

  return {
    name: 'raw',
    send() {
      if (closed) return Promise.reject(codedError('ECANCELED', 'transport closed'));
      return new Promise((resolve, reject) => {
        queue.push({ resolve, reject });
        dispatch();
      });
    },
    close() {
      closed = true;
      for (const p of queue.splice(0)) p.reject(codedError('ECANCELED', 'transport closed'));
      for (const c of all) c.socket.destroy();
    },
  };
}
