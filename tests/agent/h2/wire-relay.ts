// A loopback TCP relay that reads the HTTP/2 frames crossing it with its own 9-octet header parser
// (RFC 9113 §4.1): the oracle of the flow-control tests (stalled-streams, held-bytes-budget), so
// what they count shares no code with the codec under test.
import net from 'node:net';
import { once } from 'node:events';
import type { Test } from 'tap';

const FRAME_DATA = 0x0;
const FRAME_SETTINGS = 0x4;
const FRAME_WINDOW_UPDATE = 0x8;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const PREFACE_LENGTH = 24;

export interface WireFrame { type: number; flags: number; stream: number; length: number; payload: Buffer }

/** Frames one direction of a connection carries, parsed from the bytes alone. */
export class WireLog {
  readonly frames: WireFrame[] = [];
  #buf = Buffer.alloc(0);
  #skip: number;

  constructor(skip: number) {
    this.#skip = skip;
  }

  push(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, this.#buf.length);
      this.#skip -= n;
      this.#buf = this.#buf.subarray(n);
    }
    while (this.#buf.length >= 9) {
      const length = this.#buf.readUIntBE(0, 3);
      if (this.#buf.length < 9 + length) break;
      const type = this.#buf[3];
      // Payloads kept only for the small frames the tests read (not DATA).
      const payload = type === FRAME_DATA ? Buffer.alloc(0) : Buffer.from(this.#buf.subarray(9, 9 + length));
      this.frames.push({ type, flags: this.#buf[4], stream: this.#buf.readUInt32BE(5) & 0x7fffffff, length, payload });
      this.#buf = this.#buf.subarray(9 + length);
    }
  }

  /** WINDOW_UPDATE increments on `stream`, summed. */
  credit(stream: number): number {
    let n = 0;
    for (const f of this.frames) if (f.type === FRAME_WINDOW_UPDATE && f.stream === stream) n += f.payload.readUInt32BE(0) & 0x7fffffff;
    return n;
  }

  /** DATA octets (padding included: what counts against the windows) on the given streams. */
  data(streams: Iterable<number>): number {
    const set = streams instanceof Set ? streams : new Set(streams);
    let n = 0;
    for (const f of this.frames) if (f.type === FRAME_DATA && set.has(f.stream)) n += f.length;
    return n;
  }

  /** The INITIAL_WINDOW_SIZE values of the SETTINGS frames (not ACKs) sent this way, in order. */
  initialWindows(): number[] {
    const out: number[] = [];
    for (const f of this.frames) {
      if (f.type !== FRAME_SETTINGS || (f.flags & 1) !== 0) continue;
      for (let i = 0; i + 6 <= f.payload.length; i += 6) if (f.payload.readUInt16BE(i) === SETTINGS_INITIAL_WINDOW_SIZE) out.push(f.payload.readUInt32BE(i + 2));
    }
    return out;
  }
}

export interface Relay { port: number; up: WireLog; down: WireLog; close(): void }

/**
 * A TCP relay to `target` that logs the frames each way: `up` from the client (after its
 * preface), `down` from the server. Closed when `t` ends.
 */
export async function relay(t: Test, target: number): Promise<Relay> {
  const up = new WireLog(PREFACE_LENGTH);
  const down = new WireLog(0);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(target, '127.0.0.1');
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => { c.destroy(); u.destroy(); });
    }
    c.on('data', (d: Buffer) => { up.push(d); u.write(d); });
    u.on('data', (d: Buffer) => { down.push(d); c.write(d); });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const r: Relay = { port: (server.address() as net.AddressInfo).port, up, down, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
  t.teardown(() => r.close());
  return r;
}

/** Polls `cond` every 10 ms; throws naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
