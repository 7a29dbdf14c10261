// One HBONE CONNECT tunnel on the codec engine (WEFT_L7_H2_ENGINE=weft) as one plain object: the
// codec stream's handler (agent/h2/stream-handler.ts) and the splice with the socket at the other
// end, in place of an H2DuplexStream plus tcp.ts's Splice. The same object serves both ends: the
// source agent's (the app's captured socket; opened with H2Session.open, it hears the CONNECT's
// answer first — `TunnelOpening`) and the destination agent's (the target's socket; taken from the
// listener's stream head, answered with `answer`).
//
// It keeps the rules of tcp.ts's pipeBoth, so an app sees what it would see with no mesh between:
// - flow control both ways: receive window goes back to the peer as the socket's write takes the
//   bytes, and is held past its high-water mark until 'drain'; the socket is not read while the
//   codec holds more than its high-water mark for the stream (sendData → false), until onWritable;
// - half-close both ways: the socket's FIN becomes END_STREAM and END_STREAM becomes a FIN, and
//   the other direction keeps flowing;
// - resets both ways: RST_STREAM (any code, before both directions ended) resets the socket; a
//   socket that closes without both directions done (ECONNRESET, an error, destroyed) resets the
//   stream with CONNECT_ERROR (RFC 9113 §8.5);
// - the result: bytes each way and the first error, reported once both the stream and the socket
//   have closed (the same SpliceResult, so the callers' counters and telemetry are unchanged).
// - writes to the socket are corked for the rest of the event-loop turn in which the first of them
//   came, so the DATA of one turn (a frame's content arrives in two or more pieces, one per TLS
//   read of 16 KiB; libuv hands over up to 32 reads in one go) leaves in one writev, not one
//   write syscall per piece.
// - a socket the agent dialed may read into one reused buffer (onLent, lent-reads.ts): each read
//   is copied into the frame writer's pooled slab rather than allocated afresh; and DATA from a
//   peer session read that way (H2Connection.dataLent) is copied into pooled slabs of the
//   tunnel's own, and a turn's copies, side by side, go to the socket as one write at the
//   uncork (lent-copies.ts).
// Socket listeners and the uncork are bound once per tunnel; nothing is allocated per chunk.
import type { Duplex } from 'node:stream';
import { H2Code } from '../../h2/constants.ts';
import type { H2Connection, H2Stream, HeadersKindValue } from '../../h2/connection.ts';
import { HeadersKind } from '../../h2/connection.ts';
import { streamResetError } from '../../h2/duplex-stream.ts';
import type { H2PendingStream } from '../../h2/stream-handler.ts';
import { resetSide, type SpliceDone } from '../tcp.ts';
import { LentCopies } from './lent-copies.ts';
import type { LentReader } from './lent-reads.ts';
import type { PoolEntry } from './pool.ts';

const EMPTY = Buffer.alloc(0);

/** What a client tunnel reports before it is spliced: the CONNECT's answer, or that none will come. */
export interface TunnelOpening {
  /** The answer's head (a flat header list, `:status` first). */
  answered(tunnel: CodecTunnel, headers: string[]): void;
  /** The stream closed, or never opened, before an answer; `err` says why when known. */
  failed(tunnel: CodecTunnel, err: Error | undefined): void;
}

/** Told once when the tunnel's stream is gone (closed, reset, or never opened): the pool's release. */
export interface TunnelReleaser {
  release(entry: PoolEntry): void;
}

function aborted(): Error {
  return Object.assign(new Error('connection aborted before both directions ended'), { code: 'ECONNABORTED' });
}

/** Was the socket cut short: an error, or closed before both of its directions finished? */
function socketAborted(s: Duplex): boolean {
  return s.errored !== null || !s.readableEnded || !s.writableFinished;
}

export class CodecTunnel implements H2PendingStream, LentReader {
  readonly conn: H2Connection;
  #s: H2Stream | undefined = undefined;
  /** The client's pending open (until the answer); cleared once answered or failed. */
  #opening: TunnelOpening | undefined;
  readonly #releaser: TunnelReleaser | undefined;
  readonly #entry: PoolEntry | undefined;
  /** Abandoned (destroy) or failed to open: the session's queue skips it. */
  destroyed = false;

