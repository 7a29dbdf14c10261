// DATA from a buffer that is only lent for the call (a socket's reused read buffer,
// agent/proxy/hbone/lent-reads.ts): FrameWriter.appendBorrowed copies it into a slab lent by
// out-buffers.ts, and H2Connection.sendBorrowed copies what the windows hold back. What matters:
// the bytes written are the bytes lent, in order, though the lender overwrites its buffer right
// after each call; and a pooled slab is never lent again while the socket still writes it (the
// sink here holds its callbacks: a slow writer). Our own frame parser reads what was written.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { FrameType, SettingId } from '../../../agent/h2/constants.ts';
import { writeData, writePing, writeSettings, writeWindowUpdate } from '../../../agent/h2/frame-encode.ts';
import { FrameReader } from '../../../agent/h2/frame-reader.ts';
import { FrameWriter, type ByteSink } from '../../../agent/h2/frame-writer.ts';
import { Harness } from './harness.ts';

interface Write {
  chunk: Buffer;
  copy: Buffer;
  cb: ((err?: Error | null) => void) | undefined;
}

class SlowSink implements ByteSink {
  writes: Write[] = [];
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean {
    this.writes.push({ chunk, copy: Buffer.from(chunk), cb });
    return true;
  }
  cork(): void {}
  uncork(): void {}
}

function dataOf(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  new FrameReader({ onFrame: (type, _f, _s, p) => { if (type === FrameType.DATA) out.push(Buffer.from(p)); } }, { maxFrameSize: 1 << 24, expectPreface: false }).push(bytes);
  return out;
}

/** One lender's buffer, refilled for every call as a socket's onread buffer is. */
const lender = Buffer.allocUnsafeSlow(64 * 1024);
function lend(src: Buffer): Buffer {
  src.copy(lender);
  return lender.subarray(0, src.length);
}

t.test('borrowed payloads are copied at once: overwriting the lender\'s buffer changes nothing written', async (t) => {
  const sink = new SlowSink();
  const w = new FrameWriter(sink);
  const sent = [randomBytes(16_384), randomBytes(9_000), randomBytes(100), randomBytes(40_000)];
  for (const p of sent) {
    writeData(w, 1, lend(p), false, 0, true);
    lender.fill(0xee); // the next read lands here
  }
  writePing(w, false, Buffer.alloc(8));
  w.flush();
  const all = Buffer.concat(sink.writes.map((x) => x.chunk));
  t.same(dataOf(all), sent, 'every payload as lent, in order');
  t.ok(sink.writes.at(-1)?.cb !== undefined, 'the write carrying the slab has a callback (it gives the slab back)');
  for (const x of sink.writes) x.cb?.();
});

t.test('a slab stays untouched until the socket calls back for it (slow writer, many flushes)', async (t) => {
  const sink = new SlowSink();
  const w = new FrameWriter(sink);
  const expected: Buffer[][] = [];
  for (let flush = 0; flush < 6; flush++) {
    const sent: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      const p = randomBytes(20_000 + flush * 1000 + i);
      sent.push(p);
      writeData(w, 1, lend(p), false, 0, true);
      lender.fill(flush);
    }
    expected.push(sent);
    w.flush(); // explicit: goes out even behind the writes still in flight
  }
  t.equal(sink.writes.length, 6, 'one write per flush');
  for (let i = 0; i < 6; i++) {
    t.same(sink.writes[i].chunk, sink.writes[i].copy, `write ${i}: unchanged while in flight`);
    t.same(dataOf(sink.writes[i].chunk), expected[i], `write ${i}: its payloads`);
  }
  // Call back the oldest only, then write more: the slabs still lent must not be reused.
  sink.writes[0].cb?.();
  for (let i = 0; i < 4; i++) {
    writeData(w, 1, lend(randomBytes(30_000)), false, 0, true);
    lender.fill(0x55);
  }
  w.flush();
  for (let i = 1; i < 6; i++) t.same(sink.writes[i].chunk, sink.writes[i].copy, `write ${i}: still unchanged after a slab came back and was reused`);
  for (const x of sink.writes.slice(1)) x.cb?.();
});

/** The harness, counting onWritable (the reader's cue to read again). */
class Counting extends Harness {
  writable = 0;
  onWritable(): void {
    this.writable++;
  }
}

t.test('sendBorrowed: what the stream window holds back is kept as a copy, reading stops, and it goes in order later', async (t) => {
  const h = new Counting().handshake();
  h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 10_000]));
  h.request(1, true);
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], false);
  const a = randomBytes(6_000);
  const b = randomBytes(7_000);
  const c = randomBytes(3_000);
  const answers: boolean[] = [];
  for (const p of [a, b, c]) {
    answers.push(h.conn.sendBorrowed(s, lend(p)));
    lender.fill(0xaa);
  }
  t.same(answers, [true, false, false], 'false once bytes are held back: stop reading (the socket would)');
  t.equal(s.pendingBytes, 6_000, 'the window took 10 000 octets; the rest waits');
  for (const p of s.pending) t.not(p.buffer, lender.buffer, 'nothing waiting points into the lender\'s buffer');
  t.equal(h.writable, 0);
  h.send((w) => writeWindowUpdate(w, 1, 1 << 20));
  t.equal(h.writable, 1, 'onWritable once the held bytes went: read again');
  const got = Buffer.concat(h.frames().filter((f) => f.type === FrameType.DATA && f.stream === 1).map((f) => f.payload));
  t.same(got, Buffer.concat([a, b, c]), 'every octet, in order');
});

t.test('sendBorrowed behind data already waiting: the borrowed part is copied, the rest untouched', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 0]));
  h.request(1, true);
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], false);
  const owned = randomBytes(2_000);
  h.conn.sendData(s, owned, false);
  const a = randomBytes(5_000);
  t.equal(h.conn.sendBorrowed(s, lend(a)), false, 'held back by the window: stop reading');
  lender.fill(0);
  t.equal(s.pending[0], owned, 'the owned chunk stays by reference');
  h.send((w) => writeWindowUpdate(w, 1, 1 << 20));
  const got = Buffer.concat(h.frames().filter((f) => f.type === FrameType.DATA && f.stream === 1).map((f) => f.payload));
  t.same(got, Buffer.concat([owned, a]));
});

t.test('a flush of borrowed slabs over 2 MiB goes as a corked burst of its slabs, each untouched until the last write calls back', async (t) => {
  const sink = new SlowSink();
  const w = new FrameWriter(sink);
  const sent: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const p = randomBytes(64 * 1024);
    sent.push(p);
    writeData(w, 1, lend(p), false, 0, true);
    lender.fill(i);
  }
  w.flush();
  t.ok(sink.writes.length > 1, `several writes (${sink.writes.length}), not one joined buffer the pool would not keep`);
  t.same(dataOf(Buffer.concat(sink.writes.map((x) => x.chunk))), sent, 'every payload, in order');
  t.ok(sink.writes.slice(0, -1).every((x) => x.cb === undefined) && sink.writes.at(-1)?.cb !== undefined, 'one callback, on the last write');
  // More borrowed writes while that burst is in flight: its slabs must not be lent again.
  for (let i = 0; i < 8; i++) {
    writeData(w, 1, lend(randomBytes(64 * 1024)), false, 0, true);
    lender.fill(0x77);
  }
  w.flush();
  for (const x of sink.writes) t.same(x.chunk, x.copy, 'unchanged while in flight');
  for (const x of sink.writes) x.cb?.();
});
