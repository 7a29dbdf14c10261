// The per-type payload rules of RFC 9113 §6, as pure functions over one frame: each checks the
// frame's own constraints (stream 0 or not, fixed lengths, padding, setting values) and fills
// a reusable FrameFields object — no allocation per frame. Violations throw the H2Error the
// section mandates; rules that need connection or stream state live in the connection.
import { Flag, H2Code, MAX_ALLOWED_FRAME_SIZE, MAX_WINDOW, SettingId } from './constants.ts';
import { connError, streamError } from './h2-error.ts';

export class FrameFields {
  /** Start and end of the content in the payload (DATA data, HEADERS/PUSH_PROMISE/CONTINUATION block fragment, GOAWAY debug data). */
  start = 0;
  end = 0;
  /** Padding octets (DATA, HEADERS), counted for flow control with the rest of the frame. */
  padLength = 0;
  hasPriority = false;
  exclusive = false;
  dependency = 0;
  weight = 16;
  /** RST_STREAM and GOAWAY error code. */
  errorCode = 0;
  /** GOAWAY last stream id, PUSH_PROMISE promised stream id. */
  streamRef = 0;
  /** WINDOW_UPDATE increment. */
  increment = 0;
}

function padded(f: FrameFields, flags: number, payload: Buffer, at: number, type: string): number {
  if ((flags & Flag.PADDED) === 0) {
    f.padLength = 0;
    return at;
  }
  if (payload.length < at + 1) throw connError(H2Code.FRAME_SIZE_ERROR, `${type} frame too short for its Pad Length`);
  f.padLength = payload[at];
  return at + 1;
}

/** DATA (§6.1). */
export function decodeData(f: FrameFields, flags: number, streamId: number, payload: Buffer): void {
  if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'DATA on stream 0');
  const at = padded(f, flags, payload, 0, 'DATA');
  // "If the length of the padding is the length of the frame payload or greater, the recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
  if (f.padLength >= payload.length - at + 1 || at + f.padLength > payload.length) throw connError(H2Code.PROTOCOL_ERROR, 'DATA padding as long as the payload');
  f.start = at;
  f.end = payload.length - f.padLength;
}

/** HEADERS (§6.2). */
export function decodeHeaders(f: FrameFields, flags: number, streamId: number, payload: Buffer): void {
  if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'HEADERS on stream 0');
  let at = padded(f, flags, payload, 0, 'HEADERS');
  f.hasPriority = (flags & Flag.PRIORITY) !== 0;
  if (f.hasPriority) {
    if (payload.length < at + 5) throw connError(H2Code.FRAME_SIZE_ERROR, 'HEADERS frame too short for its priority fields');
    readPriority(f, payload, at);
    at += 5;
  }
  if (at + f.padLength > payload.length) throw connError(H2Code.PROTOCOL_ERROR, 'HEADERS padding longer than the payload');
  f.start = at;
  f.end = payload.length - f.padLength;
  // A self-dependency (§5.3.1) is a stream error, but the block must still be decoded first to
  // keep HPACK in step: the connection checks `dependency === streamId` after decoding.
}

function readPriority(f: FrameFields, payload: Buffer, at: number): void {
  const v = payload.readUInt32BE(at);
  f.exclusive = (v & 0x80000000) !== 0;
  f.dependency = v & 0x7fffffff;
  f.weight = payload[at + 4] + 1;
}

/** PRIORITY (§6.3). */
export function decodePriority(f: FrameFields, streamId: number, payload: Buffer): void {
  if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'PRIORITY on stream 0');
  if (payload.length !== 5) throw streamError(H2Code.FRAME_SIZE_ERROR, streamId, 'PRIORITY frame not 5 octets');
  readPriority(f, payload, 0);
  if (f.dependency === streamId) throw streamError(H2Code.PROTOCOL_ERROR, streamId, 'PRIORITY: a stream cannot depend on itself');
}

/** RST_STREAM (§6.4). */
export function decodeRstStream(f: FrameFields, streamId: number, payload: Buffer): void {
  if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
  if (payload.length !== 4) throw connError(H2Code.FRAME_SIZE_ERROR, 'RST_STREAM frame not 4 octets');
  f.errorCode = payload.readUInt32BE(0);
}

