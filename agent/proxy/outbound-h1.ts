// The app's HTTP/1.x connection on the outbound path, served by the agent's own codec
// (WEFT_L7_H1_ENGINE=weft, the default): agent/http1's RequestParser reads the requests, and this
// one object per connection is the parser's handler and, for the request in turn, both the request
// the exchange reads (ClientRequestLike) and the response it writes (ClientResponseLike). It is
// reused for every request on the connection: no IncomingMessage, ServerResponse or stream per
// request, no closure per request. What node:http did for this connection, it does:
//   - keep-alive, and pipelining answered in order: the parser stops after each request and the
//     next one is parsed only once this one's response is written (bytes read ahead are kept);
//   - the request body to the exchange as it arrives ('data'/'end'), with pause/resume stopping
//     the socket; the response as Content-Length, chunked (with trailers) to an HTTP/1.1 client
//     or close-delimited to HTTP/1.0 (agent/http1/response-framing.ts); writes report
//     backpressure and 'drain';
//   - 100-continue when the pod sends it; any other Expect is answered 417 here;
//   - upgrades and CONNECT handed over with the bytes after the head; an h2c upgrade declined and
//     served as the plain request it also is;
//   - refusals (agent/http1/parse-error.ts) answered once with their status and code, closed and
//     counted; the header timeout (slowloris) answered 408; idle keep-alive connections closed;
//   - a client that shuts its write side after its request still gets the whole answer.
// Response heads are written by responseHead, which refuses a field that could split the response:
// a pod's header with CR/LF becomes a 502 with WEFT_ERR_HTTP_RESPONSE_HEAD.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type net from 'node:net';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { deadlineQueue, type DeadlineEntry, type DeadlineQueue } from '../deadline-queue.ts';
import { headerObject } from '../http1/header-object.ts';
import { httpDate } from '../http1/http-date.ts';
import { listGet } from '../http/header-list.ts';
import type { H1ParseError } from '../http1/parse-error.ts';
import { RequestParser, type RequestHandler, type RequestHead } from '../http1/request-parser.ts';
import { fieldLines, responseHead } from '../http1/response-head.ts';
import { responseFraming, type ResponseFraming } from '../http1/response-framing.ts';
import type { ClientRequestLike, ClientResponseLike } from '../http/exchange.ts';
import type { UpgradeRequest } from './upgrade-splice.ts';

/** What the outbound path does with what this connection reads (one object per agent worker). */
export interface H1Front {
  /** A request: the target stage, the workload limit, then the exchange (outbound-http.ts onRequest). */
  request(req: H1Connection, res: H1Connection): void;
  /** An upgrade or CONNECT head, the socket (paused, ours no more) and the bytes read after the head. */
  upgrade(req: UpgradeRequest, socket: net.Socket, head: Buffer): void;
  /** A refusal, counted as weft_rejected_input_total{reason}. */
  rejected(reason: string): void;
  /** How long a client may take over a request's line and headers. */
  readonly headersTimeoutMs: number;
  /** How long a connection may sit idle between requests. */
  readonly keepAliveTimeoutMs: number;
}

type DataFn = (chunk: Buffer) => void;
type VoidFn = () => void;

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = '0\r\n';
/** Bytes read ahead (pipelined requests) past which reading stops until they are served. */
const HOLD_MAX = 64 * 1024;
/** A body chunk up to this size is copied behind a pending head so both leave in one write. */
const ONE_WRITE_MAX = 16 * 1024;
/** After a refusal, how long a client that does not read may hold the socket. */
const LINGER_MS = 1000;
/** The connection a socket's listeners serve (they are shared, one each for every connection). */
const CONN = Symbol('weft.h1Connection');
type Owned = net.Socket & { [CONN]?: H1Connection };
/** The Keep-Alive field's value per idle bound (one per agent): not one string per connection. */
const keepAliveHints = new Map<number, string>();
function keepAliveHint(ms: number): string {
  let h = keepAliveHints.get(ms);
  if (h === undefined) keepAliveHints.set(ms, (h = `timeout=${Math.floor(ms / 1000)}`));
  return h;
}

