// RFC 9113 §4, §6 frame rules on a server connection, frame by frame (harness.ts: fake byte
// sink, exact frames asserted). Each refusal is checked for its scope (GOAWAY = connection
// error, RST_STREAM = stream error) and code; where the connection must survive, a request
// after the error is answered.
import t from 'tap';
import { Flag, FrameType, H2Code, SettingId } from '../../../agent/h2/constants.ts';
import { writeContinuation, writeData, writeGoaway, writeHeaders, writePing, writePriority, writePushPromise, writeRaw, writeRstStream, writeSettings, writeWindowUpdate } from '../../../agent/h2/frame-encode.ts';
import { Harness } from './harness.ts';

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
const settingsPayload = (id: number, v: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(id);
  b.writeUInt32BE(v >>> 0, 2);
  return b;
};

interface ConnCase {
  name: string;
  build: (h: Harness) => void;
  code: number;
  manualFlow?: boolean;
  /** SETTINGS_MAX_FRAME_SIZE announced (default: the protocol's 16 KiB). */
  maxFrameSize?: number;
}

// Every case must end in GOAWAY with `code` and the connection reported failed.
const connectionErrors: ConnCase[] = [
  { name: '§6.1 DATA on stream 0', build: (h) => h.send((w) => writeRaw(w, FrameType.DATA, 0, 0, Buffer.from('x'))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.1 DATA padding as long as the payload', build: (h) => h.request(1, false).send((w) => writeRaw(w, FrameType.DATA, Flag.PADDED, 1, Buffer.from([3, 0, 0]))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.2 HEADERS on stream 0', build: (h) => h.send((w) => writeRaw(w, FrameType.HEADERS, Flag.END_HEADERS, 0, Buffer.from([0x82]))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.2 HEADERS padding longer than the payload', build: (h) => h.send((w) => writeRaw(w, FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([5, 0x82]))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.3 PRIORITY on stream 0', build: (h) => h.send((w) => writePriority(w, 0, { exclusive: false, dependency: 1, weight: 16 })), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.4 RST_STREAM of 3 octets', build: (h) => h.request(1, false).send((w) => writeRaw(w, FrameType.RST_STREAM, 0, 1, Buffer.alloc(3))), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§6.4 RST_STREAM on stream 0', build: (h) => h.send((w) => writeRstStream(w, 0, 8)), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.4 RST_STREAM on an idle stream', build: (h) => h.send((w) => writeRstStream(w, 5, 8)), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.5 SETTINGS on a stream', build: (h) => h.send((w) => writeRaw(w, FrameType.SETTINGS, 0, 1, Buffer.alloc(0))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.5 SETTINGS ACK with a payload', build: (h) => h.send((w) => writeRaw(w, FrameType.SETTINGS, Flag.ACK, 0, settingsPayload(1, 1))), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§6.5 SETTINGS length not a multiple of 6', build: (h) => h.send((w) => writeRaw(w, FrameType.SETTINGS, 0, 0, Buffer.alloc(5))), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§6.5.2 SETTINGS_ENABLE_PUSH 2', build: (h) => h.send((w) => writeSettings(w, [SettingId.ENABLE_PUSH, 2])), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.5.2 SETTINGS_INITIAL_WINDOW_SIZE 2^31', build: (h) => h.send((w) => writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 2 ** 31])), code: H2Code.FLOW_CONTROL_ERROR },
  { name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE 16383', build: (h) => h.send((w) => writeSettings(w, [SettingId.MAX_FRAME_SIZE, 16_383])), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.5.2 SETTINGS_MAX_FRAME_SIZE 2^24', build: (h) => h.send((w) => writeSettings(w, [SettingId.MAX_FRAME_SIZE, 2 ** 24])), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.6 PUSH_PROMISE from a client', build: (h) => h.request(1, false).send((w) => writePushPromise(w, 1, 2, Buffer.from([0x82]), 16_384)), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.7 PING of 7 octets', build: (h) => h.send((w) => writeRaw(w, FrameType.PING, 0, 0, Buffer.alloc(7))), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§6.7 PING on a stream', build: (h) => h.send((w) => writeRaw(w, FrameType.PING, 0, 1, Buffer.alloc(8))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.8 GOAWAY on a stream', build: (h) => h.send((w) => writeRaw(w, FrameType.GOAWAY, 0, 1, Buffer.alloc(8))), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.8 GOAWAY shorter than 8 octets', build: (h) => h.send((w) => writeRaw(w, FrameType.GOAWAY, 0, 0, Buffer.alloc(7))), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§6.9 WINDOW_UPDATE of 3 octets', build: (h) => h.send((w) => writeRaw(w, FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3))), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§6.9 WINDOW_UPDATE of 0 on the connection', build: (h) => h.send((w) => writeWindowUpdate(w, 0, 0)), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.9.1 connection window over 2^31-1', build: (h) => h.send((w) => writeWindowUpdate(w, 0, 2 ** 31 - 1)), code: H2Code.FLOW_CONTROL_ERROR },
  { name: '§6.9.2 SETTINGS_INITIAL_WINDOW_SIZE that overflows an open stream', build: (h) => h.request(1, false).send((w) => { writeWindowUpdate(w, 1, 2 ** 31 - 1 - 65_535); writeSettings(w, [SettingId.INITIAL_WINDOW_SIZE, 65_536]); }), code: H2Code.FLOW_CONTROL_ERROR },
  { name: '§6.10 CONTINUATION without a header block', build: (h) => h.send((w) => writeContinuation(w, 1, Buffer.from([0x82]), true)), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.10 CONTINUATION on another stream', build: (h) => h.send((w) => { writeRaw(w, FrameType.HEADERS, 0, 1, Buffer.from([0x82])); writeContinuation(w, 3, Buffer.from([0x84]), true); }), code: H2Code.PROTOCOL_ERROR },
  { name: '§6.10 another frame inside a header block', build: (h) => h.send((w) => { writeRaw(w, FrameType.HEADERS, 0, 1, Buffer.from([0x82])); writePing(w, false, Buffer.alloc(8)); }), code: H2Code.PROTOCOL_ERROR },
  { name: '§4.2 frame over SETTINGS_MAX_FRAME_SIZE', build: (h) => h.request(1, false).send((w) => writeData(w, 1, Buffer.alloc(16_385), false)), code: H2Code.FRAME_SIZE_ERROR },
  { name: '§5.1 DATA on an idle stream', build: (h) => h.send((w) => writeData(w, 1, Buffer.from('x'), false)), code: H2Code.PROTOCOL_ERROR },
  { name: '§5.1 WINDOW_UPDATE on an idle stream', build: (h) => h.send((w) => writeWindowUpdate(w, 7, 10)), code: H2Code.PROTOCOL_ERROR },
  { name: '§5.1.1 a client opening an even stream', build: (h) => h.request(2, true), code: H2Code.PROTOCOL_ERROR },
  { name: '§5.1.1 a stream id lower than the last one', build: (h) => h.request(5, false).request(3, true), code: H2Code.PROTOCOL_ERROR },
  { name: '§5.1 HEADERS on a stream closed by END_STREAM both ways', build: (h) => { h.request(1, true); h.conn.sendHeaders(h.conn.stream(1)!, [':status', '204'], true); h.request(1, true); }, code: H2Code.STREAM_CLOSED },
  { name: '§4.3 HPACK: index beyond the tables', build: (h) => h.send((w) => writeRaw(w, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0xff, 0x10]))), code: H2Code.COMPRESSION_ERROR },
  // The connection's credit goes back as each frame arrives (connection.ts #admitData), so only one
  // frame larger than the whole window overruns it: a frame size of 128 KiB announced for the case.
  { name: '§6.9.1 DATA over the connection window', build: (h) => { h.request(1, false); h.send((w) => writeData(w, 1, Buffer.alloc(70_000), false)); }, code: H2Code.FLOW_CONTROL_ERROR, manualFlow: true, maxFrameSize: 1 << 17 },
];

