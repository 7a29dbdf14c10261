// Splits the byte stream of one connection into frames (RFC 9113 §4.1). A frame that lies
// whole in the chunk just read is handed over as a subarray of it (no copy). An unpadded DATA
// frame that straddles reads need not be assembled: its header is offered to the sink
// (onDataHead), and if the sink takes it, its content is handed on in pieces, each a subarray of
// the chunk it arrived in (onDataPart) — over TLS every full-size DATA frame straddles (a TLS read
// yields at most 16 KiB of cleartext, a 16 KiB frame is 9 octets more), and assembling each costs
// one allocation and one copy per frame on a bulk stream. Any other frame that straddles reads is
// assembled in a buffer of its own. The length is checked against our SETTINGS_MAX_FRAME_SIZE
// before any payload is buffered (FRAME_SIZE_ERROR, §4.2), so a peer cannot make us hold more
// than one maximum frame.
// A chunk may be lent (push(chunk, true): a socket reading into one reused buffer,
// agent/proxy/hbone/lent-reads.ts): it is overwritten by the next read. Then a whole frame other
// than DATA is handed over as a copy (they are few, and their readers may keep them), and a DATA
// payload or piece that is a view of the chunk is handed over with `lentView` true for the call:
// the sink must copy what it keeps.
import { CLIENT_PREFACE, FRAME_HEADER_LENGTH, Flag, FrameType, H2Code } from './constants.ts';
import { connError } from './h2-error.ts';

export interface FrameSink {
  /** One frame; `payload` is a view of the chunk read or a buffer of its own: it may be kept. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /**
   * (Optional: a sink without it gets every frame whole from onFrame.) An unpadded DATA frame whose `length` octets of content (> 0) did not arrive with its header:
   * they follow as onDataPart calls, the last with `last` true, unless a connection error stops
   * the reader first. A throw here is taken as one from onFrame.
   */
  onDataHead?(flags: number, streamId: number, length: number): void;
  /** The next piece of the announced DATA frame's content: a view of the chunk read, which may be kept unless `lentView`. */
  onDataPart?(part: Buffer, last: boolean): void;
}

export class FrameReader {
  /** Our SETTINGS_MAX_FRAME_SIZE (what the peer may send). */
  maxFrameSize: number;
  #sink: FrameSink;
  /** Octets of the client preface still expected (server side), 0 after it. */
  #prefaceLeft: number;
  /** A partial frame: header fields, and the payload assembled so far. */
  #partial: Buffer = Buffer.alloc(0);
  #partialLen = 0;
  #header = Buffer.alloc(FRAME_HEADER_LENGTH);
  #headerLen = 0;
  #need = -1;
  #type = 0;
  #flags = 0;
  #stream = 0;
  /** The frame in progress is a DATA frame handed on in pieces (onDataPart), not assembled. */
  #piecewise = false;
  /** The sink takes DATA in pieces. */
  readonly #pieces: boolean;
  #stopped = false;
  /**
   * During an onFrame (DATA) or onDataPart call: the payload is a view of a lent chunk, valid only
   * until the call returns.
   */
  lentView = false;

  constructor(sink: FrameSink, opts: { maxFrameSize: number; expectPreface: boolean }) {
    this.#sink = sink;
    this.#pieces = sink.onDataHead !== undefined && sink.onDataPart !== undefined;
    this.maxFrameSize = opts.maxFrameSize;
    this.#prefaceLeft = opts.expectPreface ? CLIENT_PREFACE.length : 0;
  }

  /** After a connection error: ignore whatever else arrives. */
  stop(): void {
    this.#stopped = true;
  }

  /** Feeds bytes; throws an H2Error (connection error) on a bad preface or frame length. */
  push(chunk: Buffer, lent = false): void {
    this.lentView = false;
    let off = 0;
    const end = chunk.length;
    if (this.#prefaceLeft > 0) {
      const at = CLIENT_PREFACE.length - this.#prefaceLeft;
      const n = Math.min(this.#prefaceLeft, end);
      if (CLIENT_PREFACE.compare(chunk, 0, n, at, at + n) !== 0) throw connError(H2Code.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
      this.#prefaceLeft -= n;
      off = n;
    }
    while (off < end && !this.#stopped) {
      if (this.#need < 0) {
        // Reading a frame header: fast path when all 9 octets are here.
        if (this.#headerLen === 0 && end - off >= FRAME_HEADER_LENGTH) {
          off = this.#startFrame(chunk, off);
        } else {
          const n = Math.min(FRAME_HEADER_LENGTH - this.#headerLen, end - off);
          chunk.copy(this.#header, this.#headerLen, off, off + n);
          this.#headerLen += n;
          off += n;
          if (this.#headerLen < FRAME_HEADER_LENGTH) return;
          this.#headerLen = 0;
          this.#startFrame(this.#header, 0);
        }
        if (this.#need === 0) this.#emit(EMPTY);
        else if (this.#need > 0 && end - off >= this.#need) {
          const n = this.#need;
          this.#need = -1;
          if (!lent) this.#sink.onFrame(this.#type, this.#flags, this.#stream, chunk.subarray(off, off + n));
          else if (this.#type !== FrameType.DATA) this.#sink.onFrame(this.#type, this.#flags, this.#stream, Buffer.from(chunk.subarray(off, off + n)));
          else {
            this.lentView = true;
            this.#sink.onFrame(this.#type, this.#flags, this.#stream, chunk.subarray(off, off + n));
            this.lentView = false;
          }
          off += n;
        } else if (this.#need > 0 && this.#pieces && this.#type === FrameType.DATA && (this.#flags & Flag.PADDED) === 0 && (this.#sink as Required<FrameSink>).onDataHead(this.#flags, this.#stream, this.#need)) {
          this.#piecewise = true;
          this.#partialLen = 0;
        } else if (this.#need > 0) {
          // A frame of its own buffer, so the payload handed on may be kept.
          this.#partial = Buffer.allocUnsafe(this.#need);
          this.#partialLen = 0;
        }
        continue;
      }
      const n = Math.min(this.#need - this.#partialLen, end - off);
      if (this.#piecewise) {
        this.#partialLen += n;
        const last = this.#partialLen === this.#need;
        if (last) {
          this.#piecewise = false;
          this.#need = -1;
        }
        this.lentView = lent;
        (this.#sink as Required<FrameSink>).onDataPart(chunk.subarray(off, off + n), last);
        this.lentView = false;
        off += n;
        continue;
      }
      chunk.copy(this.#partial, this.#partialLen, off, off + n);
      this.#partialLen += n;
      off += n;
      if (this.#partialLen === this.#need) this.#emit(this.#partial);
    }
  }

  /** Parses a frame header at `buf[at]`; returns the offset after it. */
  #startFrame(buf: Buffer, at: number): number {
    const len = (buf[at] << 16) | (buf[at + 1] << 8) | buf[at + 2];
    this.#type = buf[at + 3];
    this.#flags = buf[at + 4];
    this.#stream = buf.readUInt32BE(at + 5) & 0x7fffffff; // the reserved bit is ignored (§4.1)
    if (len > this.maxFrameSize) throw connError(H2Code.FRAME_SIZE_ERROR, `frame of ${len} octets over SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`);
    this.#need = len;
    return at + FRAME_HEADER_LENGTH;
  }

  #emit(payload: Buffer): void {
    this.#need = -1;
    this.#sink.onFrame(this.#type, this.#flags, this.#stream, payload);
  }
}

const EMPTY = Buffer.alloc(0);