  // Stream side.
  /** END_STREAM sent (or queued behind data): our direction is finished. */
  #localEnded = false;
  /** The peer's END_STREAM arrived. */
  #peerEnded = false;
  /** The stream reached `closed`, and how: undefined while open, 0 clean, else the reset code. */
  #closedCode: number | undefined = undefined;
  #streamClosed = false;
  /** We are sending RST_STREAM: the codec's onClosed for it is ours to report. */
  #resetting = false;
  /** The answer head went (server) or arrived (client). */
  #answered = false;
  /** Run once when the stream closes (a release, an early-close watch). */
  #closeFns: Array<() => void> | null = null;

  // Before the splice: what arrived from the peer, held against the stream window.
  #early: Buffer[] | null = null;

  // Splice.
  #socket: Duplex | undefined = undefined;
  #onDone: SpliceDone | undefined = undefined;
  /** The socket is `a` of pipeBoth(a, b): bytes it sends are bytesOut (the source agent's order). */
  #socketFirst = true;
  #fromSocket = 0;
  #toSocket = 0;
  /** Octets written to the socket and not yet returned as window (it was over its high-water mark). */
  #owed = 0;
  /** The socket is paused because the codec holds too much for this stream. */
  #socketPaused = false;
  #socketClosed = false;
  /** The socket is corked until this turn's immediate (#uncork). */
  #corked = false;
  /** Copies of DATA read into the session's reused buffer, made for the socket's writes (lent-copies.ts). */
  #copies: LentCopies | undefined = undefined;
  #error: Error | undefined = undefined;
  #done = false;

  /** Client: `opening` hears the answer; `releaser.release(entry)` runs once when the stream is gone. */
  constructor(conn: H2Connection, opening?: TunnelOpening, releaser?: TunnelReleaser, entry?: PoolEntry) {
    this.conn = conn;
    this.#opening = opening;
    this.#releaser = releaser;
    this.#entry = entry;
  }

  /** The codec stream id (undefined while the client's open waits for the handshake). */
  get id(): number | undefined {
    return this.#s?.id;
  }

  /** The stream reset code (0 after a clean close), undefined while open — as a Duplex's rstCode. */
  get rstCode(): number | undefined {
    return this.#closedCode;
  }

  /** The stream is gone (closed, reset or never opened). */
  get closed(): boolean {
    return this.#streamClosed;
  }

  // ---- the stream (H2PendingStream) ----

  attach(s: H2Stream): void {
    this.#s = s;
    s.ctx = this;
    // Each piece goes straight to a corked socket write (#toSocketWrite): no frame need be assembled.
    s.pieces = true;
    // A piece of a lent read is copied here, into a pooled slab (#toSocketWrite), not by the codec.
    s.copiesLent = true;
  }

  failOpen(err: Error): void {
    this.destroyed = true;
    this.#streamGone(H2Code.CANCEL, err);
  }

  onHeaders(headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    if (kind !== HeadersKind.HEAD) return; // 1xx and trailers mean nothing to a tunnel
    if (!this.#answered) {
      this.#answered = true;
      const opening = this.#opening;
      this.#opening = undefined;
      if (opening !== undefined) opening.answered(this, headers);
    }
    if (endStream) this.#peerEnd();
  }

