// An incremental HTTP/1.1 request parser for the captured outbound socket (RFC 9112): one parser
// per connection, reused for every request on it, feeding one handler object. Bytes may come in
// any split, down to one byte at a time, with the same result: lines are validated when their LF
// arrives, limits are checked on the bytes seen so far, so a refusal never depends on where the
// reads fell. A head that arrived in one read is parsed in place (its `raw` is a subarray of that
// read); body bytes are always subarrays of the reads. Requests come one at a time: after a
// message completes (or an upgrade / CONNECT head) the parser stops, `execute` says how many bytes
// it used, and the caller keeps the rest until it calls `next()` — pipelined requests are never
// parsed ahead of their turn and never lost.
//
// Strict where a lenient reading lets one message become two at the next hop (see README.md for
// every refusal and the RFC text behind it).
import http from 'node:http';
import { CR, FIELD_VALUE, HTAB, LF, SP, TARGET, TCHAR } from './chars.ts';
import { BAD_SIZE, parseChunkLine } from './chunk-line.ts';
import { CHUNKED, decideFraming } from './framing.ts';
import { isAuthority } from './authority.ts';
import { H1ParseError, type H1Rule } from './parse-error.ts';
import { targetForm, type TargetForm } from './target-form.ts';

export interface ParserLimits {
  /** Request line plus header section, in bytes; also the bound on a trailer section (431). */
  maxHeaderBytes: number;
  /** Request line, CRLF excluded (414); must be below maxHeaderBytes. */
  maxRequestLine: number;
  /** Header fields per message, and trailer fields (431). Envoy's default too. */
  maxHeaders: number;
  /** chunk-ext bytes per message (node:http bounds them too, at 16 KiB). */
  maxChunkExtBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ParserLimits> = Object.freeze({
  // node:http's default maxHeaderSize: what the node:http path accepts today.
  maxHeaderBytes: 16 * 1024,
  maxRequestLine: 8 * 1024,
  maxHeaders: 100,
  maxChunkExtBytes: 16 * 1024,
});

/** A chunk-size line longer than this is refused before it is whole (a bound on buffering). */
const MAX_CHUNK_LINE = 4096;
/** Empty lines tolerated before a request line (RFC 9112 §2.2: "at least one"). */
const MAX_LEADING_EMPTY = 8;

/** What a request's head said, decided once (one plain object per request, one shape). */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly targetForm: TargetForm;
  /** HTTP/1.<minor>. */
  readonly minor: 0 | 1;
  /** Field lines as on the wire: name, value, name, value… (values without surrounding OWS). */
  readonly rawHeaders: string[];
  /** The Host field's value (undefined: none, only possible in HTTP/1.0). */
  readonly host: string | undefined;
  /** Body bytes by Content-Length; 0 for none; CHUNKED (-1) when chunked. */
  readonly bodyLength: number;
  /** Whether the connection may carry another request after this one. */
  readonly keepAlive: boolean;
  /** `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1: ignored in 1.0). */
  readonly expectContinue: boolean;
  /** `Connection: upgrade` with an `Upgrade` field, HTTP/1.1 (RFC 9110 §7.8: ignored in 1.0). */
  readonly upgrade: boolean;
  /** A CONNECT: the bytes after the head are the tunnel's. */
  readonly connect: boolean;
  /** The head's bytes, request line to the empty line: a subarray of the read it came in when whole in one. */
  readonly raw: Buffer;
}

export { CHUNKED };

export interface RequestHandler {
  onRequestHead(head: RequestHead): void;
  /** A subarray of the bytes given to `execute` (not copied). */
  onBody(chunk: Buffer): void;
  /** The message is complete; `trailers` (name, value, …) when a chunked body carried any. */
  onMessageComplete(trailers: string[] | null): void;
  /** The request was refused: answer `err.status` with `err.code`, then close. */
  onError(err: H1ParseError): void;
}

// States. Typed `number`: callbacks change the state under a switch on it.
const HEAD: number = 0;
const BODY: number = 1;
const CHUNK_SIZE: number = 2;
const CHUNK_DATA: number = 3;
const CHUNK_CR: number = 4;
const CHUNK_LF: number = 5;
const TRAILERS: number = 6;
/** A message completed; waiting for next(). */
const PAUSED: number = 7;
/** An upgrade or CONNECT head was delivered; the rest of the bytes are the caller's. */
const UPGRADED: number = 8;
const FAILED: number = 9;