export class H1Connection implements RequestHandler, ClientRequestLike, ClientResponseLike, DeadlineEntry {
  readonly socket: net.Socket;
  readonly #front: H1Front;
  readonly #parser: RequestParser;
  /** Bytes read and not parsed yet: the next pipelined request(s), kept until this one is answered. */
  #rest: Buffer | null = null;
  /** The client shut its write side. */
  #eof = false;
  /** The socket is closed, refused or handed to an upgrade: nothing more is read or written here. */
  #gone = false;
  /** Whether we paused the socket (detection hands it over paused). */
  #socketPaused = true;
  /**
   * The header timeout and the keep-alive idle timeout, never both at once: the connection waits in
   * its thread's queue for the one that runs (agent/deadline-queue.ts), no timer of its own.
   */
  #headArmed = false;
  #idleArmed = false;
  /** The deadline queue's links (agent/deadline-queue.ts); nobody else touches them. */
  dqQueue: DeadlineQueue | null = null;
  dqPrev: DeadlineEntry | null = null;
  dqNext: DeadlineEntry | null = null;
  dqAt = 0;

  // ---- the request in turn ----
  #head: RequestHead | null = null;
  url = '/';
  /** The head's fields, names lower case (made from the parser's raw list once per request). */
  #list: string[] = [];
  /** The header object, made only when asked for (upgrades, a target rewrite, the node-shaped readers). */
  #headers: IncomingHttpHeaders | null = null;
  /** The chunked body's trailer section, set before 'end' (the exchange forwards it); undefined: none. */
  trailers: IncomingHttpHeaders | undefined = undefined;
  #onData: DataFn | null = null;
  #onEnd: VoidFn | null = null;
  #paused = false;
  /** Body chunks the parser handed over while the request was paused (at most one socket read). */
  #held: Buffer[] | null = null;
  #endHeld = false;
  #reqComplete = false;
  /** A declined h2c upgrade: served as a plain request. */
  #declined = false;

  // ---- its response ----
  headersSent = false;
  statusCode = 200;
  writableEnded = false;
  destroyed = false;
  #inFlight = false;
  #framing: ResponseFraming = 'none';
  #pendingHead: Buffer | null = null;
  #trailers: OutgoingHttpHeaders | null = null;
  #closeAfter = false;
  #resDone = false;
  readonly #closeFns: VoidFn[] = [];
  #drainFn: VoidFn | null = null;

  constructor(socket: net.Socket, front: H1Front) {
    this.socket = socket;
    this.#front = front;
    this.#parser = new RequestParser(this);
    socket.setNoDelay(true);
    // Listeners shared by every connection, finding theirs through the socket: four closures per
    // connection were ~250 bytes of each idle keep-alive connection.
    (socket as Owned)[CONN] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    socket.on('error', ignore);
  }

  /** Starts reading: `head` is what detection already read, `ended` whether the client's FIN came with it. */
  start(head: Buffer, ended: boolean): void {
    // As node:http: the first request's header timeout runs from the connection's start.
    this.#armHead();
    if (head.length > 0) this.#feed(head);
    if (ended) this.socketEnd();
    else this.#maybeResume();
  }

  get method(): string | undefined {
    return this.#head?.method;
  }

  // ---- reading ----

