// A connection driven frame by frame, for the conformance tests: the peer's frames are built
// with the codec's serialisers (or raw bytes for malformed ones) and fed to receive(); what the
// connection writes is collected from a fake byte sink and parsed back into frames. The fake
// sink stands in for the socket because the tests assert exact frames and codes, which a real
// peer would hide; the interop tests cover real sockets.
import { H2Connection, type H2ConnectionOptions, type H2Handler, type H2Stream, type HeadersKindValue } from '../../../agent/h2/connection.ts';
import { CLIENT_PREFACE, FrameType } from '../../../agent/h2/constants.ts';
import { FrameWriter } from '../../../agent/h2/frame-writer.ts';
import { FrameReader } from '../../../agent/h2/frame-reader.ts';
import { writeHeaders, writeSettings, writeSettingsAck } from '../../../agent/h2/frame-encode.ts';
import { HpackEncoder } from '../../../agent/h2/hpack-encoder.ts';
import type { H2Error } from '../../../agent/h2/h2-error.ts';

export interface OutFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export class Harness implements H2Handler {
  readonly conn: H2Connection;
  readonly encoder = new HpackEncoder();
  time = 0;
  ended = false;
  #out: Buffer[] = [];
  events: string[] = [];
  heads = new Map<number, string[]>();
  data = new Map<number, Buffer[]>();
  errors: H2Error[] = [];

  constructor(opts: Partial<H2ConnectionOptions> = {}) {
    const sink = {
      write: (b: Buffer): boolean => {
        this.#out.push(Buffer.from(b));
        return true;
      },
      cork: (): void => {},
      uncork: (): void => {},
      end: (): void => {
        this.ended = true;
      },
    };
    this.conn = new H2Connection(sink, this, { role: 'server', now: () => this.time, ...opts });
    this.conn.start();
  }

  /** Preface, empty SETTINGS, and the ACK of the server's SETTINGS; output so far discarded. */
  handshake(): this {
    const w = new FrameWriter();
    const at = w.reserve(CLIENT_PREFACE.length);
    CLIENT_PREFACE.copy(w.slab, at);
    w.commit(CLIENT_PREFACE.length);
    writeSettings(w, []);
    writeSettingsAck(w);
    this.conn.receive(w.take());
    this.frames();
    return this;
  }

  /** Feeds the frames `build` writes. */
  send(build: (w: FrameWriter) => void): this {
    const w = new FrameWriter();
    build(w);
    this.conn.receive(w.take());
    return this;
  }

  raw(bytes: Buffer): this {
    this.conn.receive(bytes);
    return this;
  }

  /** A request HEADERS on `sid`, encoded with this peer's HPACK encoder. */
  request(sid: number, endStream: boolean, extra: string[] = [], path = '/'): this {
    const block = Buffer.from(this.encoder.encode([':method', endStream ? 'GET' : 'POST', ':scheme', 'http', ':path', path, ':authority', 'x', ...extra]));
    return this.send((w) => writeHeaders(w, sid, block, endStream, 16_384));
  }

  /** Frames written since the last call. */
  frames(): OutFrame[] {
    this.conn.writer.flush();
    const bytes = Buffer.concat(this.#out);
    this.#out = [];
    const frames: OutFrame[] = [];
    const r = new FrameReader({ onFrame: (type, flags, stream, payload) => frames.push({ type, flags, stream, payload: Buffer.from(payload) }) }, { maxFrameSize: 1 << 24, expectPreface: false });
    r.push(bytes);
    return frames;
  }

  /** The GOAWAY error code written since the last frames() call, or null. */
  goaway(): number | null {
    const g = this.frames().find((f) => f.type === FrameType.GOAWAY);
    return g === undefined ? null : g.payload.readUInt32BE(4);
  }

  /** RST_STREAM codes written since the last frames() call, by stream. */
  resets(frames = this.frames()): Map<number, number> {
    const m = new Map<number, number>();
    for (const f of frames) if (f.type === FrameType.RST_STREAM) m.set(f.stream, f.payload.readUInt32BE(0));
    return m;
  }

  onHeaders(s: H2Stream, headers: string[], endStream: boolean, kind: HeadersKindValue): void {
    this.events.push(`headers ${s.id} kind=${kind} es=${endStream}`);
    this.heads.set(s.id, headers);
  }

  onData(s: H2Stream, d: Buffer, endStream: boolean): void {
    this.events.push(`data ${s.id} ${d.length} es=${endStream}`);
    const list = this.data.get(s.id) ?? [];
    list.push(Buffer.from(d));
    this.data.set(s.id, list);
  }

  onReset(s: H2Stream, code: number, byPeer: boolean): void {
    this.events.push(`reset ${s.id} code=${code} byPeer=${byPeer}`);
  }

  onError(err: H2Error): void {
    this.errors.push(err);
  }
}
