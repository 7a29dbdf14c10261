// Reads a connection's first bytes until detect.ts gives a verdict, then hands the socket on with
// those bytes still unread by anyone else (they are given back with the verdict). A client that
// sends nothing within the timeout is treated as opaque TCP — it may be a server-first protocol we
// did not know about — and counted, so an operator can declare the port opaque.
import type net from 'node:net';
import { detectProtocol, type Protocol } from './detect.ts';

export interface Sniffed {
  protocol: Protocol;
  /** The bytes read while sniffing (possibly empty); the receiver must replay them. */
  head: Buffer;
  timedOut: boolean;
  /**
   * The client half-closed before the receiver took over: its 'end' is spent (Node emits it even
   * on a paused socket once the buffer is empty), so the receiver must end upstream itself. Kept
   * current until then, not just at the verdict.
   */
  readonly ended: boolean;
}

const EMPTY = Buffer.alloc(0);
function nobody(): void {}

// One object per sniffed connection; its handlers are created once, not per chunk. It is also
// the verdict handed on (implements Sniffed), so `ended` stays live until the receiver reads it;
// once the receiver has taken the socket it lets go (`releaseSniffed`): otherwise its 'end'
// listener keeps it, its closures, its timer and the caller's `done` (with everything that closure
// saw) for as long as the connection lives — about 1 KB per idle keep-alive connection.
class Sniffer implements Sniffed {
  readonly socket: net.Socket;
  done: (r: Sniffed) => void;
  head: Buffer = EMPTY;
  timer: NodeJS.Timeout | undefined;
  finished = false;
  ended = false;
  protocol: Protocol = 'tcp';
  timedOut = false;

  constructor(socket: net.Socket, timeoutMs: number, done: (r: Sniffed) => void) {
    this.socket = socket;
    this.done = done;
    // Until someone splices it, a FIN must not make Node end our side of the socket too.
    socket.allowHalfOpen = true;
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.once('close', this.onEnd);
    this.timer = setTimeout(this.onTimeout, timeoutMs);
  }

  readonly onData = (chunk: Buffer): void => {
    this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    const v = detectProtocol(this.head);
    if (v !== 'need-more') this.finish(v, false);
  };

  // A client that half-closes (or goes away) before saying enough is opaque: TCP carries it as is.
  readonly onEnd = (): void => {
    this.ended = true;
    if (!this.finished) this.finish('tcp', false);
  };
  readonly onTimeout = (): void => this.finish('tcp', true);

  finish(protocol: Protocol, timedOut: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onEnd);
    // 'end' stays observed (once): it may come before the receiver takes the socket.
    this.protocol = protocol;
    this.timedOut = timedOut;
    this.done(this);
  }

  release(): void {
    if (!this.finished) return;
    this.socket.off('end', this.onEnd);
    this.timer = undefined;
    this.done = nobody;
  }
}

/**
 * The receiver has taken the socket (its own 'end' listener is on, or `ended` was read and
 * forwarded): the sniffer stops watching it and drops what it held, except `head`.
 */
export function releaseSniffed(s: Sniffed | undefined): void {
  if (s instanceof Sniffer) s.release();
}

/**
 * For the opaque path: writes the sniffed bytes to the upstream ahead of whatever pipeBoth copies
 * next, and forwards a half-close that happened while sniffing (pipeBoth will not see that 'end').
 */
export function replayHead(upstream: { write(b: Buffer): boolean; end(): void }, s: Sniffed | undefined): void {
  if (s === undefined) return;
  if (s.head.length > 0) upstream.write(s.head);
  if (s.ended) upstream.end();
  // pipeBoth, called next by every caller, watches the client's 'end' from here on.
  releaseSniffed(s);
}

/** Sniffs `socket`; `done` runs once with the socket paused and `head` not yet consumed. */
export function sniffProtocol(socket: net.Socket, timeoutMs: number, done: (r: Sniffed) => void): void {
  new Sniffer(socket, timeoutMs, done);
}