/** A SETTINGS frame's parameters, checked (§6.5, §6.5.2); `apply(id, value)` is called per parameter, unknown ones included. */
export interface SettingsSink {
  onSetting(id: number, value: number): void;
}

/** SETTINGS (§6.5). Returns true for an ACK. */
export function decodeSettings(flags: number, streamId: number, payload: Buffer, sink: SettingsSink | undefined): boolean {
  if (streamId !== 0) throw connError(H2Code.PROTOCOL_ERROR, 'SETTINGS on a stream');
  if (flags & Flag.ACK) {
    if (payload.length !== 0) throw connError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
    return true;
  }
  if (payload.length % 6 !== 0) throw connError(H2Code.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6');
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    checkSetting(id, value);
    sink?.onSetting(id, value);
  }
  return false;
}

/** The value rules of §6.5.2. */
export function checkSetting(id: number, value: number): void {
  if (id === SettingId.ENABLE_PUSH && value > 1) throw connError(H2Code.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
  if (id === SettingId.INITIAL_WINDOW_SIZE && value > MAX_WINDOW) throw connError(H2Code.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} over 2^31-1`);
  if (id === SettingId.MAX_FRAME_SIZE && (value < 16_384 || value > MAX_ALLOWED_FRAME_SIZE)) throw connError(H2Code.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} outside 2^14..2^24-1`);
}

/** PUSH_PROMISE (§6.6): parsed for completeness; the connection refuses it (push is disabled). */
export function decodePushPromise(f: FrameFields, flags: number, streamId: number, payload: Buffer): void {
  if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'PUSH_PROMISE on stream 0');
  const at = padded(f, flags, payload, 0, 'PUSH_PROMISE');
  if (payload.length < at + 4 + f.padLength) throw connError(H2Code.FRAME_SIZE_ERROR, 'PUSH_PROMISE frame too short');
  f.streamRef = payload.readUInt32BE(at) & 0x7fffffff;
  f.start = at + 4;
  f.end = payload.length - f.padLength;
}

/** PING (§6.7). Returns true for an ACK. */
export function decodePing(flags: number, streamId: number, payload: Buffer): boolean {
  if (streamId !== 0) throw connError(H2Code.PROTOCOL_ERROR, 'PING on a stream');
  if (payload.length !== 8) throw connError(H2Code.FRAME_SIZE_ERROR, 'PING frame not 8 octets');
  return (flags & Flag.ACK) !== 0;
}

/** GOAWAY (§6.8). */
export function decodeGoaway(f: FrameFields, streamId: number, payload: Buffer): void {
  if (streamId !== 0) throw connError(H2Code.PROTOCOL_ERROR, 'GOAWAY on a stream');
  if (payload.length < 8) throw connError(H2Code.FRAME_SIZE_ERROR, 'GOAWAY frame shorter than 8 octets');
  f.streamRef = payload.readUInt32BE(0) & 0x7fffffff;
  f.errorCode = payload.readUInt32BE(4);
  f.start = 8;
  f.end = payload.length;
}

/** WINDOW_UPDATE (§6.9): a zero increment is a stream error on a stream, a connection error on 0. */
export function decodeWindowUpdate(f: FrameFields, streamId: number, payload: Buffer): void {
  if (payload.length !== 4) throw connError(H2Code.FRAME_SIZE_ERROR, 'WINDOW_UPDATE frame not 4 octets');
  f.increment = payload.readUInt32BE(0) & 0x7fffffff;
  if (f.increment === 0) {
    if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'WINDOW_UPDATE with a zero increment on the connection');
    throw streamError(H2Code.PROTOCOL_ERROR, streamId, 'WINDOW_UPDATE with a zero increment');
  }
}

/** CONTINUATION (§6.10): only the stream-0 rule is local; sequencing is the connection's. */
export function decodeContinuation(f: FrameFields, streamId: number, payload: Buffer): void {
  if (streamId === 0) throw connError(H2Code.PROTOCOL_ERROR, 'CONTINUATION on stream 0');
  f.start = 0;
  f.end = payload.length;
}
