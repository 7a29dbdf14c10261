// Test helpers: the codec bound to a real socket (TCP or TLS), as a minimal server whose
// behaviour is picked by :path, and as a client collecting responses. Used by the interop tests
// against node:http2 (the independent peer).
import type { Socket } from 'node:net';
import { H2Connection, HeadersKind, type H2Handler, type H2Stream, type HeadersKindValue } from '../../../agent/h2/connection.ts';
import { H2Code } from '../../../agent/h2/constants.ts';
import type { H2Error } from '../../../agent/h2/h2-error.ts';
import { valueOf } from '../../../agent/h2/header-rules.ts';
import type { H2ConnectionOptions } from '../../../agent/h2/connection.ts';

export function bind(socket: Socket, handler: H2Handler, opts: H2ConnectionOptions): H2Connection {
  const conn = new H2Connection(socket, handler, opts);
  socket.on('data', (d: Buffer) => conn.receive(d));
  socket.on('close', () => conn.transportClosed());
  socket.on('error', () => conn.transportClosed());
  conn.start();
  return conn;
}

interface ServerStream {
  path: string;
  body: Buffer[];
  trailers: string[] | null;
}

/**
 * A server on the codec. Paths: /echo (body back, x-trailer-* echoed as trailers, x-body-length
 * trailer), /big?n=BYTES (a body of n octets of a known pattern), /reset (RST_STREAM CANCEL after
 * the head), /goaway (GOAWAY NO_ERROR after answering), anything else 404.
 */
export class CodecServer implements H2Handler {
  conn!: H2Connection;
  errors: H2Error[] = [];
  resets: { id: number; code: number; byPeer: boolean }[] = [];
  /** Every request head received, in order. */
  heads: string[][] = [];

  attach(socket: Socket, opts: Partial<H2ConnectionOptions> = {}): H2Connection {
    this.conn = bind(socket, this, { role: 'server', ...opts });
    return this.conn;
  }

  onHeaders(s: H2Stream, headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    if (kind === HeadersKind.HEAD) this.heads.push(headers);
    if (kind === HeadersKind.HEAD) s.ctx = { path: valueOf(headers, ':path') ?? '', body: [], trailers: null } satisfies ServerStream;
    else (s.ctx as ServerStream).trailers = headers;
    const ctx = s.ctx as ServerStream;
    if (ctx.path === '/reset') {
      this.conn.sendHeaders(s, [':status', '200'], false);
      this.conn.reset(s, H2Code.CANCEL);
      return;
    }
    if (endStream) this.#answer(s, ctx);
  }

  onData(s: H2Stream, data: Buffer, endStream: boolean): void {
    const ctx = s.ctx as ServerStream;
    ctx.body.push(data);
    if (endStream) this.#answer(s, ctx);
  }

  #answer(s: H2Stream, ctx: ServerStream): void {
    const url = new URL(ctx.path, 'http://x');
    if (url.pathname === '/echo') {
      const body = Buffer.concat(ctx.body);
      this.conn.sendHeaders(s, [':status', '200', 'content-type', 'application/octet-stream'], false);
      this.conn.sendData(s, body, false);
      const t: string[] = ['x-body-length', String(body.length)];
      const tr = ctx.trailers ?? [];
      for (let i = 0; i < tr.length; i += 2) if (tr[i].startsWith('x-trailer-')) t.push(tr[i], tr[i + 1]);
      this.conn.sendHeaders(s, t, true);
      return;
    }
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      this.conn.sendHeaders(s, [':status', '200', 'content-length', String(n)], n === 0);
      if (n > 0) this.conn.sendData(s, pattern(n), true);
      return;
    }
    if (url.pathname === '/goaway') {
      this.conn.sendHeaders(s, [':status', '200'], true);
      this.conn.goaway(H2Code.NO_ERROR, 'bye');
      return;
    }
    this.conn.sendHeaders(s, [':status', '404'], true);
  }

  onReset(s: H2Stream, code: number, byPeer: boolean): void {
    this.resets.push({ id: s.id, code, byPeer });
  }

  onError(err: H2Error): void {
    this.errors.push(err);
  }
}

/** n octets of a position-dependent pattern, so reordering or loss shows. */
export function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

export interface ClientResult {
  status: number;
  headers: string[];
  informational: string[][];
  body: Buffer;
  trailers: string[] | null;
  reset: number | null;
}

interface Pending {
  result: ClientResult;
  chunks: Buffer[];
  resolve: (r: ClientResult) => void;
}

/** A client on the codec: fetch() opens a stream and resolves with the whole answer (or the reset code). */
export class CodecClient implements H2Handler {
  conn!: H2Connection;
  errors: H2Error[] = [];
  goaways: { last: number; code: number; debug: string }[] = [];

  attach(socket: Socket, opts: Partial<H2ConnectionOptions> = {}): H2Connection {
    this.conn = bind(socket, this, { role: 'client', ...opts });
    return this.conn;
  }

  fetch(headers: string[], body?: Buffer, trailers?: string[]): Promise<ClientResult> {
    const s = this.conn.request(headers, body === undefined && trailers === undefined);
    if (s === null) return Promise.reject(new Error('no stream available'));
    return new Promise((resolve) => {
      s.ctx = { result: { status: 0, headers: [], informational: [], body: Buffer.alloc(0), trailers: null, reset: null }, chunks: [], resolve } satisfies Pending;
      if (body !== undefined) this.conn.sendData(s, body, trailers === undefined);
      if (trailers !== undefined) this.conn.sendHeaders(s, trailers, true);
    });
  }

  onHeaders(s: H2Stream, headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    const p = s.ctx as Pending;
    if (kind === HeadersKind.INFORMATIONAL) p.result.informational.push(headers);
    else if (kind === HeadersKind.HEAD) {
      p.result.headers = headers;
      p.result.status = Number(valueOf(headers, ':status'));
    } else p.result.trailers = headers;
    if (endStream) this.#done(p);
  }

  onData(s: H2Stream, data: Buffer, endStream: boolean): void {
    const p = s.ctx as Pending;
    p.chunks.push(data);
    if (endStream) this.#done(p);
  }

  #done(p: Pending): void {
    p.result.body = Buffer.concat(p.chunks);
    p.resolve(p.result);
  }

  onReset(s: H2Stream, code: number): void {
    const p = s.ctx as Pending | undefined;
    if (p === undefined) return;
    p.result.reset = code;
    this.#done(p);
  }

  onGoaway(last: number, code: number, debug: Buffer): void {
    this.goaways.push({ last, code, debug: debug.toString() });
  }

  onError(err: H2Error): void {
    this.errors.push(err);
  }
}