const METHODS: ReadonlySet<string> = new Set(http.METHODS);
const NEED_MORE = -2;
const FAIL = -1;

export class RequestParser {
  readonly #h: RequestHandler;
  readonly #limits: Readonly<ParserLimits>;
  #state = HEAD;
  /** Bytes of a head (or of one chunk/trailer line) that spanned reads; reused. */
  #acc: Buffer | null = null;
  #accLen = 0;
  /** In `#acc` (or the read) during a head: where the request line begins, where the current line begins. */
  #rawStart = 0;
  #lineStart = 0;
  /** A head whole in one read, decoded once: its fields are slices of this string. */
  #text: string | null = null;
  #textBuf: Buffer | null = null;
  #textBase = 0;
  #textEnd = 0;
  #error: H1ParseError | null = null;
  #remaining = 0;

  // The head being read.
  #lines = 0;
  #leadingEmpty = 0;
  #method = '';
  #target = '';
  #form: TargetForm = 'origin';
  #minor: 0 | 1 = 1;
  #raw: string[] = [];
  #host: string | undefined = undefined;
  #hosts = 0;
  #contentLength = -1;
  #teFields = 0;
  #teChunkedOnly = true;
  #close = false;
  #keepAlive = false;
  #connUpgrade = false;
  #hasUpgrade = false;
  #expect = false;
  /** The body length decided at the head's end (framing.ts). */
  #bodyLength = 0;
  /** The head of an upgrade awaiting the caller's choice. */
  #held: RequestHead | null = null;

  // The body being read.
  #extBytes = 0;
  #trailers: string[] | null = null;
  #trailerBytes = 0;