  /** The socket's 'data' (through onSocketData). */
  socketData(d: Buffer): void {
    if (this.#gone) return;
    if (this.#rest !== null) {
      // Read while a pipelined request waits its turn: kept; reading stops past HOLD_MAX.
      this.#rest = Buffer.concat([this.#rest, d]);
      if (this.#rest.length > HOLD_MAX) this.#pauseSocket();
      return;
    }
    this.#feed(d);
  }

  /** Parses `buf` up to the end of the request in turn; keeps what follows for after its response. */
  #feed(buf: Buffer): void {
    let b = buf;
    const p = this.#parser;
    while (b.length > 0 && !this.#gone) {
      if (p.paused) {
        this.#rest = b;
        // Answered already (before its body was read): go on with what follows (#nextRequest feeds #rest).
        if (this.#resDone) this.#nextRequest();
        else if (b.length > HOLD_MAX) this.#pauseSocket();
        return;
      }
      if (this.#head === null) {
        this.#idleArmed = false;
        if (!this.#headArmed) this.#armHead();
      }
      const n = p.execute(b);
      if (n < 0) return;
      b = b.subarray(n);
      if (p.upgraded) {
        this.#handOver(b);
        return;
      }
    }
    // The whole read was taken; a request whose response is already written may start the next.
    if (p.paused && this.#resDone && !this.#gone) this.#nextRequest();
  }

  onRequestHead(head: RequestHead): void {
    this.#disarmTimer();
    this.#head = head;
    this.url = head.target;
    this.#list = lowerCaseNames(head.rawHeaders);
    this.#headers = null;
    this.#inFlight = true;
    if (head.upgrade && !isH2cUpgrade(this.headers.upgrade)) return; // handed over after execute returns
    if (head.connect) return;
    // HTTP/1.1 only, as node:http (RFC 9110 §10.1.1: an HTTP/1.0 server ignores Expect).
    if (head.minor === 1 && !head.expectContinue && listGet(this.#list, 'expect') !== undefined) {
      this.#refuseExpectation();
      return;
    }
    if (head.upgrade) {
      // An h2c upgrade the mesh declines (outbound-http.ts says why): the request without its
      // upgrade fields, framed as its head said.
      this.#declined = true;
      this.headers = withoutUpgrade(this.headers);
    }
    this.#front.request(this, this);
    if (this.#declined) this.#parser.continueAsRequest();
  }

  /** The request's header object (node:http's shape), made at the first ask; the list is not read after that. */
  get headers(): IncomingHttpHeaders {
    return (this.#headers ??= headerObject(this.#list));
  }

  set headers(h: IncomingHttpHeaders) {
    this.#headers = h;
  }

  /** The head as a list while nobody asked for the object (see ClientRequestLike.headerList). */
  get headerList(): readonly string[] | undefined {
    return this.#headers === null ? this.#list : undefined;
  }

  onBody(chunk: Buffer): void {
    if (this.#paused) (this.#held ??= []).push(chunk);
    else this.#onData?.(chunk);
  }

  onMessageComplete(trailers: string[] | null): void {
    // The parser bounded the section (count and bytes) and refused framing fields in it.
    if (trailers !== null) this.trailers = headerObject(trailers);
    this.#reqComplete = true;
    if (this.#paused) this.#endHeld = true;
    else this.#onEnd?.();
  }

  onError(err: H1ParseError): void {
    this.#refuse(err.status, err.code, `http1_${err.kind}`);
  }

  // ---- the request, as the exchange reads it ----

  on(event: 'data' | 'end' | 'close', fn: DataFn | VoidFn): this {
    if (event === 'data') this.#onData = fn as DataFn;
    else if (event === 'end') this.#onEnd = fn as VoidFn;
    else this.#closeFns.push(fn as VoidFn);
    return this;
  }

  off(event: 'data', fn: DataFn): this {
    if (event === 'data' && this.#onData === fn) this.#onData = null;
    return this;
  }

  once(event: 'drain' | 'close', fn: VoidFn): this {
    if (event === 'drain') this.#drainFn = fn;
    else this.#closeFns.push(fn);
    return this;
  }

  pause(): this {
    if (!this.#gone && this.#inFlight && !this.#reqComplete) {
      this.#paused = true;
      this.#pauseSocket();
    }
    return this;
  }

  resume(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    const held = this.#held;
    if (held !== null) {
      this.#held = null;
      for (let i = 0; i < held.length; i++) {
        if (this.#paused) {
          // Paused again while catching up: keep the rest for the next resume.
          this.#held = held.slice(i);
          return this;
        }
        this.#onData?.(held[i]);
      }
    }
    if (this.#endHeld) {
      this.#endHeld = false;
      this.#onEnd?.();
    }
    this.#maybeResume();
    return this;
  }

  // ---- the response, as the exchange writes it ----

  writeContinue(): void {
    if (!this.headersSent && !this.#gone) this.socket.write(CONTINUE);
  }

  addTrailers(headers: OutgoingHttpHeaders): void {
    this.#trailers = this.#trailers === null ? headers : { ...this.#trailers, ...headers };
  }

  writeHead(status: number, headers: OutgoingHttpHeaders = {}): this {
    if (this.headersSent) return this;
    const conn = headers.connection;
    this.#frame(status, headers['content-length'] !== undefined, typeof conn === 'string' ? conn : undefined);
    // The framing and connection fields this writer implies, added to the caller's fresh object
    // (the exchange and the mesh's answers build one per response), as node:http adds them.
    if (headers.date === undefined) headers.date = httpDate();
    if (this.#framing === 'chunked') headers['transfer-encoding'] = 'chunked';
    if (conn === undefined) {
      if (this.#closeAfter) {
        headers.connection = 'close';
      } else {
        // As node:http says it: the idle bound lets a client's pool retire the connection before
        // the agent does, instead of reusing it into a close.
        headers.connection = 'keep-alive';
        headers['keep-alive'] = keepAliveHint(this.#front.keepAliveTimeoutMs);
      }
    }
    this.#prepareHead(status, headers);
    return this;
  }

  /** The relayed head as a header list (the exchange's): the same fields added, appended to it; no object. */
  writeHeadList(status: number, fields: string[]): this {
    if (this.headersSent) return this;
    const conn = listGet(fields, 'connection');
    this.#frame(status, listGet(fields, 'content-length') !== undefined, conn);
    if (listGet(fields, 'date') === undefined) fields.push('date', httpDate());
    if (this.#framing === 'chunked') fields.push('transfer-encoding', 'chunked');
    if (conn === undefined) {
      if (this.#closeAfter) fields.push('connection', 'close');
      else fields.push('connection', 'keep-alive', 'keep-alive', keepAliveHint(this.#front.keepAliveTimeoutMs));
    }
    this.#prepareHead(status, fields);
    return this;
  }

  /** The response's framing and whether the connection ends after it (`conn`: the head's Connection field). */
  #frame(status: number, hasContentLength: boolean, conn: string | undefined): void {
    this.headersSent = true;
    this.statusCode = status;
    const head = this.#head;
    const minor = head === null ? 1 : head.minor;
    this.#framing = responseFraming({ method: head?.method ?? 'GET', minor, status, contentLength: hasContentLength });
    // A client that shut its write side gets this answer and then the FIN, unless requests it
    // pipelined before its FIN are still to be answered.
    if (head === null || !head.keepAlive || this.#framing === 'close' || (this.#eof && this.#rest === null) || (conn !== undefined && /(^|,)\s*close\s*(,|$)/i.test(conn))) this.#closeAfter = true;
  }

  #prepareHead(status: number, headers: OutgoingHttpHeaders | string[]): void {
    try {
      this.#pendingHead = responseHead(status, headers);
    } catch (err) {
      // A pod's (or peer's) field that could split the response: the app gets a 502 instead,
      // and the body that follows is dropped with the connection.
      const code = err instanceof WeftError ? err.code : ErrorCodes.HTTP_RESPONSE_HEAD;
      this.statusCode = 502;
      this.#framing = 'none';
      this.#closeAfter = true;
      this.#trailers = null;
      this.#front.rejected('http1_response_head');
      this.#pendingHead = responseHead(502, ['weft-error', code, 'content-length', '0', 'connection', 'close']);
    }
  }

  write(chunk: Buffer): boolean {
    if (this.#gone || this.writableEnded) return true;
    if (!this.headersSent) this.writeHead(200);
    const s = this.socket;
    if (this.#framing === 'none' || chunk.length === 0) {
      return true;
    }
    const head = this.#pendingHead;
    if (head !== null && chunk.length <= ONE_WRITE_MAX) {
      // The usual answer (a head and a small body, or its first chunk): one buffer, one write —
      // the copy costs less than cork, two buffered writes and a writev through the Writable.
      this.#pendingHead = null;
      s.write(withHead(head, chunk, this.#framing === 'chunked'));
      return !s.writableNeedDrain;
    }
    // Head, size line, data and CRLF leave in one writev.
    s.cork();
    this.#flushHead();
    if (this.#framing === 'chunked') {
      s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      s.write(chunk);
      s.write(CRLF);
    } else {
      s.write(chunk);
    }
    s.uncork();
    return !s.writableNeedDrain;
  }

  end(text?: string): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    if (this.#gone) return this;
    if (!this.headersSent) this.writeHead(200);
    const s = this.socket;
    s.cork();
    this.#flushHead();
    const framing = this.#framing;
    if (text !== undefined && text.length > 0 && framing !== 'none') {
      if (framing === 'chunked') s.write(`${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`, 'utf8');
      else s.write(text, 'utf8');
    }
    if (framing === 'chunked') {
      let last = LAST_CHUNK;
      const t = this.#trailers;
      if (t !== null) {
        try {
          last += fieldLines(t);
        } catch {
          // A trailer that could split the response: the head is out, so the only honest
          // answer left is an incomplete one.
          s.uncork();
          this.#front.rejected('http1_response_head');
          this.destroy();
          return this;
        }
      }
      s.write(`${last}\r\n`, 'latin1');
    }
    // Still corked: #afterResponse uncorks once it has served what is pipelined behind this
    // response, so answers to requests that came in one read leave in one writev (corks nest).
    // 'close' listeners (the exchange's bookkeeping, the workload limit) run once the caller's
    // end() returned, as node:http emits it; then the next request may be parsed.
    queueMicrotask(this.#afterResponse);
    return this;
  }

  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      this.socket.destroy();
    }
    return this;
  }

  #flushHead(): void {
    const h = this.#pendingHead;
    if (h !== null) {
      this.#pendingHead = null;
      this.socket.write(h);
    }
  }

  /** The socket's 'drain' (through onSocketDrain). */
  socketDrain(): void {
    const fn = this.#drainFn;
    if (fn !== null) {
      this.#drainFn = null;
      fn();
    }
  }

  // ---- the turn of requests ----

  readonly #afterResponse = (): void => {
    this.#turn();
    this.socket.uncork();
  };

  #turn(): void {
    this.#fireClose();
    if (this.#gone) return;
    if (this.#closeAfter) {
      this.#gone = true;
      this.#stopTimers();
      // Ends our side once the answer is written, then closes (the client may have half-closed).
      this.socket.destroySoon();
      return;
    }
    this.#resDone = true;
    // The next request (or, after the client's FIN, the end: #nextRequest → #endOfInput).
    if (this.#reqComplete) this.#nextRequest();
    // Else the exchange left the rest of the body unread: it drains (resume()), then the next.
  }

  #nextRequest(): void {
    this.#head = null;
    this.url = '/';
    this.#list = NO_FIELDS;
    this.#headers = null;
    this.trailers = undefined;
    this.#onData = null;
    this.#onEnd = null;
    this.#paused = false;
    this.#held = null;
    this.#endHeld = false;
    this.#reqComplete = false;
    this.#declined = false;
    this.headersSent = false;
    this.statusCode = 200;
    this.writableEnded = false;
    this.#inFlight = false;
    this.#framing = 'none';
    this.#pendingHead = null;
    this.#trailers = null;
    this.#resDone = false;
    this.#drainFn = null;
    this.#parser.next();
    this.#armIdle();
    const rest = this.#rest;
    if (rest !== null) {
      this.#rest = null;
      this.#feed(rest);
    }
    if (this.#gone) return;
    if (this.#eof) {
      this.#endOfInput();
      return;
    }
    this.#maybeResume();
  }

  // The socket is paused for backpressure (the request body) or past HOLD_MAX of read-ahead only:
  // pausing a net.Socket stops its handle (readStop/readStart), too dear to do per request.
  #pauseSocket(): void {
    if (!this.#socketPaused) {
      this.#socketPaused = true;
      this.socket.pause();
    }
  }

  #maybeResume(): void {
    if (!this.#socketPaused || this.#gone || this.#paused) return;
    if (this.#rest !== null && this.#rest.length > HOLD_MAX) return;
    this.#socketPaused = false;
    this.socket.resume();
  }

  /** The request's 'close' listeners, once; the array is reused for the next request. */
  #fireClose(): void {
    const fns = this.#closeFns;
    const n = fns.length;
    if (n === 0) return;
    for (let i = 0; i < n; i++) fns[i]();
    fns.splice(0, n);
  }

  /** The client's FIN: the socket's 'end' (through onSocketEnd), or detection saw it. */
  socketEnd(): void {
    if (this.#eof) return;
    this.#eof = true;
    if (this.#gone) return;
    this.#endOfInput();
  }

  /** The client's FIN: answer what is in flight, then close; a request cut short is refused. */
  #endOfInput(): void {
    if (this.#inFlight && this.#parser.paused) return; // its response ends the connection (#afterResponse)
    if (this.#parser.finish() !== null) return; // truncated: onError answered
    if (!this.#inFlight) {
      this.#gone = true;
      this.#stopTimers();
      this.socket.end();
    }
  }

  /** The socket's 'close' (through onSocketClose). */
  socketClose(): void {
    this.#gone = true;
    this.#stopTimers();
    if (this.#inFlight && !this.writableEnded) {
      this.destroyed = true;
      this.#fireClose();
    }
  }

  // ---- refusals and timeouts ----

  /** Answers `status` with `code` (when no response has begun), closes and counts. */
  #refuse(status: number, code: string, reason: string): void {
    if (this.#gone) return;
    this.#front.rejected(reason);
    this.#gone = true;
    this.#stopTimers();
    const s = this.socket;
    if (this.headersSent && this.#pendingHead === null) {
      // Mid-response there is no clean place for an answer.
      this.destroy();
    } else {
      this.headersSent = true;
      this.writableEnded = true;
      this.statusCode = status;
      // The same bytes node:http's path answers refusals with (common/http-client-error.ts).
      s.end(responseHead(status, ['weft-error', code, 'content-length', '0', 'connection', 'close']));
      // A client that never reads must not hold the socket: the answer is best effort.
      setTimeout(() => s.destroy(), LINGER_MS).unref();
    }
    if (this.#inFlight) {
      this.destroyed = true;
      this.#fireClose();
    }
  }

  /** RFC 9110 §10.1.1: an expectation this hop cannot meet is answered 417, never forwarded. */
  #refuseExpectation(): void {
    this.#refuse(417, ErrorCodes.HTTP_EXPECTATION, 'http1_expectation');
  }

  // One bound at a time: arming one takes the connection out of the other's queue.
  #armHead(): void {
    this.#headArmed = true;
    this.#idleArmed = false;
    deadlineQueue(this.#front.headersTimeoutMs).arm(this);
  }

  #armIdle(): void {
    this.#idleArmed = true;
    this.#headArmed = false;
    deadlineQueue(this.#front.keepAliveTimeoutMs).arm(this);
  }

  #disarmTimer(): void {
    this.#headArmed = false;
    this.#idleArmed = false;
    this.dqQueue?.disarm(this);
  }

  #stopTimers(): void {
    this.#disarmTimer();
  }

  /** The queue's call when the armed bound passed (the connection has left the queue). */
  deadlineExpired(): void {
    if (this.#gone) return;
    if (this.#headArmed) {
      this.#headArmed = false;
      this.#refuse(408, ErrorCodes.HTTP_HEADER_TIMEOUT, 'http1_header_timeout');
      return;
    }
    if (!this.#idleArmed || this.#head !== null) return;
    this.#idleArmed = false;
    if (!this.#parser.idle) return; // a head has begun: the header timeout holds it
    this.#gone = true;
    this.#stopTimers();
    this.socket.destroy();
  }

  // ---- upgrades ----

  /** The socket leaves this codec: the upgrade path gets the head and the bytes after it. */
  #handOver(after: Buffer): void {
    const head = this.#head as RequestHead;
    this.#gone = true;
    this.#stopTimers();
    const s = this.socket;
    s.pause();
    s.off('data', onSocketData);
    s.off('end', onSocketEnd);
    s.off('close', onSocketClose);
    s.off('drain', onSocketDrain);
    s.off('error', ignore);
    (s as Owned)[CONN] = undefined;
    const req: UpgradeRequest = {
      method: head.method, url: this.url, httpVersion: head.minor === 1 ? '1.1' : '1.0', rawHeaders: head.rawHeaders,
      headers: this.headers, rawBytes: head.raw, rawTarget: head.target,
    };
    this.#front.upgrade(req, s, after);
  }
}

function ignore(): void {}

/** `head` then `chunk` (framed as a chunk when `chunked`) in one Buffer (from node's pool when small). */
function withHead(head: Buffer, chunk: Buffer, chunked: boolean): Buffer {
  const size = chunked ? `${chunk.length.toString(16)}\r\n` : '';
  const out = Buffer.allocUnsafe(head.length + size.length + chunk.length + (chunked ? 2 : 0));
  let at = head.copy(out, 0);
  if (chunked) at += out.write(size, at, 'latin1');
  at += chunk.copy(out, at);
  if (chunked) {
    out[at] = 0x0d;
    out[at + 1] = 0x0a;
  }
  return out;
}

const NO_FIELDS: string[] = [];

/** The parser's raw list with lower-case names (toLowerCase gives back the same string when it already is). */
function lowerCaseNames(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) out.push(raw[i].toLowerCase(), raw[i + 1]);
  return out;
}

// The socket listeners: `this` is the socket (EventEmitter calls listeners so).
function onSocketData(this: Owned, d: Buffer): void {
  this[CONN]?.socketData(d);
}
function onSocketEnd(this: Owned): void {
  this[CONN]?.socketEnd();
}
function onSocketClose(this: Owned): void {
  this[CONN]?.socketClose();
}
function onSocketDrain(this: Owned): void {
  this[CONN]?.socketDrain();
}

/** Whether an Upgrade header asks for h2c (among its tokens). */
export function isH2cUpgrade(upgrade: string | undefined): boolean {
  return upgrade !== undefined && upgrade.split(',').some((v) => v.trim().toLowerCase() === 'h2c');
}

/** The request's fields less those of an h2c upgrade (Upgrade, HTTP2-Settings, and their Connection tokens). */
function withoutUpgrade(h: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const k of Object.keys(h)) {
    if (k === 'upgrade' || k === 'http2-settings') continue;
    if (k === 'connection') {
      const keep = String(h[k]).split(',').map((v) => v.trim()).filter((v) => v !== '' && !/^(upgrade|http2-settings)$/i.test(v));
      if (keep.length > 0) out.connection = keep.join(', ');
      continue;
    }
    out[k] = h[k];
  }
  return out;
}