for (const c of connectionErrors) {
  t.test(`connection error: ${c.name}`, async (t) => {
    // manualFlow: nothing is consumed, so no credit goes back to the peer during the case.
    const h = new Harness({ connectionWindowSize: 65_535, manualFlowControl: c.manualFlow ?? false, maxFrameSize: c.maxFrameSize }).handshake();
    c.build(h);
    t.equal(h.goaway(), c.code, 'GOAWAY code');
    t.equal(h.conn.closed, true, 'connection finished');
    t.equal(h.ended, true, 'socket ended');
    t.equal(h.errors.length, 1, 'one onError');
  });
}

t.test('the server must see the client preface, then SETTINGS first', async (t) => {
  const bad = new Harness();
  bad.raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.equal(bad.goaway(), H2Code.PROTOCOL_ERROR, 'HTTP/1.1 instead of the preface');
  const noSettings = new Harness();
  noSettings.raw(Buffer.from('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a', 'hex'));
  noSettings.send((w) => writePing(w, false, Buffer.alloc(8)));
  t.equal(noSettings.goaway(), H2Code.PROTOCOL_ERROR, 'PING before SETTINGS');
});

interface StreamCase {
  name: string;
  build: (h: Harness) => void;
  stream: number;
  code: number;
}

// Stream errors: RST_STREAM with `code` on `stream`, no GOAWAY, and a later request answered.
const streamErrors: StreamCase[] = [
  { name: '§5.3.1 HEADERS depending on itself', build: (h) => h.send((w) => writeHeaders(w, 1, Buffer.from(h.encoder.encode([':method', 'GET', ':scheme', 'http', ':path', '/'])), true, 16_384, { exclusive: false, dependency: 1, weight: 16 })), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§6.3 PRIORITY of 4 octets', build: (h) => h.send((w) => writeRaw(w, FrameType.PRIORITY, 0, 1, Buffer.alloc(4))), stream: 1, code: H2Code.FRAME_SIZE_ERROR },
  { name: '§5.3.1 PRIORITY depending on itself', build: (h) => h.send((w) => writePriority(w, 1, { exclusive: false, dependency: 1, weight: 1 })), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§6.9 WINDOW_UPDATE of 0 on a stream', build: (h) => h.request(1, false).send((w) => writeWindowUpdate(w, 1, 0)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§6.9.1 stream window over 2^31-1', build: (h) => h.request(1, false).send((w) => writeWindowUpdate(w, 1, 2 ** 31 - 1)), stream: 1, code: H2Code.FLOW_CONTROL_ERROR },
  { name: '§5.1 DATA after END_STREAM (half-closed remote)', build: (h) => h.request(1, true).send((w) => writeData(w, 1, Buffer.from('x'), false)), stream: 1, code: H2Code.STREAM_CLOSED },
  { name: '§5.1 HEADERS after END_STREAM (half-closed remote)', build: (h) => h.request(1, true).request(1, true), stream: 1, code: H2Code.STREAM_CLOSED },
  { name: '§8.1 trailers without END_STREAM', build: (h) => h.request(1, false).send((w) => writeHeaders(w, 1, Buffer.from(h.encoder.encode(['x-t', '1'])), false, 16_384)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.1 pseudo-header in trailers', build: (h) => h.request(1, false).send((w) => writeHeaders(w, 1, Buffer.from(h.encoder.encode([':path', '/x'])), true, 16_384)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.2.1 upper-case field name', build: (h) => h.request(1, true, ['X-Upper', '1']), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.2.2 connection-specific field', build: (h) => h.request(1, true, ['connection', 'keep-alive']), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.2.2 te other than trailers', build: (h) => h.request(1, true, ['te', 'gzip']), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.3 pseudo-header after a regular field', build: (h) => h.send((w) => writeHeaders(w, 1, Buffer.from(h.encoder.encode([':method', 'GET', 'x-a', '1', ':scheme', 'http', ':path', '/'])), true, 16_384)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.3.1 request without :path', build: (h) => h.send((w) => writeHeaders(w, 1, Buffer.from(h.encoder.encode([':method', 'GET', ':scheme', 'http'])), true, 16_384)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.3 unknown pseudo-header', build: (h) => h.send((w) => writeHeaders(w, 1, Buffer.from(h.encoder.encode([':method', 'GET', ':scheme', 'http', ':path', '/', ':foo', 'x'])), true, 16_384)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.1.1 DATA longer than content-length', build: (h) => h.request(1, false, ['content-length', '2']).send((w) => writeData(w, 1, Buffer.from('abc'), true)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§8.1.1 END_STREAM short of content-length', build: (h) => h.request(1, false, ['content-length', '5']).send((w) => writeData(w, 1, Buffer.from('abc'), true)), stream: 1, code: H2Code.PROTOCOL_ERROR },
  { name: '§6.9.1 DATA over the stream window', build: (h) => h.request(1, false).send((w) => writeData(w, 1, Buffer.alloc(101), false)), stream: 1, code: H2Code.FLOW_CONTROL_ERROR },
];

for (const c of streamErrors) {
  t.test(`stream error: ${c.name}`, async (t) => {
    const h = new Harness({ initialWindowSize: 100 }).handshake();
    c.build(h);
    const frames = h.frames();
    t.equal(frames.find((f) => f.type === FrameType.GOAWAY), undefined, 'no GOAWAY');
    t.equal(h.resets(frames).get(c.stream), c.code, 'RST_STREAM code');
    // The connection (and its HPACK state) is still good.
    h.request(101, true);
    t.ok(h.heads.get(101), 'a later request is delivered');
    t.equal(h.conn.closed, false);
  });
}

t.test('§6.1 padding is removed from DATA and its octets are counted for flow control', async (t) => {
  const h = new Harness({ initialWindowSize: 100 }).handshake();
  h.request(1, false);
  // 1 pad-length octet + 5 data + 60 padding = 66 of the window.
  h.send((w) => writeData(w, 1, Buffer.from('hello'), false, 60));
  t.same(h.data.get(1), [Buffer.from('hello')]);
  const wu = h.frames().filter((f) => f.type === FrameType.WINDOW_UPDATE && f.stream === 1);
  t.equal(wu.length, 1, 'past half the window: WINDOW_UPDATE sent');
  t.equal(wu[0]?.payload.readUInt32BE(0), 61, 'the padding (and its length octet) returned at once');
  t.equal(h.conn.stream(1)!.recvWindow, 95, 'the 5 data octets count until half a window of them is consumed');
  t.equal(h.conn.stream(1)!.recvUnacked, 5);
});

t.test('§6.10 a header block split over CONTINUATION frames decodes as one', async (t) => {
  const h = new Harness().handshake();
  const block = Buffer.from(h.encoder.encode([':method', 'GET', ':scheme', 'http', ':path', '/split', ':authority', 'x', 'x-long', 'v'.repeat(100)]));
  h.send((w) => {
    writeRaw(w, FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 10));
    writeContinuation(w, 1, block.subarray(10, 50), false);
    writeContinuation(w, 1, block.subarray(50), true);
  });
  t.same(h.heads.get(1)?.slice(0, 6), [':method', 'GET', ':scheme', 'http', ':path', '/split']);
  t.equal(h.heads.get(1)?.[9], 'v'.repeat(100));
});

t.test('§6.5 SETTINGS: unknown parameters ignored, ACK sent; §6.7 PING answered with the same data', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeSettings(w, [0x99, 7]));
  h.send((w) => writePing(w, false, Buffer.from('01234567')));
  const f = h.frames();
  t.ok(f.some((x) => x.type === FrameType.SETTINGS && x.flags === Flag.ACK), 'SETTINGS ACK');
  const pong = f.find((x) => x.type === FrameType.PING);
  t.equal(pong?.flags, Flag.ACK);
  t.equal(pong?.payload.toString(), '01234567');
});

t.test('§5.5 unknown frame types are ignored', async (t) => {
  const h = new Harness().handshake();
  h.send((w) => writeRaw(w, 0xee, 0xff, 1, Buffer.from('whatever')));
  h.request(1, true);
  t.ok(h.heads.get(1));
  t.equal(h.goaway(), null);
});

t.test('§5.1 closed: frames after our RST_STREAM are ignored, after the peer\'s RST_STREAM refused with STREAM_CLOSED', async (t) => {
  const h = new Harness().handshake();
  h.request(1, false);
  h.conn.reset(h.conn.stream(1)!, H2Code.CANCEL);
  h.frames();
  h.send((w) => writeData(w, 1, Buffer.from('late'), false));
  t.same([...h.resets().keys()], [], 'late DATA after our reset: ignored');
  h.request(3, false);
  h.send((w) => writeRstStream(w, 3, H2Code.CANCEL));
  h.send((w) => writeData(w, 3, Buffer.from('after'), false));
  t.equal(h.resets().get(3), H2Code.STREAM_CLOSED, 'DATA after the peer reset: STREAM_CLOSED');
  h.send((w) => writeWindowUpdate(w, 3, 5));
  t.equal(h.goaway(), null, 'WINDOW_UPDATE on a closed stream is ignored');
});

t.test('§6.8 GOAWAY from the peer: our streams above its last id are refused, new requests are not opened', async (t) => {
  const h = new Harness({ role: 'client' });
  h.send((w) => writeSettings(w, []));
  const a = h.conn.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'], true)!;
  const b = h.conn.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'], true)!;
  h.send((w) => writeGoaway(w, a.id, H2Code.NO_ERROR));
  t.ok(h.events.includes(`reset ${b.id} code=${H2Code.REFUSED_STREAM} byPeer=true`), 'stream above last id refused');
  t.notOk(h.events.some((e) => e.startsWith(`reset ${a.id}`)), 'stream at last id kept');
  t.equal(h.conn.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'], true), null);
});

t.test('client: 1xx is informational, the final head follows, DATA before any head is refused', async (t) => {
  const h = new Harness({ role: 'client' });
  h.send((w) => writeSettings(w, []));
  const enc = h.encoder;
  const s = h.conn.request([':method', 'POST', ':scheme', 'http', ':path', '/', ':authority', 'x'], false)!;
  h.send((w) => writeHeaders(w, s.id, Buffer.from(enc.encode([':status', '100'])), false, 16_384));
  h.send((w) => writeHeaders(w, s.id, Buffer.from(enc.encode([':status', '200'])), true, 16_384));
  t.same(h.events.slice(0, 2), [`headers ${s.id} kind=1 es=false`, `headers ${s.id} kind=0 es=true`]);
  const s2 = h.conn.request([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'], true)!;
  h.frames();
  h.send((w) => writeData(w, s2.id, Buffer.from('x'), true));
  t.equal(h.resets().get(s2.id), H2Code.PROTOCOL_ERROR);
});
