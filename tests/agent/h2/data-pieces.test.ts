// DATA frames that straddle reads (agent/h2/frame-reader.ts hands an unpadded one on in pieces,
// each a view of the read it came in, instead of assembling it, to a stream whose handler asked
// for pieces — H2Stream.pieces, as the HBONE tunnels do): whatever the split, the handler gets the
// same octets in order, END_STREAM only with the last one, the same flow-control credit, and the
// same refusals as for a frame read whole; a stream that did not ask gets whole frames. The oracle is the bytes the test sent and the
// frame rules of RFC 9113 (§6.1, §6.9, §8.1.1), not the reader. Driven through the conformance
// harness (a fake byte sink, see harness.ts); over real TLS sockets every full-size frame
// straddles two reads, which the tunnel tests (tests/agent/proxy/hbone/transfer.test.ts) cover.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { FrameType, H2Code } from '../../../agent/h2/constants.ts';
import { writeData } from '../../../agent/h2/frame-encode.ts';
import { FrameWriter } from '../../../agent/h2/frame-writer.ts';
import type { H2Stream } from '../../../agent/h2/connection.ts';
import { StreamState } from '../../../agent/h2/stream-state.ts';
import { Harness } from './harness.ts';

function bytesOf(build: (w: FrameWriter) => void): Buffer {
  const w = new FrameWriter();
  build(w);
  return w.take();
}

/** A request on `sid` whose stream takes DATA in pieces. */
function pieceRequest(h: Harness, sid: number, extra: string[] = []): void {
  h.request(sid, false, extra);
  (h.conn.stream(sid) as H2Stream).pieces = true;
}

/** Feeds `bytes` to the connection `size` octets at a time (each a read of its own). */
function feed(h: Harness, bytes: Buffer, size: number): void {
  for (let at = 0; at < bytes.length; at += size) h.raw(bytes.subarray(at, at + size));
}

function windowUpdates(h: Harness, stream: number): number[] {
  return h.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === stream).map((f) => f.payload.readUInt32BE(0));
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

for (const size of [1, 2, 7, 9, 10, 100, 1000, 4096, 16_383, 16_384, 16_393, 30_009, 100_000]) {
  t.test(`two DATA frames read ${size} octets at a time arrive whole and in order, END_STREAM with the last octet`, async (t) => {
    const h = new Harness({ maxFrameSize: 65_536, initialWindowSize: 65_535, connectionWindowSize: 65_535 }).handshake();
    pieceRequest(h, 1);
    const a = randomBytes(30_000);
    const b = randomBytes(20_000);
    feed(h, bytesOf((w) => { writeData(w, 1, a, false); writeData(w, 1, b, true); }), size);
    t.same(Buffer.concat(h.data.get(1) ?? []), Buffer.concat([a, b]), 'the octets, in order');
    const data = h.events.filter((e) => e.startsWith('data 1 '));
    t.equal(data.filter((e) => e.endsWith('es=true')).length, 1, 'END_STREAM once');
    t.ok(data.at(-1)?.endsWith('es=true'), 'and with the last piece');
    t.equal(h.conn.stream(1)?.state, StreamState.HALF_CLOSED_REMOTE, 'the stream is half-closed (remote)');
    // Credit goes back as it is consumed: the connection has returned all but less than half its window.
    const wu = sum(windowUpdates(h, 0));
    t.ok(wu <= 50_000 && wu > 50_000 - 32_768, `connection WINDOW_UPDATEs total ${wu} of the 50000 consumed`);
    t.equal(h.goaway(), null);
  });
}

t.test('a padded DATA frame that straddles reads is assembled and its padding removed', async (t) => {
  const h = new Harness({ maxFrameSize: 65_536 }).handshake();
  pieceRequest(h, 1);
  const a = randomBytes(30_000);
  feed(h, bytesOf((w) => writeData(w, 1, a, true, 100)), 1000);
  t.same(h.data.get(1), [a], 'one delivery, without the padding');
  t.same(h.events.filter((e) => e.startsWith('data')), ['data 1 30000 es=true']);
});

