// Splices two byte streams (an app socket and an HBONE tunnel stream, or two sockets) the way TCP
// itself would: each direction ends on its own (half-close), and an abort on one side becomes an
// abort on the other (a TCP RST becomes RST_STREAM and back), so the apps at both ends see what
// they would see without the mesh in the middle.
import { Socket } from 'node:net';
import type { Http2Stream } from 'node:http2';
import { H2Code } from '../h2/constants.ts';
import type { Duplex } from 'node:stream';
import { releaseClosedStream } from '../http/h2-release.ts';

export interface SpliceResult {
  /** Bytes read from `b` and written to `a`. */
  bytesIn: number;
  /** Bytes read from `a` and written to `b`. */
  bytesOut: number;
  /** The first error either side reported, or an ECONNABORTED error if a side was cut short. */
  error?: Error;
}

export type SpliceDone = (result: SpliceResult) => void;

function isHttp2Stream(s: Duplex): s is Duplex & Http2Stream {
  return 'rstCode' in s && typeof (s as Partial<Http2Stream>).close === 'function';
}

/** Was this tunnel stream reset (RST_STREAM with an error code, either way)? */
function wasReset(s: Duplex): boolean {
  return isHttp2Stream(s) && s.rstCode !== undefined && s.rstCode !== H2Code.NO_ERROR;
}

/** Did this side close without both of its directions finishing cleanly? */
function aborted(s: Duplex): boolean {
  return wasReset(s) || s.errored !== null || !s.readableEnded || !s.writableFinished;
}

function finishWithoutEndStream(cb: (err?: Error | null) => void): void {
  cb();
}

/** Abort one side in its own protocol's way, so the peer app learns it was a reset, not an end. */
export function resetSide(s: Duplex): void {
  if (s.destroyed) return;
  if (isHttp2Stream(s)) {
    // Node's close(code) first end()s the writable side, which puts an END_STREAM on the wire
    // ahead of the RST_STREAM (in a separate write): the peer would forward a clean FIN and only
    // then learn of the reset. Finishing without the shutdown leaves just the RST_STREAM.
    s._final = finishWithoutEndStream;
    // RFC 9113 §8.5: a TCP reset on a CONNECT tunnel is reported as CONNECT_ERROR.
    s.close(H2Code.CONNECT_ERROR);
  } else if (s instanceof Socket && !s.writableEnded) {
    // (libuv cannot RST a socket whose FIN is already queued; then a close is all that is left.)
    try {
      s.resetAndDestroy();
    } catch {
      // Not a TCP handle (unix socket, TLS over a pipe): a plain close is the closest we have.
      s.destroy();
    }
  } else {
    s.destroy();
  }
}

// One object per spliced pair; its handlers are created once per connection, never per chunk.
class Splice {
  readonly a: Duplex;
  readonly b: Duplex;
  readonly onDone: SpliceDone | undefined;
  bytesIn = 0;
  bytesOut = 0;
  error: Error | undefined = undefined;
  closed = 0;

  constructor(a: Duplex, b: Duplex, onDone: SpliceDone | undefined) {
    this.a = a;
    this.b = b;
    this.onDone = onDone;
  }

  // Copying is ours rather than pipe()'s: two pipe() calls made 18 closures and their contexts per
  // connection (~2.5 KB of heap on every agent a connection crosses: 10 000 idle connections,
  // 25 MiB). These four are the whole of it: write what one side read to the other, pause the
  // reader while the writer's buffer is full, resume it on 'drain'.
  readonly forwardOut = (chunk: Buffer): void => {
    this.bytesOut += chunk.length;
    if (!this.b.destroyed && !this.b.write(chunk)) this.a.pause();
  };
  readonly forwardIn = (chunk: Buffer): void => {
    this.bytesIn += chunk.length;
    if (!this.a.destroyed && !this.a.write(chunk)) this.b.pause();
  };
  readonly resumeA = (): void => { this.a.resume(); };
  readonly resumeB = (): void => { this.b.resume(); };
  readonly onError = (err: Error): void => { this.error ??= err; };
  readonly onEndA = (): void => { this.sideEnded(this.a, this.b); };
  readonly onEndB = (): void => { this.sideEnded(this.b, this.a); };
  readonly onCloseA = (): void => { this.sideClosed(this.a, this.b); };
  readonly onCloseB = (): void => { this.sideClosed(this.b, this.a); };

  start(): void {
    for (const s of [this.a, this.b]) {
      // Without this a socket ends its write side as soon as its read side ends, which would cut
      // the other direction of a half-closed connection.
      if (s instanceof Socket) s.allowHalfOpen = true;
    }
    this.a.on('error', this.onError);
    this.b.on('error', this.onError);
    this.a.on('close', this.onCloseA);
    this.b.on('close', this.onCloseB);
    this.a.on('end', this.onEndA);
    this.b.on('end', this.onEndB);
    // Ends are forwarded by sideEnded, not by the copy: an HTTP/2 stream that receives RST_STREAM
    // also emits 'end', which must not reach the app as a clean FIN.
    this.b.on('drain', this.resumeA);
    this.a.on('drain', this.resumeB);
    this.a.on('data', this.forwardOut);
    this.b.on('data', this.forwardIn);
    // A reader paused before we were handed it (sniffing does) flows now, unless its writer is
    // already full, as pipe() did.
    if (this.b.writableNeedDrain) this.a.pause();
    else this.a.resume();
    if (this.a.writableNeedDrain) this.b.pause();
    else this.b.resume();
    // A side that closed before we were handed it will never emit 'close' again.
    if (this.a.closed) queueMicrotask(this.onCloseA);
    if (this.b.closed) queueMicrotask(this.onCloseB);
  }

  /** One direction finished: half-close the other side's write side, unless it was a reset. */
  sideEnded(side: Duplex, other: Duplex): void {
    if (wasReset(side)) resetSide(other);
    else if (!other.destroyed) other.end();
  }

  sideClosed(side: Duplex, other: Duplex): void {
    if (aborted(side)) {
      if (this.error === undefined) {
        this.error = Object.assign(new Error('connection aborted before both directions ended'), { code: 'ECONNABORTED' });
      }
      resetSide(other);
    }
    if (++this.closed !== 2) return;
    this.onDone?.({ bytesIn: this.bytesIn, bytesOut: this.bytesOut, error: this.error });
    // A tunnel stream stays rooted by node until a full GC: it must not keep the splice and the
    // app's socket with it (agent/http/h2-release.ts).
    if (isHttp2Stream(this.a)) releaseClosedStream(this.a);
    if (isHttp2Stream(this.b)) releaseClosedStream(this.b);
  }
}

/**
 * Copies a → b and b → a until both directions ended, with half-close and resets carried
 * across (see the file comment). `onDone` runs once, after both sides closed.
 */
export function pipeBoth(a: Duplex, b: Duplex, onDone?: SpliceDone): void {
  new Splice(a, b, onDone).start();
}