  onData(data: Buffer, endStream: boolean): void {
    const s = this.#s;
    if (data.length > 0 && s !== undefined) {
      const socket = this.#socket;
      if (socket === undefined) (this.#early ??= []).push(this.conn.dataLent ? Buffer.from(data) : data);
      else this.#toSocketWrite(socket, s, data);
    }
    if (endStream) this.#peerEnd();
  }

  onReset(code: number): void {
    this.#streamGone(code, code === H2Code.NO_ERROR || code === H2Code.CANCEL ? undefined : streamResetError(code));
  }

  onClosed(): void {
    // A reset we sent is reported by #reset; one the peer sent (or the connection's end) comes to
    // onReset right after this, in the same call. What is left on the next microtask was a clean
    // close (both END_STREAMs). Our END_STREAM may still have been queued behind data when a reset
    // came, so "both ended" alone cannot tell.
    if (this.#resetting || this.#streamClosed) return;
    queueMicrotask(this.#cleanClose);
  }

  readonly #cleanClose = (): void => {
    this.#streamGone(H2Code.NO_ERROR, undefined);
  };

  onWritable(): void {
    if (!this.#socketPaused) return;
    this.#socketPaused = false;
    this.#socket?.resume();
  }

  // ---- before the splice ----

  /** Server: the answer to the CONNECT. With `end` (a refusal) the rest of the request is declined (RST_STREAM NO_ERROR, RFC 9113 §8.1). */
  answer(headers: string[], end: boolean): void {
    const s = this.#s;
    if (s === undefined || this.#answered || this.#streamClosed) return;
    this.#answered = true;
    this.conn.sendHeaders(s, headers, end);
    if (!end) return;
    this.#localEnded = true;
    if (!this.#peerEnded) this.#reset(H2Code.NO_ERROR);
  }

  /** Bytes to the peer before the splice (a replayed head); false: over the codec's high-water mark. */
  write(chunk: Buffer | string): boolean {
    const s = this.#s;
    if (s === undefined || this.#localEnded || this.#streamClosed) return false;
    return this.conn.sendData(s, typeof chunk === 'string' ? Buffer.from(chunk) : chunk, false);
  }

  /** Our direction ends (END_STREAM), before the splice (the app's FIN came with a replayed head). */
  end(): void {
    const s = this.#s;
    if (s === undefined || this.#localEnded || this.#streamClosed) return;
    this.#localEnded = true;
    this.conn.sendData(s, EMPTY, true);
  }

  /** Cancels the tunnel (RST_STREAM CANCEL, or leaves the handshake queue); its socket, if spliced, is reset. */
  destroy(): void {
    if (this.#streamClosed) return;
    this.destroyed = true;
    const s = this.#s;
    if (s === undefined) {
      this.#streamGone(H2Code.CANCEL, undefined);
      return;
    }
    this.#reset(H2Code.CANCEL);
  }

  /** Resets the tunnel as a TCP reset crosses it: RST_STREAM CONNECT_ERROR, and the socket reset. */
  resetTunnel(): void {
    if (this.#streamClosed) return;
    this.#reset(H2Code.CONNECT_ERROR);
  }

  /** `fn` runs once when the stream is gone (at once if it already is). */
  onClose(fn: () => void): void {
    if (this.closed) {
      queueMicrotask(fn);
      return;
    }
    (this.#closeFns ??= []).push(fn);
  }

  offClose(fn: () => void): void {
    const fns = this.#closeFns;
    if (fns === null) return;
    const i = fns.indexOf(fn);
    if (i >= 0) fns.splice(i, 1);
  }

  // ---- the splice ----

  /**
   * Splices the tunnel with `socket` until both have closed; `onDone` runs once then. `socketFirst`:
   * the socket is `a` of pipeBoth(a, b) (its bytes are bytesOut) — the source agent's order; the
   * destination agent's is pipeBoth(stream, socket).
   */
  splice(socket: Duplex, onDone: SpliceDone | undefined, socketFirst: boolean): void {
    this.#socket = socket;
    this.#onDone = onDone;
    this.#socketFirst = socketFirst;
    // Without this a socket ends its write side as soon as its read side ends (half-close).
    (socket as Duplex & { allowHalfOpen?: boolean }).allowHalfOpen = true;
    socket.on('error', this.#onSocketError);
    socket.on('close', this.#onSocketClose);
    socket.on('end', this.#onSocketEnd);
    socket.on('drain', this.#onSocketDrain);
    socket.on('data', this.#onSocketData);
    const s = this.#s;
    const early = this.#early;
    this.#early = null;
    if (early !== null && s !== undefined) for (const chunk of early) this.#toSocketWrite(socket, s, chunk);
    if (this.#streamClosed) {
      // Gone before the splice: a reset crosses now; a clean end already ended our side.
      if (this.#closedCode !== H2Code.NO_ERROR) this.#abortSocket(socket);
      else if (this.#peerEnded && !socket.destroyed) socket.end();
    } else if (this.#peerEnded && !socket.destroyed) {
      socket.end();
    }
    // A socket whose FIN came before the splice (sniffing read it): our direction ends now.
    if (socket.readableEnded) this.#onSocketEnd();
    // A socket paused before it was handed over (the sniffer does) flows now.
    socket.resume();
    if (socket.closed) queueMicrotask(this.#onSocketClose);
  }

  #toSocketWrite(socket: Duplex, s: H2Stream, data: Buffer): void {
    this.#toSocket += data.length;
    if (socket.destroyed) return;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      setImmediate(this.#uncork);
    }
    if (this.conn.dataLent) {
      // Copied into the run of this turn, written at its end (#uncork) in one piece.
      const copies = (this.#copies ??= new LentCopies());
      const full = copies.append(data);
      if (full !== undefined) this.#writeRun(socket, s, full);
      return;
    }
    this.#writeLentRun(socket, s);
    if (socket.write(data) && this.#owed === 0) this.conn.consume(s, data.length);
    else this.#owed += data.length;
  }

  /** What lent copies wait in the run goes to the socket now (before other writes, an end, the uncork). */
  #writeLentRun(socket: Duplex, s: H2Stream | undefined): void {
    const run = this.#copies?.take();
    if (run !== undefined && s !== undefined) this.#writeRun(socket, s, run);
  }

  #writeRun(socket: Duplex, s: H2Stream, run: Buffer): void {
    if (socket.destroyed) return;
    if (socket.write(run, (this.#copies as LentCopies).written) && this.#owed === 0) this.conn.consume(s, run.length);
    else this.#owed += run.length;
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) return;
    this.#writeLentRun(socket, this.#s);
    if (socket.writableCorked > 0) socket.uncork();
  };

  readonly #onSocketData = (chunk: Buffer): void => {
    this.#fromSocket += chunk.length;
    const s = this.#s;
    if (s === undefined || this.#localEnded || this.#streamClosed) return;
    if (!this.conn.sendData(s, chunk, false) && !this.#streamClosed) {
      this.#socketPaused = true;
      this.#socket?.pause();
    }
  };

  /**
   * A read of a socket made with lentReads (agent/proxy/hbone/lent-reads.ts): `chunk` is reused
   * once this returns, so it goes by sendBorrowed (copied). false stops the socket's reads until
   * onWritable resumes it.
   */
  onLent(chunk: Buffer): boolean {
    this.#fromSocket += chunk.length;
    const s = this.#s;
    if (s === undefined || this.#localEnded || this.#streamClosed) return true;
    if (!this.conn.sendBorrowed(s, chunk) && !this.#streamClosed) {
      this.#socketPaused = true;
      this.#socket?.pause();
      return false;
    }
    return true;
  }

  readonly #onSocketDrain = (): void => {
    const s = this.#s;
    const n = this.#owed;
    if (n === 0 || s === undefined) return;
    this.#owed = 0;
    this.conn.consume(s, n);
  };

  /** The socket's FIN: END_STREAM after what is queued (the other direction keeps flowing). */
  readonly #onSocketEnd = (): void => {
    this.end();
  };

  readonly #onSocketError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onSocketClose = (): void => {
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    const socket = this.#socket as Duplex;
    if (socketAborted(socket)) {
      this.#error ??= aborted();
      if (!this.#streamClosed) this.#reset(H2Code.CONNECT_ERROR);
    }
    this.#finishIfDone();
  };

  // ---- internals ----

  #peerEnd(): void {
    if (this.#peerEnded) return;
    this.#peerEnded = true;
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed) return;
    this.#writeLentRun(socket, this.#s);
    socket.end();
  }

  /** RST_STREAM from us; the codec closes the stream at once (onClosed runs, no onReset). */
  #reset(code: number): void {
    const s = this.#s;
    this.#resetting = true;
    if (s !== undefined && this.conn.stream(s.id) === s) this.conn.reset(s, code);
    this.#streamGone(code, undefined);
  }

  /** The stream is closed (`code` 0) or reset; once. */
  #streamGone(code: number, err: Error | undefined): void {
    if (this.#streamClosed) return;
    this.#streamClosed = true;
    this.#closedCode = code;
    this.#early = null;
    const opening = this.#opening;
    this.#opening = undefined;
    if (opening !== undefined) opening.failed(this, err);
    if (this.#releaser !== undefined) this.#releaser.release(this.#entry as PoolEntry);
    const fns = this.#closeFns;
    this.#closeFns = null;
    if (fns !== null) for (const fn of fns) fn();
    const socket = this.#socket;
    if (socket === undefined) return;
    if (code !== H2Code.NO_ERROR || !this.#peerEnded || !this.#localEnded) {
      this.#error ??= err ?? aborted();
      this.#abortSocket(socket);
    }
    this.#finishIfDone();
  }

  #abortSocket(socket: Duplex): void {
    this.#error ??= aborted();
    resetSide(socket);
  }

  #finishIfDone(): void {
    if (this.#done || !this.#streamClosed || !this.#socketClosed) return;
    this.#done = true;
    this.#copies?.release();
    const first = this.#socketFirst;
    this.#onDone?.({ bytesIn: first ? this.#toSocket : this.#fromSocket, bytesOut: first ? this.#fromSocket : this.#toSocket, error: this.#error });
  }
}
