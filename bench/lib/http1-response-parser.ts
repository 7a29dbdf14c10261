// Incremental HTTP/1.1 response reader for the raw transport: finds the status and the end of the
// body (content-length, chunked, or until close) without building header objects or body buffers,
// since a load generator only needs "which status, and when did it end".

export interface ParsedResponse {
  status: number;
  /** The server will close the connection after this response. */
  close: boolean;
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'trailers' | 'until-close';

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** A response head larger than this is not one our test servers send: treat it as garbage. */
const MAX_HEAD = 64 * 1024;

export class ResponseParser {
  #buf: Buffer = Buffer.alloc(0);
  #state: State = 'head';
  #remaining = 0;
  #status = 0;
  #close = false;

  /** Feeds bytes; returns the response they complete, if any. Throws on a malformed response. */
  feed(chunk: Buffer, noBody = false): ParsedResponse | undefined {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      switch (this.#state) {
        case 'head': {
          const end = this.#buf.indexOf(HEAD_END);
          if (end < 0) {
            if (this.#buf.length > MAX_HEAD) throw new Error('response head too large');
            return undefined;
          }
          const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
          this.#buf = this.#buf.subarray(end + 4);
          const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
          if (m === null) throw new Error(`bad status line ${JSON.stringify(lines[0]?.slice(0, 40))}`);
          this.#status = Number(m[2]);
          if (this.#status < 200) continue; // 1xx interim response: the real one follows.
          let length = -1;
          let chunked = false;
          let close = m[1] === '0';
          for (let i = 1; i < lines.length; i++) {
            const line = lines[i];
            const colon = line.indexOf(':');
            const name = line.slice(0, colon).trim().toLowerCase();
            const value = line.slice(colon + 1).trim().toLowerCase();
            if (name === 'content-length') length = Number(value);
            else if (name === 'transfer-encoding') chunked = value.includes('chunked');
            else if (name === 'connection') close = value.includes('close') || (m[1] === '0' && !value.includes('keep-alive'));
          }
          this.#close = close;
          if (noBody || this.#status === 204 || this.#status === 304) return this.#done();
          if (chunked) this.#state = 'chunk-size';
          else if (length >= 0) {
            if (!Number.isSafeInteger(length)) throw new Error('bad content-length');
            this.#remaining = length;
            this.#state = 'length';
          } else {
            this.#close = true;
            this.#state = 'until-close';
          }
          continue;
        }
        case 'length':
        case 'chunk-data': {
          const take = Math.min(this.#remaining, this.#buf.length);
          this.#remaining -= take;
          this.#buf = this.#buf.subarray(take);
          if (this.#remaining > 0) return undefined;
          if (this.#state === 'length') return this.#done();
          this.#state = 'chunk-size';
          continue;
        }
        case 'chunk-size': {
          const eol = this.#buf.indexOf(CRLF);
          if (eol < 0) return undefined;
          const size = parseInt(this.#buf.toString('latin1', 0, eol).split(';')[0], 16);
          if (!Number.isSafeInteger(size) || size < 0) throw new Error('bad chunk size');
          this.#buf = this.#buf.subarray(eol + 2);
          if (size === 0) this.#state = 'trailers';
          else {
            this.#remaining = size + 2; // the data and its CRLF
            this.#state = 'chunk-data';
          }
          continue;
        }
        case 'trailers': {
          const eol = this.#buf.indexOf(CRLF);
          if (eol < 0) return undefined;
          this.#buf = this.#buf.subarray(eol + 2);
          if (eol === 0) return this.#done();
          continue;
        }
        case 'until-close':
          this.#buf = Buffer.alloc(0);
          return undefined;
      }
    }
  }

  /** The connection ended: completes a body delimited by close, else nothing. */
  end(): ParsedResponse | undefined {
    return this.#state === 'until-close' ? this.#done() : undefined;
  }

  /** Bytes of a response arrived without being asked for, or a response is half read. */
  get idle(): boolean {
    return this.#state === 'head' && this.#buf.length === 0;
  }

  #done(): ParsedResponse {
    this.#state = 'head';
    return { status: this.#status, close: this.#close };
  }
}
