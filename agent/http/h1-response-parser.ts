// An incremental HTTP/1.1 response parser for the hop from an agent to a pod (RFC 9112): status
// line, header section, then a body framed by Content-Length, chunked coding (with trailers) or
// the connection's close; 1xx answers before the final one; no body for HEAD, 204 and 304.
// It is fed the socket's chunks as they come and hands body bytes on as slices of them (no copy).
// Strict where leniency would let a pod smuggle a second response or grow our buffers: CRLF line
// ends, no obs-fold, no whitespace before a colon, one Content-Length, never both Content-Length
// and Transfer-Encoding, and a cap on the header section (and on the trailer section).
import type { IncomingHttpHeaders } from 'node:http';
import { addField } from '../http1/header-object.ts';
// Field names are tokens (RFC 9110 §5.6.2); values visible ASCII, SP, HTAB and obs-text — CR, LF,
// NUL and the other controls refused. Table lookups per character, not a regular expression per field.
import { isFieldValue, isToken } from '../http1/chars.ts';

export interface ResponseHandler {
  /** An interim answer (1xx other than 101); the final one follows. */
  onInformational(status: number): void;
  /** The final answer's status and headers (node:http's shape: lower-case names, duplicates merged). */
  onHead(status: number, headers: IncomingHttpHeaders): void;
  /** A slice of the socket's chunk: valid only until the call returns unless kept. */
  onBody(chunk: Buffer): void;
  /** The response is complete; `trailers` when a chunked body carried any. */
  onComplete(trailers: IncomingHttpHeaders | undefined): void;
}

/** Default cap on the status line plus headers (and on the trailers), like node's maxHeaderSize. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** A chunk-size line longer than this (extensions included) is not a real server's. */
const MAX_CHUNK_LINE = 1024;

// Parser states. Typed `number`, not literals: callbacks change the state under a switch on it.
const HEAD: number = 0;
const LENGTH: number = 1;
const CHUNK_SIZE: number = 2;
const CHUNK_DATA: number = 3;
const CHUNK_END: number = 4;
const TRAILERS: number = 5;
const CLOSE: number = 6;
const DONE: number = 7;
const FAILED: number = 8;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[^\r\n]*)?$/;
const DIGITS = /^\d{1,15}$/;
// node:http keeps the first of these when a message repeats them (IncomingMessage#_addHeaderLine).

export class H1ResponseParser {
  readonly #maxHeader: number;
  #h: ResponseHandler | null = null;
  #state = DONE;
  #noBody = false;
  /** Header bytes of a head split across chunks (rare: most heads come in one read). */
  #pending: Buffer | null = null;
  /** A line (chunk size, chunk end, trailer) split across chunks. */
  #line = '';
  #remaining = 0;
  #trailers: IncomingHttpHeaders | undefined = undefined;
  #trailerBytes = 0;
  /** Whether the connection may carry another request after this response. */
  keepAlive = false;
  /** Whether any byte of a response arrived (a stale pooled connection fails before any). */
  started = false;
  /** Why parsing failed: for the operator, as specific as the input allows. */
  error = '';

  constructor(maxHeaderBytes = MAX_HEADER_BYTES) {
    this.#maxHeader = maxHeaderBytes;
  }

  /** Readies the parser for the response to a new request. */
  reset(handler: ResponseHandler, headRequest: boolean): void {
    this.#h = handler;
    this.#state = HEAD;
    this.#noBody = headRequest;
    this.#pending = null;
    this.#line = '';
    this.#trailers = undefined;
    this.#trailerBytes = 0;
    this.keepAlive = false;
    this.started = false;
    this.error = '';
  }

  /** Stops delivering to the handler (the attempt was aborted); later input is ignored. */
  detach(): void {
    this.#h = null;
    this.#state = DONE;
  }

  get done(): boolean {
    return this.#state === DONE;
  }

  get failed(): boolean {
    return this.#state === FAILED;
  }