t.test('a DATA frame refused at its head (content-length exceeded) is reset, its pieces skipped, and the frames after it still parse', async (t) => {
  const h = new Harness({ maxFrameSize: 65_536 }).handshake();
  pieceRequest(h, 1, ['content-length', '10']);
  pieceRequest(h, 3);
  const bytes = bytesOf((w) => {
    writeData(w, 1, randomBytes(20_000), false);
    writeData(w, 3, Buffer.from('after'), true);
  });
  feed(h, bytes, 1000);
  const frames = h.frames();
  t.equal(h.resets(frames).get(1), H2Code.PROTOCOL_ERROR, 'RST_STREAM PROTOCOL_ERROR on the refused stream');
  t.equal(h.data.get(1), undefined, 'nothing of it delivered');
  t.same(h.data.get(3), [Buffer.from('after')], 'the next frame parsed');
  t.equal(frames.find((f) => f.type === FrameType.GOAWAY), undefined, 'the connection survives');
});

t.test('a stream reset between two pieces of its DATA frame: the rest is dropped and its octets go back to the connection window', async (t) => {
  // A connection window of 65535 is returned in WINDOW_UPDATEs of half of it (32767) at a time.
  const h = new Harness({ maxFrameSize: 65_536, initialWindowSize: 65_535, connectionWindowSize: 65_535 }).handshake();
  pieceRequest(h, 1);
  pieceRequest(h, 3);
  h.frames();
  const onData = h.onData.bind(h);
  h.onData = (s: H2Stream, d: Buffer, es: boolean): void => {
    onData(s, d, es);
    if (s.id === 1) h.conn.reset(s, H2Code.CANCEL);
  };
  const first = bytesOf((w) => writeData(w, 1, randomBytes(16_000), false));
  h.raw(first.subarray(0, 9 + 1000));
  h.raw(first.subarray(9 + 1000));
  t.same(h.events.filter((e) => e.startsWith('data')), ['data 1 1000 es=false'], 'only the first piece reached the handler');
  t.equal(h.resets().get(1), H2Code.CANCEL);
  t.same(windowUpdates(h, 0), [], 'no credit returned yet: 16000 of 32767');
  // 16767 more on another stream make 32767 consumed or dropped: exactly one WINDOW_UPDATE(0, 32767).
  h.raw(bytesOf((w) => writeData(w, 3, randomBytes(16_767), false)));
  t.same(windowUpdates(h, 0), [32_767], 'the dropped pieces counted as returned credit');
  t.equal(h.goaway(), null);
});

t.test('a stream that did not ask for pieces gets each straddling frame whole, checked whole', async (t) => {
  const h = new Harness({ maxFrameSize: 65_536 }).handshake();
  h.request(1, false);
  h.request(3, false, ['content-length', '10']);
  const a = randomBytes(30_000);
  feed(h, bytesOf((w) => { writeData(w, 1, a, false); writeData(w, 1, a, true); writeData(w, 3, randomBytes(20_000), true); }), 1000);
  t.same(h.events.filter((e) => e.startsWith('data')), ['data 1 30000 es=false', 'data 1 30000 es=true'], 'two whole frames');
  t.same(Buffer.concat(h.data.get(1) ?? []), Buffer.concat([a, a]));
  t.equal(h.resets().get(3), H2Code.PROTOCOL_ERROR, 'and refused whole');
});

t.test('a frame read whole is still handed on whole (one delivery, a view of the read)', async (t) => {
  const h = new Harness({ maxFrameSize: 65_536 }).handshake();
  pieceRequest(h, 1);
  const a = randomBytes(40_000);
  h.raw(bytesOf((w) => writeData(w, 1, a, true)));
  t.same(h.events.filter((e) => e.startsWith('data')), ['data 1 40000 es=true']);
  t.same(h.data.get(1), [a]);
});
