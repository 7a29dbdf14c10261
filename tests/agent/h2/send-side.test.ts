// What the connection sends, driven by the peer's SETTINGS and windows (RFC 9113 §6.5.2, §6.9):
// frame-size splitting, stream and connection windows, WINDOW_UPDATE resuming, trailers queued
// behind data, the peer's header table size, and the peer's concurrency limit on a client.
import t from 'tap';
import { Flag, FrameType, H2Code, SettingId } from '../../../agent/h2/constants.ts';
import { writeData, writeSettings, writeWindowUpdate } from '../../../agent/h2/frame-encode.ts';
import { Harness } from './harness.ts';

function dataFrames(h: Harness, stream: number) {
  return h.frames().filter((f) => f.type === FrameType.DATA && f.stream === stream);
}

t.test('DATA is split at the peer\'s SETTINGS_MAX_FRAME_SIZE', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 1 << 20])).send((w) => writeWindowUpdate(w, 0, 1 << 20));
  h.request(1, true);
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], false);
  h.conn.sendData(s, Buffer.alloc(40_000, 1), true);
  const d = dataFrames(h, 1);
  t.same(d.map((f) => f.payload.length), [16_384, 16_384, 7232]);
  t.same(d.map((f) => f.flags & Flag.END_STREAM), [0, 0, 1]);
});

t.test('stream window: sending stops at it and resumes with WINDOW_UPDATE; onWritable after the stall', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 100]));
  h.request(1, true);
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], false);
  h.conn.sendData(s, Buffer.alloc(250, 2), false);
  t.same(dataFrames(h, 1).map((f) => f.payload.length), [100]);
  t.equal(s.pendingBytes, 150);
  h.send((w) => writeWindowUpdate(w, 1, 60));
  t.same(dataFrames(h, 1).map((f) => f.payload.length), [60]);
  h.send((w) => writeWindowUpdate(w, 1, 1000));
  t.same(dataFrames(h, 1).map((f) => f.payload.length), [90]);
  t.equal(s.pendingBytes, 0);
});

t.test('connection window: shared by streams; a connection WINDOW_UPDATE drains the blocked ones', async (t) => {
  const h = new Harness().handshake();
  h.request(1, true).request(3, true);
  for (const id of [1, 3]) {
    const s = h.conn.stream(id)!;
    h.conn.sendHeaders(s, [':status', '200'], false);
    h.conn.sendData(s, Buffer.alloc(40_000), true);
  }
  const first = h.frames().filter((f) => f.type === FrameType.DATA);
  t.equal(first.reduce((a, f) => a + f.payload.length, 0), 65_535, 'exactly the default connection window');
  h.send((w) => writeWindowUpdate(w, 0, 1 << 20));
  const rest = h.frames().filter((f) => f.type === FrameType.DATA);
  t.equal(rest.reduce((a, f) => a + f.payload.length, 0), 80_000 - 65_535, 'the rest after WINDOW_UPDATE');
  t.equal(h.conn.activeStreams, 0, 'both streams ended');
});

t.test('SETTINGS_INITIAL_WINDOW_SIZE lowered mid-stream makes the window negative; sending waits (§6.9.2)', async (t) => {
  const h = new Harness().handshake();
  h.request(1, true);
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], false);
  h.conn.sendData(s, Buffer.alloc(1000), false);
  h.frames();
  h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 500]));
  t.equal(s.sendWindow, -500, '65 535 - 1000 + (500 - 65 535)');
  h.conn.sendData(s, Buffer.alloc(10), true);
  t.same(dataFrames(h, 1), [], 'nothing sent on a negative window');
  h.send((w) => writeWindowUpdate(w, 1, 600));
  t.same(dataFrames(h, 1).map((f) => f.payload.length), [10]);
});

t.test('trailers wait behind queued data and carry END_STREAM', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 10]));
  h.request(1, true);
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], false);
  h.conn.sendData(s, Buffer.alloc(20), false);
  h.conn.sendHeaders(s, ['grpc-status', '0'], true);
  const before = h.frames().filter((f) => f.stream === 1);
  t.same(before.map((f) => f.type), [FrameType.HEADERS, FrameType.DATA], 'head, then the first 10 octets; trailers held');
  h.send((w) => writeWindowUpdate(w, 1, 10));
  const after = h.frames().filter((f) => f.stream === 1);
  t.same(after.map((f) => [f.type, f.flags & Flag.END_STREAM]), [[FrameType.DATA, 0], [FrameType.HEADERS, Flag.END_STREAM]]);
  t.equal(h.conn.activeStreams, 0);
});

t.test('the peer\'s SETTINGS_HEADER_TABLE_SIZE: our next header block opens with a size update', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeSettings(w, [SettingId.HEADER_TABLE_SIZE, 0]));
  h.request(1, true);
  h.frames();
  h.conn.sendHeaders(h.conn.stream(1)!, [':status', '200', 'x-a', 'b'], true);
  const hf = h.frames().find((f) => f.type === FrameType.HEADERS)!;
  t.equal(hf.payload[0], 0x20, 'dynamic table size update to 0 first');
});

