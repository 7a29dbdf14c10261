// A log sink that survives the disk (or pipe) under it failing. Node's own stderr, when it is a
// file, throws ENOSPC out of an 'error' event nobody handles and the process dies: a full log disk
// would take the node's mesh down with it. Here a failed write is counted and dropped, and the
// first line that gets through again says how many were lost and why (WEFT_ERR_LOG_WRITE).
import { fstatSync, writeSync } from 'node:fs';
import { ErrorCodes, errorCode } from './errors.ts';
import type { LogSink } from './log.ts';

export interface LogSinkStatus {
  stream: string;
  /** Lines (or chunks) that could not be written since start. */
  failures: number;
  /** Lost since the last line that got through (reported on that recovery). */
  pending: number;
  lastError: string | null;
}

/** The one system call the sink makes for files; injectable so tests can fail it at will. */
export type WriteSync = (fd: number, buffer: Uint8Array, offset: number, length: number) => number;

export class GuardedSink implements LogSink {
  readonly #name: string;
  readonly #fd: number;
  readonly #stream: NodeJS.WritableStream;
  /**
   * Files and character devices are written with writeSync (what Node does for them anyway), so
   * errors are ours to catch; pipes and sockets stay streams.
   */
  readonly #file: boolean;
  readonly #writeSync: WriteSync;
  #failures = 0;
  #pending = 0;
  /** A write that failed halfway left a fragment: the next line starts on a fresh one. */
  #fragment = false;
  #lastError: string | null = null;

  constructor(name: string, stream: NodeJS.WritableStream & { fd?: number }, io: { writeSync?: WriteSync } = {}) {
    this.#name = name;
    this.#writeSync = io.writeSync ?? writeSync;
    this.#stream = stream;
    this.#fd = stream.fd ?? -1;
    let file = false;
    try {
      const st = this.#fd >= 0 ? fstatSync(this.#fd) : undefined;
      file = st !== undefined && (st.isFile() || st.isCharacterDevice());
    } catch {
      // not a descriptor we can inspect: treat it as a stream
    }
    this.#file = file;
    // A pipe whose reader went away (EPIPE) errors the stream asynchronously; without a listener
    // that is an uncaught exception.
    stream.on('error', (err: unknown) => this.#fail(err));
  }

  write(line: string | Uint8Array): void {
    if (!this.#file) {
      this.#stream.write(line, (err?: Error | null) => {
        if (err !== undefined && err !== null) this.#fail(err);
      });
      return;
    }
    try {
      if (this.#pending > 0) {
        this.#writeAll(Buffer.from((this.#fragment ? '\n' : '') + this.#notice()));
        this.#pending = 0;
        this.#fragment = false;
      }
      this.#writeAll(typeof line === 'string' ? Buffer.from(line) : line);
    } catch (err) {
      this.#fail(err);
    }
  }

  status(): LogSinkStatus {
    return { stream: this.#name, failures: this.#failures, pending: this.#pending, lastError: this.#lastError };
  }

  #writeAll(buf: Uint8Array): void {
    let off = 0;
    try {
      while (off < buf.length) off += this.#writeSync(this.#fd, buf, off, buf.length - off);
    } catch (err) {
      if (off > 0) this.#fragment = true;
      throw err;
    }
  }

  #fail(err: unknown): void {
    this.#failures++;
    this.#pending++;
    this.#lastError = errorCode(err);
  }

  #notice(): string {
    return JSON.stringify({
      time: new Date().toISOString(), level: 'warn', component: 'agent.log', code: ErrorCodes.LOG_WRITE,
      msg: `${this.#pending} log line(s) to ${this.#name} were lost: ${this.#lastError ?? 'unknown error'} — is the log disk full?`,
      lost: this.#pending, failuresTotal: this.#failures,
    }) + '\n';
  }
}
