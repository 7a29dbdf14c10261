// A small keep-alive HTTP/1.1 client for the hop from an agent to a pod on its node, in place of
// node:http's ClientRequest and Agent: those build and tear down a dozen listeners, a parser
// binding and an IncomingMessage per request, and run header validation we have already done at
// our own parsers. Here one H1Conn per socket holds its listeners for the socket's whole life and
// routes events to the attempt it carries; an attempt writes its request head as one string and
// reads the answer with H1ResponseParser. Sockets come from the SocketFactory, and a connection
// goes back to its pod's idle list only after a complete response on a reusable connection with
// the whole request written.
//
// Failures reach the sink as node:http's did through H1Attempt: before the connection came up,
// or on a reused connection the pod had closed before any byte of an answer, the request was not
// delivered (safe to replay); anything later was.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type net from 'node:net';
import { Writable } from 'node:stream';
import { ErrorCodes } from '../../common/errors.ts';
import type { SocketFactory } from '../proxy/socket-factory.ts';
import { lentReads, type LentReader } from '../proxy/hbone/lent-reads.ts';
import { H1ResponseParser, type ResponseHandler } from './h1-response-parser.ts';
import { isFieldValue, isToken } from '../http1/chars.ts';
import { fieldLines } from '../http1/response-head.ts';
import type { L7Counters } from './counters.ts';
import type { AttemptRequest, AttemptSink, ResponseBody, UpstreamAttempt } from './upstream.ts';
import { listGet } from './header-list.ts';

// Like node:http's request-target check: no whitespace or control characters.
const BAD_PATH = /[^\x21-\xff]/;
// Methods whose requests carry a body by convention: node:http sent `content-length: 0` for them
// when they had none, and some servers wait for a length (411) otherwise.
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const MAX_IDLE_PER_POD = 256;
// A server that announces `Keep-Alive: timeout=N` closes the connection N s after its last answer;
// reusing it near that moment races the server's FIN (the request would be lost in flight). So a
// connection is retired this much before the announced end, as node:http's Agent does.
const SERVER_IDLE_MARGIN_MS = 1000;
const KEEP_ALIVE_TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i;

/** How long the server keeps an idle connection, from its Keep-Alive header; undefined if unsaid. */
export function serverIdleMs(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = KEEP_ALIVE_TIMEOUT.exec(Array.isArray(header) ? header.join(',') : header);
  return m === null ? undefined : Number(m[1]) * 1000;
}

/** The body of a bodyless request: ended from the start, shared (nothing is ever written to it). */
const ENDED = new Writable({ write: (_c, _e, cb) => cb() });
ENDED.end();

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The request head as one string, or an Error when a field cannot be written safely. */
function requestHead(r: AttemptRequest, framing: string): string | Error {
  if (!isToken(r.method)) return codedError(`invalid method ${JSON.stringify(r.method.slice(0, 40))}`, ErrorCodes.HTTP_MALFORMED);
  if (BAD_PATH.test(r.path) || r.path === '') return codedError('invalid request target', ErrorCodes.HTTP_MALFORMED);
  if (!isFieldValue(r.authority)) return codedError('invalid authority', ErrorCodes.HTTP_MALFORMED);
  let head = `${r.method} ${r.path} HTTP/1.1\r\nhost: ${r.authority}\r\nconnection: keep-alive\r\n${framing}`;
  const h = r.headers;
  let cookieDone = false;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i];
    let v = h[i + 1];
    if (k === 'host' || k === 'connection') continue;
    if (k === 'cookie') {
      // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3),
      // where the first one was.
      if (cookieDone) continue;
      cookieDone = true;
      for (let j = i + 2; j < h.length; j += 2) if (h[j] === 'cookie') v = `${v}; ${h[j + 1]}`;
    }
    if (!isToken(k)) return codedError(`invalid header name ${JSON.stringify(k.slice(0, 40))}`, ErrorCodes.HTTP_MALFORMED);
    if (!isFieldValue(v)) return codedError(`invalid character in header ${k}`, ErrorCodes.HTTP_MALFORMED);
    head += `${k}: ${v}\r\n`;
  }
  return `${head}\r\n`;
}