t.test('client: the peer\'s SETTINGS_MAX_CONCURRENT_STREAMS caps request(); a slot frees on close', async (t) => {
  const h = new Harness({ role: 'client' });
  h.send((w) => writeSettings(w, [SettingId.MAX_CONCURRENT_STREAMS, 2]));
  const req = [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'];
  const a = h.conn.request(req, true);
  const b = h.conn.request(req, true);
  t.ok(a && b);
  t.equal(h.conn.request(req, true), null, 'third refused locally');
  h.conn.reset(a!, H2Code.CANCEL);
  t.ok(h.conn.request(req, true), 'after a reset, a new stream');
  t.same([a!.id, b!.id], [1, 3], 'odd ids from 1');
});

t.test('a client\'s SETTINGS_ENABLE_PUSH 1 from a server is a PROTOCOL_ERROR', async (t) => {
  const h = new Harness({ role: 'client' });
  h.frames();
  h.send((w) => writeSettings(w, [SettingId.ENABLE_PUSH, 1]));
  t.equal(h.goaway(), H2Code.PROTOCOL_ERROR);
});

t.test('close(): GOAWAY with the last peer stream, socket ended, open streams reset locally', async (t) => {
  const h = new Harness().handshake();
  h.request(1, false).request(3, false);
  h.frames();
  h.conn.close();
  const g = h.frames().find((f) => f.type === FrameType.GOAWAY)!;
  t.equal(g.payload.readUInt32BE(0), 3, 'last stream id 3');
  t.equal(g.payload.readUInt32BE(4), H2Code.NO_ERROR);
  t.equal(h.ended, true);
  t.ok(h.events.includes(`reset 1 code=${H2Code.CANCEL} byPeer=false`) && h.events.includes(`reset 3 code=${H2Code.CANCEL} byPeer=false`));
  t.equal(h.conn.activeStreams, 0);
});

t.test('graceful goaway(): streams in flight finish, new ones after it are ignored', async (t) => {
  const h = new Harness().handshake();
  h.request(1, false);
  h.conn.goaway();
  h.request(3, true);
  t.notOk(h.heads.has(3), 'stream opened after our GOAWAY is not delivered');
  h.send((w) => writeSettings(w, []));
  const s = h.conn.stream(1)!;
  h.conn.sendHeaders(s, [':status', '200'], true);
  t.ok(h.frames().some((f) => f.type === FrameType.HEADERS && f.stream === 1), 'stream 1 still answered');
});

t.test('manual flow control: connection credit goes back on receipt, stream credit only on consume', async (t) => {
  const h = new Harness({ manualFlowControl: true, connectionWindowSize: 65_535, initialWindowSize: 65_535 }).handshake();
  // 4 streams × 16 000 octets: 64 000 of the 65 535 connection window, nothing consumed.
  for (const id of [1, 3, 5, 7]) h.request(id, false);
  h.send((w) => {
    for (const id of [1, 3, 5, 7]) writeData(w, id, Buffer.alloc(16_000), false);
  });
  const wu = h.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE);
  t.same(wu.filter((f) => f.stream !== 0), [], 'nothing consumed: no stream WINDOW_UPDATE');
  t.equal(wu.reduce((a, f) => a + (f.stream === 0 ? f.payload.readUInt32BE(0) : 0), 0), 48_000, 'the connection\'s credit for the first 48 000 octets returned at once (past half the window)');
  // Resets owe the connection nothing more.
  for (const id of [1, 3, 5]) h.conn.reset(h.conn.stream(id)!, H2Code.CANCEL);
  t.same(h.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE), [], 'no WINDOW_UPDATE for the reset streams\' octets: they were returned on receipt');
  // Stream 7 holds its 16 000 octets; the peer can still send on new streams without a FLOW_CONTROL_ERROR.
  for (const id of [9, 11, 13, 15, 17]) h.request(id, false).send((w) => writeData(w, id, Buffer.alloc(16_000), false));
  t.equal(h.goaway(), null, '80 000 more octets while nothing is consumed: no connection error');
  h.conn.consume(h.conn.stream(7)!, 16_000);
  t.same(h.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream !== 0), [], 'under half the stream window consumed: nothing yet');
  h.conn.consume(h.conn.stream(9)!, 16_000);
  h.send((w) => { writeData(w, 9, Buffer.alloc(16_000), false); writeData(w, 9, Buffer.alloc(16_000), false); });
  h.conn.consume(h.conn.stream(9)!, 32_000);
  const s9 = h.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === 9);
  t.equal(s9.reduce((a, f) => a + f.payload.readUInt32BE(0), 0), 48_000, 'stream 9\'s credit returned once half its window was consumed');
});

t.test('automatic flow control: a long upload over many streams never runs the connection window dry', async (t) => {
  const h = new Harness({ connectionWindowSize: 65_535, initialWindowSize: 65_535 }).handshake();
  let id = 1;
  for (let i = 0; i < 50; i++, id += 2) {
    // Answered first, so the DATA with END_STREAM closes the stream (half-closed local → closed).
    h.request(id, false);
    h.conn.sendHeaders(h.conn.stream(id)!, [':status', '200'], true);
    h.send((w) => writeData(w, id, Buffer.alloc(16_000), true));
  }
  t.equal(h.goaway(), null, '800 000 octets through a 65 535 window: credit came back, last frames included');
});