  constructor(handler: RequestHandler, limits: Partial<ParserLimits> = {}) {
    this.#h = handler;
    // The defaults shared (frozen): not one copy per connection.
    this.#limits = Object.keys(limits).length === 0 ? DEFAULT_LIMITS : { ...DEFAULT_LIMITS, ...limits };
    if (this.#limits.maxRequestLine >= this.#limits.maxHeaderBytes) throw new RangeError('maxRequestLine must be below maxHeaderBytes');
    this.#resetHead();
  }

  /** The refusal, once the parser failed. */
  get error(): H1ParseError | null {
    return this.#error;
  }

  /** Whether a message completed and the parser waits for next(). */
  get paused(): boolean {
    return this.#state === PAUSED;
  }

  /** Whether an upgrade or CONNECT head was delivered (the rest of the stream is the caller's). */
  get upgraded(): boolean {
    return this.#state === UPGRADED;
  }

  /** Whether no byte of a next request has been read (a clean place for the connection to end). */
  get idle(): boolean {
    return this.#state === PAUSED || (this.#state === HEAD && this.#lines === 0 && this.#accLen === 0);
  }

  /**
   * Parses `buf`. Returns the bytes it used: all of them, or fewer when a message completed (or an
   * upgrade head was read) and the rest belongs to what follows — keep it and give it again after
   * next(). -1 when the request was refused (`onError` was called).
   */
  execute(buf: Buffer): number {
    const len = buf.length;
    let pos = 0;
    while (pos < len) {
      switch (this.#state) {
        case HEAD:
        case CHUNK_SIZE:
        case TRAILERS: {
          // Line-framed parts: a head, a chunk-size line, a trailer line.
          let r: number;
          if (this.#state !== HEAD) r = this.#line(buf, pos);
          else r = this.#acc !== null && this.#accLen > 0 ? this.#headSpanning(buf, pos) : this.#headInPlace(buf, pos);
          if (r === FAIL) return FAIL;
          if (r === NEED_MORE) return len;
          pos = r;
          break;
        }
        case BODY:
        case CHUNK_DATA:
          pos = this.#bodyBytes(buf, pos);
          break;
        case CHUNK_CR:
        case CHUNK_LF: {
          const want = this.#state === CHUNK_CR ? CR : LF;
          if (buf[pos] !== want) return this.#fail('chunk_data_crlf', 'chunk data not followed by CRLF');
          pos++;
          this.#state = this.#state === CHUNK_CR ? CHUNK_LF : CHUNK_SIZE;
          break;
        }
        case PAUSED:
        case UPGRADED:
          return pos;
        default:
          return FAIL;
      }
    }
    return this.#state === FAILED ? FAIL : pos;
  }

  /** After onMessageComplete: lets the next request be parsed. */
  next(): void {
    if (this.#state !== PAUSED) return;
    this.#resetHead();
    this.#state = HEAD;
  }

  /**
   * After an upgrade head (not CONNECT) the caller will not switch protocols (an h2c upgrade the
   * mesh declines): the request goes on as a plain one, its body framed as its head said. A
   * bodyless request completes here, synchronously.
   */
  continueAsRequest(): void {
    const head = this.#held;
    if (this.#state !== UPGRADED || head === null || head.connect) return;
    this.#held = null;
    this.#enterBody(head.bodyLength);
  }

  /** The connection reached EOF. Null when it ended between requests; else the refusal (also sent to onError). */
  finish(): H1ParseError | null {
    if (this.#state === FAILED) return this.#error;
    if (this.idle || this.#state === UPGRADED) return null;
    this.#fail('truncated', 'the connection ended inside a request');
    return this.#error;
  }

  #fail(rule: H1Rule, message: string): -1 {
    this.#state = FAILED;
    this.#accLen = 0;
    this.#error = new H1ParseError(rule, message);
    this.#h.onError(this.#error);
    return FAIL;
  }

  #resetHead(): void {
    this.#lines = 0;
    this.#leadingEmpty = 0;
    this.#raw = [];
    this.#host = undefined;
    this.#hosts = 0;
    this.#contentLength = -1;
    this.#teFields = 0;
    this.#teChunkedOnly = true;
    this.#close = false;
    this.#keepAlive = false;
    this.#connUpgrade = false;
    this.#hasUpgrade = false;
    this.#expect = false;
    this.#extBytes = 0;
    this.#trailers = null;
    this.#trailerBytes = 0;
    this.#held = null;
  }

  #complete(trailers: string[] | null): void {
    this.#state = PAUSED;
    this.#h.onMessageComplete(trailers);
  }

  #enterBody(length: number): void {
    if (length === CHUNKED) {
      this.#state = CHUNK_SIZE;
    } else if (length > 0) {
      this.#remaining = length;
      this.#state = BODY;
    } else {
      this.#complete(null);
    }
  }

  /** Body bytes counted down (the whole Content-Length body, or one chunk's data); returns where they end. */
  #bodyBytes(buf: Buffer, pos: number): number {
    const end = Math.min(buf.length, pos + this.#remaining);
    this.#remaining -= end - pos;
    const bodyDone = this.#remaining === 0 && this.#state === BODY;
    if (this.#remaining === 0) this.#state = bodyDone ? PAUSED : CHUNK_CR;
    this.#h.onBody(pos === 0 && end === buf.length ? buf : buf.subarray(pos, end));
    if (bodyDone) this.#complete(null);
    return end;
  }

  // ---- the head ----

  /** A head that starts in this read: lines parsed in place. Returns where it ended, NEED_MORE or FAIL. */
  #headInPlace(buf: Buffer, pos: number): number {
    this.#rawStart = pos;
    this.#lineStart = pos;
    // The usual case: the whole head is in this read. One decode for all of it (one native call
    // instead of two per field); the line checks below still run on the bytes, in order.
    const end = buf.indexOf(CRLFCRLF, pos);
    if (end >= 0 && end - pos < this.#limits.maxHeaderBytes) {
      this.#text = latin1(buf, pos, end + 4);
      this.#textBuf = buf;
      this.#textBase = pos;
      this.#textEnd = end + 4;
    }
    const r = this.#headLines(buf, buf.length);
    this.#text = null;
    this.#textBuf = null;
    if (r !== NEED_MORE) return r === FAIL ? FAIL : this.#headDone(buf.subarray(this.#rawStart, r), r);
    // The head goes on in the next read: keep its bytes so far (a copy: the caller's buffer is not
    // ours). Past the bound nothing more is needed: the check below refuses that much.
    const from = this.#rawStart;
    const n = Math.min(buf.length - from, this.#limits.maxHeaderBytes + 1);
    const acc = this.#room(n);
    buf.copy(acc, 0, from);
    this.#accLen = n;
    this.#lineStart -= from;
    this.#rawStart = 0;
    return this.#partialHeadLimits();
  }

  /** A head that began in an earlier read: appended to the kept bytes, then parsed there. */
  #headSpanning(buf: Buffer, pos: number): number {
    const before = this.#accLen;
    // More than the limit (and the empty lines it may start with) can never be a head: the bound
    // check below refuses it once that much is kept, so the rest of the read is not needed.
    const take = Math.min(buf.length - pos, this.#rawStart + this.#limits.maxHeaderBytes + 2 * MAX_LEADING_EMPTY + 2 - before);
    const acc = this.#room(before + take);
    buf.copy(acc, before, pos, pos + take);
    this.#accLen = before + take;
    const r = this.#headLines(acc, this.#accLen);
    if (r === FAIL) return FAIL;
    if (r === NEED_MORE) return this.#partialHeadLimits() === FAIL ? FAIL : NEED_MORE;
    // The kept buffer becomes the head's raw bytes; the next spanning head gets a fresh one.
    const raw = acc.subarray(this.#rawStart, r);
    this.#acc = null;
    this.#accLen = 0;
    return this.#headDone(raw, pos + (r - before));
  }

  /** The bounds on a head line not yet ended by LF, so a refusal does not wait for one. */
  #partialHeadLimits(): number {
    const acc = this.#acc as Buffer;
    const end = this.#accLen;
    if (this.#lines === 0) {
      const content = end - this.#lineStart - (acc[end - 1] === CR ? 1 : 0);
      if (content > this.#limits.maxRequestLine) return this.#fail('request_line_too_long', `request line longer than ${this.#limits.maxRequestLine} bytes`);
    }
    if (end - this.#rawStart > this.#limits.maxHeaderBytes) return this.#fail('headers_too_large', `request header section larger than ${this.#limits.maxHeaderBytes} bytes`);
    return NEED_MORE;
  }

  /** Processes the complete lines of data[#lineStart, end). Returns the offset after the head's empty line, NEED_MORE or FAIL. */
  #headLines(data: Buffer, end: number): number {
    const lim = this.#limits;
    for (;;) {
      const s = this.#lineStart;
      const lf = data.indexOf(LF, s);
      if (lf < 0 || lf >= end) return NEED_MORE;
      const hasCr = lf > s && data[lf - 1] === CR;
      const e = hasCr ? lf - 1 : lf;
      if (this.#lines === 0) {
        if (e - s > lim.maxRequestLine) return this.#fail('request_line_too_long', `request line longer than ${lim.maxRequestLine} bytes`);
      }
      if (lf + 1 - this.#rawStart > lim.maxHeaderBytes) return this.#fail('headers_too_large', `request header section larger than ${lim.maxHeaderBytes} bytes`);
      if (!hasCr) return this.#fail('bare_lf', 'a line ended by LF alone');
      this.#lineStart = lf + 1;
      if (this.#lines === 0) {
        if (e === s) {
          // RFC 9112 §2.2: empty lines before a request line (after a body, old clients) are skipped.
          if (++this.#leadingEmpty > MAX_LEADING_EMPTY) return this.#fail('request_line', 'too many empty lines before the request line');
          this.#rawStart = lf + 1;
          continue;
        }
        if (!this.#requestLine(data, s, e)) return FAIL;
        this.#lines = 1;
        continue;
      }
      if (e === s) return this.#endOfHead() ? lf + 1 : FAIL;
      if (!this.#field(data, s, e, false)) return FAIL;
      this.#lines++;
    }
  }

  #requestLine(b: Buffer, s: number, e: number): boolean {
    let i = s;
    while (i < e && TCHAR[b[i]] === 1) i++;
    if (i === e) return this.#reject('request_line', 'a request line without a target');
    if (b[i] !== SP || i === s) return this.#rejectByte(b[i], 'method', 'an invalid character in the request method');
    const method = methodName(b, s, i);
    if (!METHODS.has(method)) return this.#reject('method', `unknown request method ${JSON.stringify(method.slice(0, 20))}`);
    const ts = i + 1;
    i = ts;
    while (i < e && TARGET[b[i]] === 1) i++;
    // One SP each side of the target (RFC 9112 §3): a second SP, or none before a version, is not the grammar.
    if (i === e || (i === ts && b[i] === SP)) return this.#reject('request_line', 'not one space each side of the request target');
    if (b[i] !== SP) return this.#rejectByte(b[i], 'target', 'an invalid character in the request target');
    const te = i;
    const v = i + 1;
    // "HTTP/1.1" or "HTTP/1.0", exactly.
    if (e - v !== 8 || b[v] !== 0x48 || b[v + 1] !== 0x54 || b[v + 2] !== 0x54 || b[v + 3] !== 0x50 || b[v + 4] !== 0x2f || b[v + 5] !== 0x31 || b[v + 6] !== 0x2e || (b[v + 7] !== 0x31 && b[v + 7] !== 0x30)) {
      return b[v] === SP ? this.#reject('request_line', 'not one space each side of the request target') : this.#reject('version', 'not HTTP/1.0 or HTTP/1.1');
    }
    const target = this.#str(b, ts, te);
    const form = targetForm(method, target);
    if (form === null) return this.#reject('target', `a request target ${method} does not allow: ${JSON.stringify(target.slice(0, 80))}`);
    this.#method = method;
    this.#target = target;
    this.#form = form;
    this.#minor = b[v + 7] === 0x31 ? 1 : 0;
    return true;
  }

  /** One field line b[s, e) of the header section (or, with `trailer`, of the trailer section). */
  #field(b: Buffer, s: number, e: number, trailer: boolean): boolean {
    const c0 = b[s];
    if (c0 === SP || c0 === HTAB) return this.#reject('obs_fold', 'a line folded onto the previous one (obs-fold), or whitespace before the first field');
    const count = trailer ? (this.#trailers === null ? 0 : this.#trailers.length >> 1) : this.#raw.length >> 1;
    if (count >= this.#limits.maxHeaders) return this.#reject('too_many_headers', `more than ${this.#limits.maxHeaders} ${trailer ? 'trailer' : 'header'} fields`);
    let i = s;
    while (i < e && TCHAR[b[i]] === 1) i++;
    const colon = i;
    if (i === e || b[i] !== 0x3a || i === s) {
      if (i < e && b[i] === CR) return this.#reject('bare_cr', 'a CR inside a field line');
      if (i > s && i < e && (b[i] === SP || b[i] === HTAB)) {
        let j = i;
        while (j < e && (b[j] === SP || b[j] === HTAB)) j++;
        if (j < e && b[j] === 0x3a) return this.#reject('space_before_colon', 'whitespace between a field name and its colon');
      }
      return this.#reject('field_name', 'a field line without a token name and a colon');
    }
    i++;
    while (i < e && (b[i] === SP || b[i] === HTAB)) i++;
    const vs = i;
    while (i < e && FIELD_VALUE[b[i]] === 1) i++;
    if (i < e) return this.#reject(b[i] === CR ? 'bare_cr' : 'field_value', 'a control character in a field value');
    let ve = e;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    const name = this.#str(b, s, colon);
    const value = vs === ve ? '' : this.#str(b, vs, ve);
    if (trailer) {
      // Framing fields in a trailer section: a hop that merges trailers into the header section
      // would reframe a message already framed (RFC 9110 §6.5.1); llhttp refuses them too.
      const n = colon - s;
      if ((n === 14 && nameIs(b, s, 'content-length')) || (n === 17 && nameIs(b, s, 'transfer-encoding'))) return this.#reject('trailer_framing', `${name} in a trailer section`);
      (this.#trailers ??= []).push(name, value);
      return true;
    }
    this.#raw.push(name, value);
    return this.#special(b, s, colon, value);
  }

  /** The fields that decide framing, routing and the connection. */
  #special(b: Buffer, s: number, e: number, value: string): boolean {
    switch (e - s) {
      case 4:
        if (!nameIs(b, s, 'host')) return true;
        if (++this.#hosts > 1) return this.#reject('host_duplicate', 'more than one Host field');
        if (!isAuthority(value, false)) return this.#reject('host_invalid', `an invalid Host ${JSON.stringify(value.slice(0, 80))}`);
        this.#host = value;
        return true;
      case 6:
        if (nameIs(b, s, 'expect') && sameToken(value, 0, value.length, '100-continue')) this.#expect = true;
        return true;
      case 7:
        if (nameIs(b, s, 'upgrade')) this.#hasUpgrade = true;
        return true;
      case 10:
        if (nameIs(b, s, 'connection')) this.#connection(value);
        return true;
      case 14: {
        if (!nameIs(b, s, 'content-length')) return true;
        if (this.#contentLength >= 0) return this.#reject('cl_duplicate', 'more than one Content-Length field');
        const n = digits(value);
        if (n === -1) return this.#reject(value.includes(',') ? 'cl_duplicate' : 'cl_invalid', `an invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
        if (n === -2) return this.#reject('cl_too_large', 'a Content-Length past 2^53 - 1');
        this.#contentLength = n;
        return true;
      }
      case 17:
        if (!nameIs(b, s, 'transfer-encoding')) return true;
        this.#teFields++;
        if (!sameToken(value, 0, value.length, 'chunked')) this.#teChunkedOnly = false;
        return true;
      default:
        return true;
    }
  }

  /** Connection options (RFC 9110 §7.6.1): a comma-separated list of tokens, any case. */
  #connection(value: string): void {
    let start = 0;
    for (let i = 0; i <= value.length; i++) {
      if (i < value.length && value.charCodeAt(i) !== 0x2c) continue;
      let s = start;
      let e = i;
      while (s < e && isOws(value.charCodeAt(s))) s++;
      while (e > s && isOws(value.charCodeAt(e - 1))) e--;
      if (sameToken(value, s, e, 'close')) this.#close = true;
      else if (sameToken(value, s, e, 'keep-alive')) this.#keepAlive = true;
      else if (sameToken(value, s, e, 'upgrade')) this.#connUpgrade = true;
      start = i + 1;
    }
  }

  /** The string of b[s, e): a slice of the decoded head when there is one. */
  #str(b: Buffer, s: number, e: number): string {
    const t = this.#text;
    if (t !== null && b === this.#textBuf && e <= this.#textEnd) return t.slice(s - this.#textBase, e - this.#textBase);
    return latin1(b, s, e);
  }

  /** The empty line: whole-section rules, then the head goes to the handler. */
  #endOfHead(): boolean {
    const minor = this.#minor;
    if (minor === 1 && this.#hosts === 0) return this.#reject('host_missing', 'an HTTP/1.1 request without Host');
    const connect = this.#method === 'CONNECT';
    const framing = decideFraming({ minor, connect, contentLength: this.#contentLength, teFields: this.#teFields, teChunkedOnly: this.#teChunkedOnly });
    if (typeof framing === 'string') return this.#reject(framing, framingMessage(framing));
    this.#bodyLength = framing;
    return true;
  }

  #headDone(raw: Buffer, next: number): number {
    const minor = this.#minor;
    const connect = this.#method === 'CONNECT';
    const length = this.#bodyLength;
    const upgrade = !connect && minor === 1 && this.#hasUpgrade && this.#connUpgrade;
    const keepAlive = minor === 1 ? !this.#close : this.#keepAlive && !this.#close;
    const head: RequestHead = {
      method: this.#method, target: this.#target, targetForm: this.#form, minor, rawHeaders: this.#raw, host: this.#host,
      bodyLength: length, keepAlive, expectContinue: minor === 1 && this.#expect, upgrade, connect, raw,
    };
    if (upgrade || connect) {
      this.#held = head;
      this.#state = UPGRADED;
      this.#h.onRequestHead(head);
      return next;
    }
    this.#h.onRequestHead(head);
    this.#enterBody(length);
    return next;
  }

  // ---- chunked framing ----

  /** A chunk-size or trailer line. Returns the position after its LF, NEED_MORE or FAIL. */
  #line(buf: Buffer, pos: number): number {
    const lf = buf.indexOf(LF, pos);
    const trailer = this.#state === TRAILERS;
    if (lf < 0) {
      const before = this.#accLen;
      const n = buf.length - pos;
      // Bound what is kept: a line past its limit is refused below, so more is never needed.
      const take = Math.min(n, (trailer ? this.#limits.maxHeaderBytes : MAX_CHUNK_LINE) + 2 - before);
      const acc = this.#room(before + take);
      buf.copy(acc, before, pos, pos + take);
      this.#accLen = before + take;
      const content = this.#accLen - (acc[this.#accLen - 1] === CR ? 1 : 0);
      if (trailer) {
        if (this.#trailerBytes + this.#accLen > this.#limits.maxHeaderBytes) return this.#fail('headers_too_large', `trailer section larger than ${this.#limits.maxHeaderBytes} bytes`);
      } else if (content > MAX_CHUNK_LINE) {
        return this.#fail('chunk_ext_too_large', `a chunk-size line longer than ${MAX_CHUNK_LINE} bytes`);
      }
      return NEED_MORE;
    }
    // The line's length and last byte, checked against its bound before any of it is copied.
    const before = this.#accLen;
    const total = before + (lf - pos);
    const last = lf > pos ? buf[lf - 1] : before > 0 ? (this.#acc as Buffer)[before - 1] : LF;
    const hasCr = total > 0 && last === CR;
    if (trailer) {
      this.#trailerBytes += total + 1;
      if (this.#trailerBytes > this.#limits.maxHeaderBytes) return this.#fail('headers_too_large', `trailer section larger than ${this.#limits.maxHeaderBytes} bytes`);
    } else if (total - (hasCr ? 1 : 0) > MAX_CHUNK_LINE) {
      return this.#fail('chunk_ext_too_large', `a chunk-size line longer than ${MAX_CHUNK_LINE} bytes`);
    }
    if (!hasCr) return this.#fail('bare_lf', 'a line ended by LF alone');
    let data = buf;
    let s = pos;
    if (before > 0) {
      const acc = this.#room(total);
      buf.copy(acc, before, pos, lf);
      data = acc;
      s = 0;
      this.#accLen = 0;
    }
    const e = s + total - 1;
    if (trailer) {
      if (e === s) {
        this.#complete(this.#trailers);
        return lf + 1;
      }
      return this.#field(data, s, e, true) ? lf + 1 : FAIL;
    }
    const size = parseChunkLine(data, s, e);
    if (size < 0) return this.#fail(size === BAD_SIZE ? 'chunk_size' : 'chunk_ext', `an invalid chunk-size line ${JSON.stringify(data.toString('latin1', s, Math.min(e, s + 40)))}`);
    this.#extBytes += extensionBytes(data, s, e);
    if (this.#extBytes > this.#limits.maxChunkExtBytes) return this.#fail('chunk_ext_too_large', `more than ${this.#limits.maxChunkExtBytes} bytes of chunk extensions`);
    if (size === 0) {
      this.#state = TRAILERS;
    } else {
      this.#remaining = size;
      this.#state = CHUNK_DATA;
    }
    return lf + 1;
  }

  /** The kept-bytes buffer, grown to hold `n` (its first #accLen bytes kept). */
  #room(n: number): Buffer {
    const acc = this.#acc;
    if (acc !== null && acc.length >= n) return acc;
    const grown = Buffer.allocUnsafe(Math.max(n, acc === null ? 1024 : acc.length * 2));
    if (acc !== null && this.#accLen > 0) acc.copy(grown, 0, 0, this.#accLen);
    this.#acc = grown;
    return grown;
  }

  #reject(rule: H1Rule, message: string): false {
    this.#fail(rule, message);
    return false;
  }

  /** A refusal for an unexpected byte: a CR is always bare_cr, whatever was expected. */
  #rejectByte(byte: number, rule: H1Rule, message: string): false {
    return byte === CR ? this.#reject('bare_cr', 'a CR not followed by LF') : this.#reject(rule, message);
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** Buffer's latin1 decoder without toString's encoding lookup (a method of every Buffer, untyped). */
function latin1(b: Buffer, s: number, e: number): string {
  return (b as Buffer & { latin1Slice(s: number, e: number): string }).latin1Slice(s, e);
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** Whether v[s, e) is `lower`, ignoring ASCII case. */
function sameToken(v: string, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = v.charCodeAt(s + i);
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The method's string; the common ones without decoding. */
function methodName(b: Buffer, s: number, e: number): string {
  if (e - s === 3 && b[s] === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return 'GET';
  if (e - s === 4 && b[s] === 0x50 && b[s + 1] === 0x4f && b[s + 2] === 0x53 && b[s + 3] === 0x54) return 'POST';
  return latin1(b, s, e);
}

/** Whether field name b[s, s + lower.length) is `lower`, ignoring ASCII case. */
function nameIs(b: Buffer, s: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((b[s + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** 1*DIGIT as a number; -1 when not digits, -2 past 2^53 - 1. */
function digits(v: string): number {
  if (v.length === 0) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n > Number.MAX_SAFE_INTEGER ? -2 : n;
}

/** chunk-ext bytes of a valid chunk-size line: from its first ";". */
function extensionBytes(b: Buffer, s: number, e: number): number {
  const semi = b.indexOf(0x3b, s);
  return semi < 0 || semi >= e ? 0 : e - semi;
}

function framingMessage(rule: H1Rule): string {
  switch (rule) {
    case 'te_and_cl': return 'both Transfer-Encoding and Content-Length (request smuggling)';
    case 'te_http10': return 'Transfer-Encoding in an HTTP/1.0 request';
    case 'connect_body': return 'a CONNECT request with a body';
    default: return 'a Transfer-Encoding other than one chunked';
  }
}
