// Serialisers for every frame type of RFC 9113 §6, writing into a FrameWriter. They trust their
// arguments (the connection checks state and windows first) except for sizes, which they split
// or refuse: a header block longer than the peer's frame size goes out as HEADERS plus
// CONTINUATION frames (§6.10), never interleaved with another frame.
import { Flag, FrameType } from './constants.ts';
import type { FrameWriter } from './frame-writer.ts';

/** DATA (§6.1); `padLength` > 0 adds the Pad Length octet and that many zero octets. */
/** DATA (§6.1). `borrowed`: `data` is only lent for this call (the writer copies it at once). */
export function writeData(w: FrameWriter, streamId: number, data: Buffer, endStream: boolean, padLength = 0, borrowed = false): void {
  const padded = padLength > 0;
  const len = data.length + (padded ? padLength + 1 : 0);
  w.header(len, FrameType.DATA, (endStream ? Flag.END_STREAM : 0) | (padded ? Flag.PADDED : 0), streamId);
  if (padded) writeBytes(w, [padLength]);
  if (borrowed) w.appendBorrowed(data);
  else w.append(data);
  if (padded) zeros(w, padLength);
}

export interface PriorityFields {
  exclusive: boolean;
  dependency: number;
  /** 1–256 as on the wire + 1 (§6.3: Weight is the wire value plus one). */
  weight: number;
}

/** HEADERS (§6.2) and as many CONTINUATION (§6.10) frames as `maxFrameSize` requires. */
export function writeHeaders(w: FrameWriter, streamId: number, block: Buffer, endStream: boolean, maxFrameSize: number, priority?: PriorityFields, padLength = 0): void {
  const extra = (priority !== undefined ? 5 : 0) + (padLength > 0 ? padLength + 1 : 0);
  const room = Math.max(1, maxFrameSize - extra);
  const first = Math.min(block.length, room);
  const flags = (endStream ? Flag.END_STREAM : 0) | (first === block.length ? Flag.END_HEADERS : 0) | (priority !== undefined ? Flag.PRIORITY : 0) | (padLength > 0 ? Flag.PADDED : 0);
  w.header(first + extra, FrameType.HEADERS, flags, streamId);
  if (padLength > 0) writeBytes(w, [padLength]);
  if (priority !== undefined) writePriorityFields(w, priority);
  appendCopy(w, block.subarray(0, first));
  if (padLength > 0) zeros(w, padLength);
  writeContinuations(w, streamId, block, first, maxFrameSize);
}

/** PUSH_PROMISE (§6.6) with CONTINUATION frames as needed (Weft never sends it; tests do). */
export function writePushPromise(w: FrameWriter, streamId: number, promisedId: number, block: Buffer, maxFrameSize: number): void {
  const room = Math.max(1, maxFrameSize - 4);
  const first = Math.min(block.length, room);
  w.header(first + 4, FrameType.PUSH_PROMISE, first === block.length ? Flag.END_HEADERS : 0, streamId);
  u32(w, promisedId & 0x7fffffff);
  appendCopy(w, block.subarray(0, first));
  writeContinuations(w, streamId, block, first, maxFrameSize);
}

function writeContinuations(w: FrameWriter, streamId: number, block: Buffer, from: number, maxFrameSize: number): void {
  let off = from;
  while (off < block.length) {
    const n = Math.min(block.length - off, maxFrameSize);
    w.header(n, FrameType.CONTINUATION, off + n === block.length ? Flag.END_HEADERS : 0, streamId);
    appendCopy(w, block.subarray(off, off + n));
    off += n;
  }
}

/** A single CONTINUATION frame (tests build floods and malformed sequences with it). */
export function writeContinuation(w: FrameWriter, streamId: number, fragment: Buffer, endHeaders: boolean): void {
  w.header(fragment.length, FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId);
  appendCopy(w, fragment);
}

/** PRIORITY (§6.3): deprecated by RFC 9113 but still a frame a peer may send. */
export function writePriority(w: FrameWriter, streamId: number, p: PriorityFields): void {
  w.header(5, FrameType.PRIORITY, 0, streamId);
  writePriorityFields(w, p);
}

function writePriorityFields(w: FrameWriter, p: PriorityFields): void {
  u32(w, ((p.exclusive ? 0x80000000 : 0) | (p.dependency & 0x7fffffff)) >>> 0);
  writeBytes(w, [p.weight - 1]);
}

/** RST_STREAM (§6.4). */
export function writeRstStream(w: FrameWriter, streamId: number, code: number): void {
  w.header(4, FrameType.RST_STREAM, 0, streamId);
  u32(w, code);
}

/** SETTINGS (§6.5): `settings` as [id, value, id, value, …]. */
export function writeSettings(w: FrameWriter, settings: readonly number[]): void {
  w.header((settings.length / 2) * 6, FrameType.SETTINGS, 0, 0);
  for (let i = 0; i < settings.length; i += 2) {
    const at = w.reserve(6);
    w.slab.writeUInt16BE(settings[i], at);
    w.slab.writeUInt32BE(settings[i + 1], at + 2);
    w.commit(6);
  }
}

export function writeSettingsAck(w: FrameWriter): void {
  w.header(0, FrameType.SETTINGS, Flag.ACK, 0);
}

/** PING (§6.7): 8 octets of opaque data. */
export function writePing(w: FrameWriter, ack: boolean, data: Buffer): void {
  w.header(8, FrameType.PING, ack ? Flag.ACK : 0, 0);
  const at = w.reserve(8);
  data.copy(w.slab, at, 0, 8);
  w.commit(8);
}

/** GOAWAY (§6.8). */
export function writeGoaway(w: FrameWriter, lastStreamId: number, code: number, debug?: Buffer): void {
  const dl = debug?.length ?? 0;
  w.header(8 + dl, FrameType.GOAWAY, 0, 0);
  u32(w, lastStreamId & 0x7fffffff);
  u32(w, code);
  if (debug !== undefined && dl > 0) appendCopy(w, debug);
}

/** WINDOW_UPDATE (§6.9). */
export function writeWindowUpdate(w: FrameWriter, streamId: number, increment: number): void {
  w.header(4, FrameType.WINDOW_UPDATE, 0, streamId);
  u32(w, increment & 0x7fffffff);
}

/** Any frame, raw: type, flags and payload as given (unknown types, malformed frames in tests). */
export function writeRaw(w: FrameWriter, type: number, flags: number, streamId: number, payload: Buffer): void {
  w.header(payload.length, type, flags, streamId);
  appendCopy(w, payload);
}

function u32(w: FrameWriter, v: number): void {
  const at = w.reserve(4);
  w.slab.writeUInt32BE(v >>> 0, at);
  w.commit(4);
}

function writeBytes(w: FrameWriter, bytes: readonly number[]): void {
  const at = w.reserve(bytes.length);
  for (let i = 0; i < bytes.length; i++) w.slab[at + i] = bytes[i];
  w.commit(bytes.length);
}

function zeros(w: FrameWriter, n: number): void {
  const at = w.reserve(n);
  w.slab.fill(0, at, at + n);
  w.commit(n);
}

/** Copies `b` into the slab (HPACK blocks live in the encoder's reused buffer). */
function appendCopy(w: FrameWriter, b: Buffer): void {
  if (b.length === 0) return;
  const at = w.reserve(b.length);
  b.copy(w.slab, at);
  w.commit(b.length);
}