/** The request body the exchange writes into: frames it onto the connection. */
class RequestBody extends Writable {
  readonly #a: H1Attempt;

  constructor(a: H1Attempt) {
    super();
    this.#a = a;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#a.writeBody(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#a.endBody(cb);
  }
}

/**
 * The response body handed to the sink: a plain object, not a Readable per request (the
 * constructor, push/read machinery and 'end' tick of a Readable were ~6 % of the destination
 * agent's CPU per request at 1000 req/s). The consumer's one 'data' listener gets each chunk as the
 * parser produces it; while paused (or before a listener), chunks wait in a list and the socket
 * stops (backpressure). 'end' comes a tick after the last chunk was taken, as a Readable's does,
 * the attempt's own end first: the sink hears onEnd (with the trailers) before any 'end' listener.
 */
class H1ResponseBody implements ResponseBody {
  readonly #a: H1Attempt;
  #onData: ((chunk: Buffer) => void) | null = null;
  #onEnd: (() => void)[] | null = null;
  #held: Buffer[] | null = null;
  #paused = false;
  /** The parser saw the whole body; 'end' follows once nothing is held. */
  #complete = false;
  #endQueued = false;
  #flushQueued = false;
  /** push() told the attempt to pause the socket: resume it when flowing again (only then: a
   * resume() on a flowing socket still costs a tick). */
  #stopped = false;
  destroyed = false;

  constructor(a: H1Attempt) {
    this.#a = a;
  }

  on(event: 'data', fn: (chunk: Buffer) => void): this {
    if (event === 'data') {
      this.#onData = fn;
      this.#paused = false;
      this.#kick();
    }
    return this;
  }

