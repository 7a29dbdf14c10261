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

export class GuardedSink implements LogSink {
  readonly #name: string;
  readonly #fd: number;
  readonly #stream: NodeJS.WritableStream;
  /** Regular files are written with writeSync (what Node does for them anyway), so errors are ours to catch. */
  readonly #file: boolean;
  #failures = 0;
  #pending = 0;
  #lastError: string | null = null;

  constructor(name: string, stream: NodeJS.WritableStream & { fd?: number }) {
    this.#name = name;
    this.#stream = stream;
    this.#fd = stream.fd ?? -1;
    let file = false;
    try {
      file = this.#fd >= 0 && fstatSync(this.#fd).isFile();
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
        this.#writeAll(Buffer.from(this.#notice()));
        this.#pending = 0;
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
    while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off);
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
