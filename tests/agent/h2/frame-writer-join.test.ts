// FrameWriter's flush (agent/h2/frame-writer.ts): a large flush goes to the socket as one joined
// buffer lent from out-buffers.ts, a small one as a corked burst of its chunks. What matters for
// correctness: the bytes written are exactly the frames queued, in order; a payload appended by
// reference may change after the flush without changing what was written; and a lent buffer is
// not written into again before the socket's callback for it has run. The sink here records
// writes and holds their callbacks, which a real socket would not let a test do (the tunnel and
// interop tests run the writer on real sockets).
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { FrameType } from '../../../agent/h2/constants.ts';
import { writeData, writePing } from '../../../agent/h2/frame-encode.ts';
import { FrameReader } from '../../../agent/h2/frame-reader.ts';
import { FrameWriter, type ByteSink } from '../../../agent/h2/frame-writer.ts';
import { JOIN_MIN, OutBuffers, outBuffers } from '../../../agent/h2/out-buffers.ts';

interface Write {
  chunk: Buffer;
  /** The chunk's bytes when it was written. */
  copy: Buffer;
  cb: ((err?: Error | null) => void) | undefined;
  corked: boolean;
}

class RecordingSink implements ByteSink {
  writes: Write[] = [];
  #corked = 0;
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean {
    this.writes.push({ chunk, copy: Buffer.from(chunk), cb, corked: this.#corked > 0 });
    return true;
  }
  cork(): void {
    this.#corked++;
  }
  uncork(): void {
    this.#corked--;
  }
}

/** DATA payloads of the frames in `bytes`, by our own parse. */
function dataOf(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  new FrameReader({ onFrame: (type, _f, _s, p) => { if (type === FrameType.DATA) out.push(Buffer.from(p)); } }, { maxFrameSize: 1 << 24, expectPreface: false }).push(bytes);
  return out;
}

t.test('a flush of JOIN_MIN or more goes out as one write of exactly the frames, with a callback', async (t) => {
  const sink = new RecordingSink();
  const w = new FrameWriter(sink);
  const payloads = [randomBytes(10_000), randomBytes(7_000), randomBytes(300)];
  for (const p of payloads) writeData(w, 1, p, false);
  writePing(w, false, Buffer.alloc(8));
  w.flush();
  t.equal(sink.writes.length, 1, 'one write');
  t.equal(sink.writes[0].corked, false);
  t.ok(sink.writes[0].cb !== undefined, 'with a callback that gives the buffer back');
  t.same(dataOf(sink.writes[0].copy), payloads, 'the DATA payloads, in order');
  t.equal(sink.writes[0].chunk.length, 3 * 9 + 17_300 + 9 + 8, 'nothing else: three DATA frames and a PING');
  sink.writes[0].cb?.();
});

t.test('a payload changed after the flush does not change what was written', async (t) => {
  const sink = new RecordingSink();
  const w = new FrameWriter(sink);
  const p = randomBytes(JOIN_MIN * 2);
  const before = Buffer.from(p);
  writeData(w, 1, p, false);
  writeData(w, 1, randomBytes(100), false);
  w.flush();
  p.fill(0);
  t.same(dataOf(sink.writes[0].chunk)[0], before, 'the written bytes are a copy (a reused read buffer may be overwritten)');
  sink.writes[0].cb?.();
});

t.test('a lent buffer is not written into again until the socket has called back for it', async (t) => {
  const sink = new RecordingSink();
  const w = new FrameWriter(sink);
  const flush = (fill: number): void => {
    writeData(w, 1, Buffer.alloc(JOIN_MIN, fill), false);
    writeData(w, 1, Buffer.alloc(10, fill), false);
    w.flush();
  };
  // Three flushes while the socket holds every callback: three different buffers, none overwritten.
  flush(1);
  flush(2);
  flush(3);
  t.equal(sink.writes.length, 3);
  for (const wr of sink.writes) t.same(wr.chunk, wr.copy, 'unchanged while the socket still writes it');
  const kept = outBuffers.keptBytes;
  sink.writes[0].cb?.();
  t.ok(outBuffers.keptBytes > kept, 'called back: the buffer goes back to the pool');
  flush(4);
  t.same(sink.writes[1].chunk, sink.writes[1].copy, 'the buffers still lent are untouched by the next flush');
  t.same(sink.writes[2].chunk, sink.writes[2].copy);
  for (const wr of sink.writes.slice(1)) wr.cb?.();
});

t.test('while a joined write is in flight the next turn waits, then leaves in one joined write from its callback', async (t) => {
  const sink = new RecordingSink();
  const w = new FrameWriter(sink);
  const a = randomBytes(JOIN_MIN);
  writeData(w, 1, a, false);
  writeData(w, 1, Buffer.from('x'), false);
  await new Promise((r) => setImmediate(r));
  t.equal(sink.writes.length, 1, 'the first turn: one joined write, its callback held by the socket');
  const b = randomBytes(JOIN_MIN);
  const c = randomBytes(5_000);
  writeData(w, 3, b, false);
  await new Promise((r) => setImmediate(r));
  writeData(w, 3, c, false);
  writePing(w, false, Buffer.alloc(8));
  await new Promise((r) => setImmediate(r));
  t.equal(sink.writes.length, 1, 'two more turns: nothing written behind the write in flight');
  sink.writes[0].cb?.();
  t.equal(sink.writes.length, 2, 'its callback wrote what waited');
  t.ok(sink.writes[1].cb !== undefined, 'as one joined write');
  t.same(dataOf(sink.writes[1].copy), [b, c], 'in order');
  sink.writes[1].cb?.();
  await new Promise((r) => setImmediate(r));
  t.equal(sink.writes.length, 2, 'nothing left');
});

t.test('an explicit flush goes out even behind a write in flight (GOAWAY before the socket ends)', async (t) => {
  const sink = new RecordingSink();
  const w = new FrameWriter(sink);
  writeData(w, 1, randomBytes(JOIN_MIN), false);
  writeData(w, 1, Buffer.from('x'), false);
  w.flush();
  writePing(w, false, Buffer.alloc(8));
  w.flush();
  t.equal(sink.writes.length, 2);
  sink.writes[0].cb?.();
  t.equal(sink.writes.length, 2, 'nothing written twice');
});

t.test('a small flush of several chunks is a corked burst of them, as before', async (t) => {
  const sink = new RecordingSink();
  const w = new FrameWriter(sink);
  const p = randomBytes(2_000); // over 256 octets: appended by reference
  writeData(w, 1, p, false);
  writePing(w, false, Buffer.alloc(8));
  w.flush();
  t.ok(sink.writes.length > 1 && sink.writes.every((x) => x.corked), 'several writes, all corked');
  t.same(dataOf(Buffer.concat(sink.writes.map((x) => x.copy))), [p]);
});

t.test('the pool lends buffers big enough, keeps a bounded amount, and never lends one twice at once', async (t) => {
  const pool = new OutBuffers();
  const a = pool.take(100_000);
  const b = pool.take(100_000);
  t.ok(a.length >= 100_000 && b.length >= 100_000);
  t.not(a.buffer, b.buffer, 'two loans, two buffers');
  pool.give(a);
  t.equal(pool.take(10).buffer, a.buffer, 'a given-back buffer is lent again');
  t.equal(pool.keptBytes, 0);
  for (let i = 0; i < 100; i++) pool.give(Buffer.allocUnsafeSlow(1 << 20));
  t.ok(pool.keptBytes <= 4 << 20, `kept ${pool.keptBytes} octets, at most 4 MiB`);
  pool.give(Buffer.allocUnsafeSlow(8 << 20));
  t.ok(pool.keptBytes <= 4 << 20, 'a very large buffer is not kept');
});

t.test('the pool lets its kept buffers go once nothing has been taken for a while', async (t) => {
  const pool = new OutBuffers({ trimMs: 50 });
  pool.give(pool.take(100_000));
  t.ok(pool.keptBytes > 0);
  await new Promise((r) => setTimeout(r, 30));
  pool.give(pool.take(100_000));
  await new Promise((r) => setTimeout(r, 30));
  t.ok(pool.keptBytes > 0, 'still kept: a take 30 ms ago');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(pool.keptBytes, 0, 'idle past the trim delay: nothing kept');
});