  off(event: 'data', fn: (chunk: Buffer) => void): this {
    if (event === 'data' && this.#onData === fn) this.#onData = null;
    return this;
  }

  once(event: 'end', fn: () => void): this {
    if (event === 'end') (this.#onEnd ??= []).push(fn);
    return this;
  }

  pause(): this {
    this.#paused = true;
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#kick();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.#held = null;
    this.#onData = null;
    this.#onEnd = null;
    this.#a.bodyDestroyed();
    return this;
  }

  /** A chunk from the parser; false when it was held (the caller stops reading the socket). */
  push(chunk: Buffer): boolean {
    if (this.destroyed) return true;
    const fn = this.#onData;
    if (fn !== null && !this.#paused && this.#held === null) {
      fn(chunk);
      if (!this.#paused) return true;
      this.#stopped = true;
      return false;
    }
    (this.#held ??= []).push(chunk);
    this.#stopped = true;
    return false;
  }

  /** The parser saw the end of the body. */
  complete(): void {
    this.#complete = true;
    this.#kick();
  }

  /** Flowing again (or a listener came): held chunks, then the end, on the next tick as a Readable does. */
  #kick(): void {
    if (this.destroyed || this.#paused || this.#onData === null) return;
    if (this.#held !== null) {
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        process.nextTick(flushHeld, this);
      }
    } else if (this.#complete && !this.#endQueued) {
      this.#endQueued = true;
      process.nextTick(emitEnd, this);
    } else if (!this.#complete && this.#stopped) {
      this.#stopped = false;
      this.#a.resumeSocket();
    }
  }

  flushHeld(): void {
    this.#flushQueued = false;
    let held = this.#held;
    while (held !== null && !this.destroyed && !this.#paused && this.#onData !== null) {
      const chunk = held.shift() as Buffer;
      if (held.length === 0) {
        this.#held = null;
        held = null;
      }
      this.#onData(chunk);
    }
    this.#kick();
  }

  emitEnd(): void {
    if (this.destroyed) return;
    this.#a.responseRead();
    const fns = this.#onEnd;
    this.#onEnd = null;
    if (fns !== null) for (const fn of fns) fn();
  }
}

function flushHeld(b: H1ResponseBody): void {
  b.flushHeld();
}

function emitEnd(b: H1ResponseBody): void {
  b.emitEnd();
}

class H1Attempt implements UpstreamAttempt, ResponseHandler {
  readonly #sink: AttemptSink;
  #conn: H1Conn | null;
  #body: Writable;
  #head: string | null;
  readonly #chunked: boolean;
  /** The whole request (head, body, last chunk) has been handed to the socket. */
  requestDone = false;
  #res: H1ResponseBody | null = null;
  #trailers: IncomingHttpHeaders | undefined = undefined;
  #done = false;
  /** The request's trailer section as field lines, written with the last chunk; '' for none. */
  #reqTrailers = '';
  readonly #counters: Pick<L7Counters, 'requestTrailersDropped'> | undefined;

  /** `conn` an Error: the request cannot be written; the sink hears it next tick. */
  constructor(conn: H1Conn | Error, r: AttemptRequest, head: string, chunked: boolean, sink: AttemptSink, counters?: Pick<L7Counters, 'requestTrailersDropped'>) {
    this.#sink = sink;
    this.#chunked = chunked;
    this.#counters = counters;
    if (conn instanceof Error) {
      this.#conn = null;
      this.#head = null;
      // A body still streams in (and is dropped): the shared ended stream cannot take it.
      this.#body = r.bodyless ? ENDED : new RequestBody(this);
      this.requestDone = true;
      process.nextTick(failInvalid, this, conn);
      return;
    }
    this.#conn = conn;
    conn.attach(this, r.method === 'HEAD');
    if (r.bodyless) {
      this.#head = null;
      this.#body = ENDED;
      this.requestDone = true;
      conn.socket.write(head, 'latin1');
      return;
    }
    this.#head = head;
    this.#body = new RequestBody(this);
    // The pod answers 100 Continue only once it has the head: send it now rather than with the body.
    const expect = listGet(r.headers, 'expect');
    if (expect !== undefined && expect.toLowerCase() === '100-continue') this.#flushHead();
  }

  get body(): Writable {
    return this.#body;
  }

  /**
   * The request's trailers, written as the chunked body's trailer section (RFC 9112 §7.1.2). A
   * body framed by Content-Length (the app's request had one) has no place for them: RFC 9112
   * §7.1.2 lets a recipient that removes the chunked coding discard trailer fields, and so does
   * this hop — the section is dropped and counted (requestTrailersDropped, /config_dump
   * proxy.l7), never merged into the head (RFC 9110 §6.5.2). So is a field that could not be
   * written safely (a control character: it would split the message).
   */
  endWithTrailers(trailers: OutgoingHttpHeaders): void {
    if (this.#chunked) {
      try {
        this.#reqTrailers = fieldLines(trailers);
      } catch {
        this.#dropTrailers();
      }
    } else {
      this.#dropTrailers();
    }
    this.#body.end();
  }

  #dropTrailers(): void {
    if (this.#counters !== undefined) this.#counters.requestTrailersDropped++;
  }

  abort(): void {
    if (this.#done) return;
    this.#done = true;
    this.#discardConnection();
    const res = this.#res;
    if (res !== null && !res.destroyed) res.destroy();
  }

  /** Mid-exchange the connection's state is unknown: it cannot carry another request. */
  #discardConnection(): void {
    const c = this.#conn;
    this.#conn = null;
    c?.discard(this);
  }

  #flushHead(): void {
    const head = this.#head;
    const c = this.#conn;
    if (head === null || c === null) return;
    this.#head = null;
    c.socket.write(head, 'latin1');
  }

  writeBody(chunk: Buffer, cb: (err?: Error | null) => void): void {
    const c = this.#conn;
    // Done, or the answer came complete before the body: the rest of the body has nowhere to go.
    if (c === null || this.#done) {
      cb();
      return;
    }
    if (chunk.length === 0) {
      // An empty chunk would read as the last chunk in chunked framing.
      cb();
      return;
    }
    const s = c.socket;
    const head = this.#head;
    let ok: boolean;
    if (head !== null || this.#chunked) {
      s.cork();
      if (head !== null) {
        this.#head = null;
        s.write(head, 'latin1');
      }
      if (this.#chunked) {
        s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        s.write(chunk);
        ok = s.write('\r\n', 'latin1');
      } else {
        ok = s.write(chunk);
      }
      s.uncork();
    } else {
      ok = s.write(chunk);
    }
    if (ok) cb();
    else c.waitDrain(cb);
  }

  endBody(cb: (err?: Error | null) => void): void {
    const c = this.#conn;
    this.requestDone = true;
    if (c === null || this.#done) {
      cb();
      return;
    }
    const head = this.#head;
    this.#head = null;
    const last = !this.#chunked ? '' : this.#reqTrailers === '' ? '0\r\n\r\n' : `0\r\n${this.#reqTrailers}\r\n`;
    const out = head === null ? last : head + last;
    if (out !== '') c.socket.write(out, 'latin1');
    cb();
  }

  resumeSocket(): void {
    this.#conn?.socket.resume();
  }

  /** The sink destroyed the response body: the exchange is over, whatever state it was in. */
  bodyDestroyed(): void {
    if (this.#done) return;
    this.#done = true;
    this.#discardConnection();
    this.#sink.onFailure(true, codedError('upstream closed the response early', 'ECONNRESET'));
  }

  // ---- from the parser ----

  onInformational(status: number): void {
    if (status === 100 && !this.#done) {
      this.#flushHead();
      this.#sink.onContinue();
    }
  }

  onHead(status: number, headers: IncomingHttpHeaders): void {
    if (this.#done) return;
    if (this.#conn !== null) this.#conn.serverIdleMs = serverIdleMs(headers['keep-alive']);
    const res = new H1ResponseBody(this);
    this.#res = res;
    this.#sink.onResponse(status, headers, res);
  }

  onBody(chunk: Buffer): void {
    const res = this.#res;
    if (res === null || res.destroyed) return;
    const c = this.#conn;
    // A lent read's buffer is reused at the next read: the body keeps a copy (small ones from
    // Buffer's shared pool), which is cheaper than the fresh 64 KiB read buffer it replaces.
    if (!res.push(c !== null && c.lentRead ? Buffer.from(chunk) : chunk)) c?.socket.pause();
  }

  onComplete(trailers: IncomingHttpHeaders | undefined): void {
    this.#trailers = trailers;
    // Detached before the body's end is read: the connection is free for the next request now.
    this.#conn = null;
    this.#res?.complete();
  }

  responseRead(): void {
    if (this.#done) return;
    this.#done = true;
    this.#sink.onEnd(this.#trailers);
  }

  // ---- from the connection ----

  /** The connection failed under this attempt (socket error, close, malformed answer). */
  failed(delivered: boolean, err: Error): void {
    this.#conn = null;
    if (this.#done) return;
    this.#done = true;
    const res = this.#res;
    if (res !== null && !res.destroyed) res.destroy();
    this.#sink.onFailure(delivered, err);
  }

  /** Called by the connection when the response completed: detach without failing. */
  detached(): void {
    this.#conn = null;
  }
}

function failInvalid(a: H1Attempt, err: Error): void {
  // Nothing reached the pod, but a replay would fail the same way: a final 502.
  a.failed(true, err);
}

interface Framing { field: string; chunked: boolean }
const NO_FRAMING: Framing = { field: '', chunked: false };
const EMPTY_BODY: Framing = { field: 'content-length: 0\r\n', chunked: false };
const CHUNKED: Framing = { field: 'transfer-encoding: chunked\r\n', chunked: true };

/** How the request's body is framed on the wire: the head's framing field, and whether chunked. */
function framingOf(r: AttemptRequest): Framing {
  const hasLength = listGet(r.headers, 'content-length') !== undefined;
  if (r.bodyless) return !hasLength && BODY_METHODS.has(r.method) ? EMPTY_BODY : NO_FRAMING;
  return hasLength ? NO_FRAMING : CHUNKED;
}

/**
 * One pooled socket to one pod address; its listeners live as long as it does. The socket reads
 * into the thread's lent buffer (net's `onread`, lent-reads.ts): each read reaches the parser
 * straight from the stream handle, without Readable.push, a 'data' emit and the read-more tick
 * per read, nor a fresh read buffer. A factory that ignores `onread` (tests' fakes) emits
 * 'data' instead, taken the same way.
 */
class H1Conn implements LentReader {
  readonly socket: net.Socket;
  readonly key: string;
  readonly #pool: H1Pool;
  readonly #parser = new H1ResponseParser();
  #attempt: H1Attempt | null = null;
  #connected = false;
  /** Requests this connection has carried (before the current one). */
  #served = 0;
  #error: Error | undefined = undefined;
  #drainCb: ((err?: Error | null) => void) | null = null;
  dead = false;
  /** When the pool must stop offering this idle connection (ms since the epoch). */
  expiresAt = 0;
  /** The server's announced idle timeout (Keep-Alive: timeout=N), from the last answer. */
  serverIdleMs: number | undefined = undefined;
  /** The chunk being parsed is lent (reused at the next read): what is kept of it is copied. */
  lentRead = false;

  constructor(pool: H1Pool, key: string, sockets: SocketFactory, target: { ip: string; port: number }, connectTimeoutMs: number) {
    this.#pool = pool;
    this.key = key;
    const socket = sockets.connect(target, connectTimeoutMs, lentReads(this));
    this.socket = socket;
    socket.on('connect', this.#onConnect);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('drain', this.#onDrain);
  }

  attach(a: H1Attempt, headRequest: boolean): void {
    this.#attempt = a;
    this.#parser.reset(a, headRequest);
  }

  waitDrain(cb: (err?: Error | null) => void): void {
    this.#drainCb = cb;
  }

  /** The attempt gave up mid-exchange: the connection is closed. */
  discard(a: H1Attempt): void {
    if (this.#attempt !== a) return;
    this.#detach();
    this.#destroy();
  }

  #detach(): void {
    this.#attempt = null;
    this.#parser.detach();
    const cb = this.#drainCb;
    this.#drainCb = null;
    cb?.();
  }

  #destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  /** Closes an idle connection (idle too long, or one too many). */
  close(): void {
    this.#destroy();
  }

  readonly #onConnect = (): void => {
    this.#connected = true;
  };

  readonly #onDrain = (): void => {
    const cb = this.#drainCb;
    this.#drainCb = null;
    cb?.();
  };

  onLent(chunk: Buffer): boolean {
    this.lentRead = true;
    this.#onData(chunk);
    this.lentRead = false;
    // A pause from the body (backpressure) has stopped the handle already.
    return true;
  }

  readonly #onData = (chunk: Buffer): void => {
    const a = this.#attempt;
    if (a === null) {
      // Bytes nobody asked for (a pipelined or garbage answer): the connection cannot be trusted.
      this.#destroy();
      return;
    }
    const p = this.#parser;
    const used = p.execute(chunk);
    if (this.#attempt !== a) return; // aborted from a sink callback
    if (used < 0) {
      this.#detach();
      a.failed(true, codedError(`malformed response from ${this.key}: ${p.error}`, ErrorCodes.HTTP_UPSTREAM_MALFORMED));
      this.#destroy();
      return;
    }
    if (!p.done) return;
    this.#attempt = null;
    a.detached();
    this.#served++;
    if (used === chunk.length && p.keepAlive && a.requestDone && !this.dead) {
      if (this.socket.isPaused()) this.socket.resume();
      this.#pool.release(this);
    } else {
      this.#destroy();
    }
  };

  readonly #onEnd = (): void => {
    const a = this.#attempt;
    if (a !== null && this.#parser.finish()) {
      // A close-delimited body is complete at EOF.
      this.#attempt = null;
      a.detached();
    }
    // Otherwise 'close' follows and reports the failure.
    this.#destroy();
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onClose = (): void => {
    this.dead = true;
    this.#pool.forget(this);
    const a = this.#attempt;
    if (a === null) return;
    this.#detach();
    const err = this.#error as (Error & { code?: string }) | undefined;
    // node:http's rule: a pooled connection the pod had closed (reset, or EOF before any answer)
    // never delivered the request.
    const stale = this.#served > 0 && !this.#parser.started && (err === undefined || err.code === 'ECONNRESET');
    const delivered = this.#connected && !stale;
    a.failed(delivered, err ?? codedError(this.#parser.started ? 'upstream closed the response early' : 'socket hang up', 'ECONNRESET'));
  };

  /** Taken from the idle list for a new request. */
  reuse(): void {
    this.#connected = true;
  }
}

export interface H1PoolOptions {
  sockets: SocketFactory;
  connectTimeoutMs: number;
  /** Idle connections are closed after this long. */
  idleMs: number;
  /** Where request trailer sections dropped for a Content-Length body are counted. */
  counters?: Pick<L7Counters, 'requestTrailersDropped'>;
}

/** Keep-alive connections per pod address; one pool per LocalUpstream. */
export class H1Pool {
  readonly #opts: H1PoolOptions;
  readonly #idle = new Map<string, H1Conn[]>();
  readonly #all = new Set<H1Conn>();
  readonly #sweep: NodeJS.Timeout;

  constructor(opts: H1PoolOptions) {
    this.#opts = opts;
    // One timer for every idle connection, rather than a timer armed and cleared per request.
    this.#sweep = setInterval(this.#onSweep, Math.max(250, Math.floor(opts.idleMs / 4)));
    this.#sweep.unref();
  }

  start(r: AttemptRequest, sink: AttemptSink): UpstreamAttempt {
    const framing = framingOf(r);
    const head = requestHead(r, framing.field);
    if (typeof head !== 'string') return new H1Attempt(head, r, '', false, sink, this.#opts.counters);
    const { ip, port } = r.target;
    const key = `${ip}:${port}`;
    const list = this.#idle.get(key);
    let conn: H1Conn | undefined;
    const now = Date.now();
    while (list !== undefined && list.length > 0) {
      const c = list.pop() as H1Conn;
      if (c.dead) continue;
      if (c.expiresAt <= now) {
        // Past its time (the server may be closing it right now): never reused.
        c.close();
        continue;
      }
      conn = c;
      conn.reuse();
      break;
    }
    if (conn === undefined) {
      conn = new H1Conn(this, key, this.#opts.sockets, r.target, this.#opts.connectTimeoutMs);
      this.#all.add(conn);
    }
    return new H1Attempt(conn, r, head, framing.chunked, sink, this.#opts.counters);
  }

  release(c: H1Conn): void {
    let list = this.#idle.get(c.key);
    if (list === undefined) {
      list = [];
      this.#idle.set(c.key, list);
    }
    if (list.length >= MAX_IDLE_PER_POD) {
      c.close();
      return;
    }
    const server = c.serverIdleMs;
    const keep = server === undefined ? this.#opts.idleMs : Math.min(this.#opts.idleMs, server - SERVER_IDLE_MARGIN_MS);
    if (keep <= 0) {
      c.close();
      return;
    }
    c.expiresAt = Date.now() + keep;
    list.push(c);
  }

  /** The connection closed: drop it from the lists. */
  forget(c: H1Conn): void {
    this.#all.delete(c);
    const list = this.#idle.get(c.key);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#idle.delete(c.key);
  }

  readonly #onSweep = (): void => {
    const now = Date.now();
    for (const list of this.#idle.values()) {
      // Each connection has its own deadline (a server may announce a shorter one); closing one
      // removes it from the list through forget(), so collect first.
      const due = list.filter((c) => c.expiresAt <= now);
      for (const c of due) c.close();
    }
  };

  close(): void {
    clearInterval(this.#sweep);
    for (const c of this.#all) c.socket.destroy();
    this.#all.clear();
    this.#idle.clear();
  }
}