  /**
   * Consumes `buf`. Returns how many bytes belong to this response: less than `buf.length` when
   * the response completed and bytes followed it (the caller must not reuse the connection), or
   * -1 when the input is malformed (`error` says why). Stops early when the handler detaches.
   */
  execute(buf: Buffer): number {
    if (buf.length > 0 && this.#state !== DONE) this.started = true;
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.#state) {
        case HEAD: {
          const next = this.#head(buf, pos);
          if (next < 0) return this.#state === FAILED ? -1 : len;
          pos = next;
          break;
        }
        case LENGTH:
        case CHUNK_DATA: {
          // Body bytes counted down: the whole body (Content-Length) or one chunk's data.
          const n = Math.min(this.#remaining, len - pos);
          this.#remaining -= n;
          const chunk = buf.subarray(pos, pos + n);
          pos += n;
          if (this.#remaining === 0) this.#state = this.#state === LENGTH ? DONE : CHUNK_END;
          this.#h?.onBody(chunk);
          if (this.#state === DONE) this.#complete();
          break;
        }
        case CLOSE: {
          this.#h?.onBody(pos === 0 ? buf : buf.subarray(pos));
          return len;
        }
        case CHUNK_SIZE:
        case CHUNK_END:
        case TRAILERS: {
          const lf = buf.indexOf(0x0a, pos);
          if (lf < 0) {
            this.#line += buf.toString('latin1', pos, len);
            if (this.#line.length > (this.#state === TRAILERS ? this.#maxHeader : MAX_CHUNK_LINE)) return this.#fail(this.#state === TRAILERS ? 'trailer section too large' : 'chunk size line too long');
            return len;
          }
          let line = this.#line + buf.toString('latin1', pos, lf);
          this.#line = '';
          pos = lf + 1;
          if (line.charCodeAt(line.length - 1) !== 0x0d) return this.#fail('bare LF in chunked framing');
          line = line.slice(0, -1);
          if (!this.#chunkLine(line)) return -1;
          break;
        }
        case DONE:
          return pos;
        case FAILED:
          return -1;
      }
    }
    return this.#state === FAILED ? -1 : pos;
  }

  /** The connection reached EOF: completes a close-delimited body. False if the response was cut short. */
  finish(): boolean {
    if (this.#state === CLOSE) {
      this.#state = DONE;
      this.#complete();
      return true;
    }
    return this.#state === DONE;
  }

  #fail(why: string): -1 {
    this.#state = FAILED;
    this.error = why;
    this.#pending = null;
    return -1;
  }

  #reject(why: string): false {
    this.#fail(why);
    return false;
  }

  #complete(): void {
    const h = this.#h;
    this.#h = null;
    h?.onComplete(this.#trailers);
  }

  /** Looks for the end of the header section; returns the position after it, or -1 (need more, or failed). */
  #head(buf: Buffer, pos: number): number {
    let data = buf;
    let start = pos;
    let from = pos;
    const p = this.#pending;
    if (p !== null) {
      data = Buffer.concat([p, buf.subarray(pos)]);
      start = 0;
      from = Math.max(0, p.length - 3);
    }
    const end = data.indexOf(CRLFCRLF, from);
    if (end < 0) {
      if (data.length - start > this.#maxHeader) return this.#fail(`response header section larger than ${this.#maxHeader} bytes`);
      this.#pending = start === 0 && data !== buf ? data : Buffer.from(data.subarray(start));
      return -1;
    }
    if (end - start > this.#maxHeader) return this.#fail(`response header section larger than ${this.#maxHeader} bytes`);
    this.#pending = null;
    const text = data.toString('latin1', start, end);
    const after = end + 4;
    // Where parsing resumes in `buf`: the pending bytes were all before it.
    const next = p === null ? after : pos + (after - p.length);
    return this.#parseHead(text) ? next : -1;
  }

  #parseHead(text: string): boolean {
    let eol = text.indexOf('\r\n');
    const statusLine = eol < 0 ? text : text.slice(0, eol);
    const m = STATUS_LINE.exec(statusLine);
    if (m === null) return this.#reject(`malformed status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const http10 = m[1] === '0';
    const status = Number(m[2]);
    const headers: IncomingHttpHeaders = {};
    let contentLength = -1;
    let te: string | undefined = undefined;
    let connection = '';
    while (eol >= 0) {
      const s = eol + 2;
      eol = text.indexOf('\r\n', s);
      const line = eol < 0 ? text.slice(s) : text.slice(s, eol);
      const colon = line.indexOf(':');
      if (colon <= 0) return this.#reject(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
      const rawName = line.slice(0, colon);
      if (!isToken(rawName)) return this.#reject(`malformed header name ${JSON.stringify(rawName.slice(0, 80))}`);
      const value = trimOws(line, colon + 1);
      if (!isFieldValue(value)) return this.#reject(`invalid character in header ${rawName}`);
      const name = rawName.toLowerCase();
      if (name === 'content-length') {
        if (!DIGITS.test(value)) return this.#reject(`invalid content-length ${JSON.stringify(value.slice(0, 40))}`);
        const n = Number(value);
        if (contentLength >= 0 && n !== contentLength) return this.#reject('conflicting content-length headers');
        contentLength = n;
      } else if (name === 'transfer-encoding') {
        te = te === undefined ? value : `${te}, ${value}`;
      } else if (name === 'connection') {
        connection = connection === '' ? value : `${connection}, ${value}`;
      }
      addField(headers, name, value);
    }
    if (status < 200) {
      if (status === 101) return this.#reject('unexpected 101 Switching Protocols (upgrades do not use this path)');
      // 100 Continue, 102, 103: interim; the final answer follows on the same connection.
      this.#h?.onInformational(status);
      return true;
    }
    const conn = connection.toLowerCase();
    this.keepAlive = http10 ? hasToken(conn, 'keep-alive') : !hasToken(conn, 'close');
    if (this.#noBody || status === 204 || status === 304) {
      this.#state = DONE;
    } else if (te !== undefined) {
      // RFC 9112 §6.1: both is a smuggling signature; an error, not a guess.
      if (contentLength >= 0) return this.#reject('both transfer-encoding and content-length');
      const codings = te.toLowerCase();
      const last = codings.lastIndexOf('chunked');
      if (last >= 0 && last + 7 === trimEnd(codings).length && codings.indexOf('chunked') === last) {
        this.#state = CHUNK_SIZE;
      } else if (last >= 0) {
        return this.#reject(`chunked is not the final transfer coding: ${JSON.stringify(te.slice(0, 80))}`);
      } else {
        // Another final coding: the body runs to the connection's close (RFC 9112 §6.3 item 7).
        this.#state = CLOSE;
        this.keepAlive = false;
      }
    } else if (contentLength >= 0) {
      this.#remaining = contentLength;
      this.#state = contentLength === 0 ? DONE : LENGTH;
    } else {
      this.#state = CLOSE;
      this.keepAlive = false;
    }
    const h = this.#h;
    h?.onHead(status, headers);
    if (this.#state === DONE && this.#h === h) this.#complete();
    return true;
  }

  /** One CRLF-terminated line of chunked framing. */
  #chunkLine(line: string): boolean {
    if (this.#state === CHUNK_END) {
      if (line !== '') return this.#reject('chunk data longer than its size');
      this.#state = CHUNK_SIZE;
      return true;
    }
    if (this.#state === CHUNK_SIZE) {
      const m = CHUNK_SIZE_LINE.exec(line);
      if (m === null) return this.#reject(`malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
      const n = parseInt(m[1], 16);
      if (n === 0) {
        this.#state = TRAILERS;
      } else {
        this.#remaining = n;
        this.#state = CHUNK_DATA;
      }
      return true;
    }
    // Trailers: field lines until an empty one.
    if (line === '') {
      this.#state = DONE;
      this.#complete();
      return true;
    }
    this.#trailerBytes += line.length + 2;
    if (this.#trailerBytes > this.#maxHeader) return this.#reject('trailer section too large');
    const colon = line.indexOf(':');
    const rawName = colon > 0 ? line.slice(0, colon) : '';
    if (!isToken(rawName)) return this.#reject(`malformed trailer line ${JSON.stringify(line.slice(0, 80))}`);
    const value = trimOws(line, colon + 1);
    if (!isFieldValue(value)) return this.#reject(`invalid character in trailer ${rawName}`);
    addField((this.#trailers ??= {}), rawName.toLowerCase(), value);
    return true;
  }
}


function trimOws(line: string, from: number): string {
  let s = from;
  let e = line.length;
  while (s < e && (line.charCodeAt(s) === 0x20 || line.charCodeAt(s) === 0x09)) s++;
  while (e > s && (line.charCodeAt(e - 1) === 0x20 || line.charCodeAt(e - 1) === 0x09)) e--;
  return s === 0 && e === line.length ? line : line.slice(s, e);
}

function trimEnd(s: string): string {
  let e = s.length;
  while (e > 0 && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
  return e === s.length ? s : s.slice(0, e);
}

/** Whether a comma-separated, lower-cased list names `token`. */
function hasToken(list: string, token: string): boolean {
  if (list === token) return true;
  if (list.indexOf(token) < 0) return false; // the usual case: "keep-alive" when asking about "close"
  for (const part of list.split(',')) if (part.trim() === token) return true;
  return false;
}
