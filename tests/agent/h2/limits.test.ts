// The limits a public-facing peer holds (agent/h2/limits.ts), each driven past its edge on a
// server connection (harness.ts) with a test clock: rapid reset, CONTINUATION floods, HPACK
// bombs, concurrency, control-frame floods, SETTINGS timeout. Each test also shows the edge is
// where it is: one less does not trip it.
import t from 'tap';
import { Flag, FrameType, H2Code } from '../../../agent/h2/constants.ts';
import { writeContinuation, writeData, writeHeaders, writePing, writeRaw, writeRstStream, writeSettings } from '../../../agent/h2/frame-encode.ts';
import { Harness } from './harness.ts';

t.test('rapid reset (CVE-2023-44487): RST_STREAMs over the window limit → GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const h = new Harness({ limits: { maxResetsPerWindow: 50, resetWindowMs: 1000 } }).handshake();
  let id = 1;
  for (let i = 0; i < 50; i++, id += 2) h.request(id, false).send((w) => writeRstStream(w, id, H2Code.CANCEL));
  t.equal(h.goaway(), null, '50 resets in the window: allowed');
  h.request(id, false).send((w) => writeRstStream(w, id, H2Code.CANCEL));
  t.equal(h.goaway(), H2Code.ENHANCE_YOUR_CALM, 'the 51st: GOAWAY');
  t.equal(h.conn.closed, true);
  t.same({ ...h.conn.stats }, { streamsOpened: 51, streamsRefused: 0, resetsReceived: 51, resetsSent: 0, calm: 1, goawaysReceived: 0 }, 'counted');
});

t.test('rapid reset: the same rate spread over windows is fine', async (t) => {
  const h = new Harness({ limits: { maxResetsPerWindow: 50, resetWindowMs: 1000 } }).handshake();
  let id = 1;
  for (let i = 0; i < 500; i++, id += 2) {
    h.time += 25; // 40 per second
    h.request(id, false).send((w) => writeRstStream(w, id, H2Code.CANCEL));
  }
  t.equal(h.goaway(), null);
  t.equal(h.conn.closed, false);
});

t.test('streams refused over the concurrency limit count as resets (open-and-refuse churn)', async (t) => {
  const h = new Harness({ limits: { maxConcurrentStreams: 1, maxResetsPerWindow: 20 } }).handshake();
  h.request(1, false);
  for (let id = 3; id <= 41; id += 2) h.request(id, true);
  const f = h.frames();
  t.equal(h.resets(f).get(3), H2Code.REFUSED_STREAM, 'over SETTINGS_MAX_CONCURRENT_STREAMS: REFUSED_STREAM');
  t.equal(f.find((x) => x.type === FrameType.GOAWAY), undefined, '20 refusals: allowed');
  h.request(43, true);
  t.equal(h.goaway(), H2Code.ENHANCE_YOUR_CALM, 'the 21st: GOAWAY');
  t.equal(h.conn.stats.streamsRefused, 21);
  t.equal(h.conn.stats.resetsSent, 20, 'the 21st got the GOAWAY instead of an RST_STREAM');
});

t.test('SETTINGS_MAX_CONCURRENT_STREAMS: over it REFUSED_STREAM; a slot frees when a stream closes', async (t) => {
  const h = new Harness({ limits: { maxConcurrentStreams: 2 } }).handshake();
  h.request(1, false).request(3, false).request(5, false);
  t.same([...h.resets()], [[5, H2Code.REFUSED_STREAM]]);
  t.notOk(h.heads.has(5), 'the refused stream was not delivered');
  h.send((w) => writeData(w, 1, Buffer.alloc(0), true));
  h.conn.sendHeaders(h.conn.stream(1)!, [':status', '200'], true);
  h.request(7, true);
  t.ok(h.heads.has(7), 'accepted after stream 1 closed');
  t.equal(h.goaway(), null);
});

t.test('CONTINUATION flood: more CONTINUATION frames than allowed → ENHANCE_YOUR_CALM (before END_HEADERS)', async (t) => {
  const h = new Harness({ limits: { maxContinuationFrames: 8 } }).handshake();
  const block = Buffer.from(h.encoder.encode([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x']));
  // 8 continuations: allowed.
  h.send((w) => {
    writeRaw(w, FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 1));
    for (let i = 1; i < 8; i++) writeContinuation(w, 1, Buffer.alloc(0), false);
    writeContinuation(w, 1, block.subarray(1), true);
  });
  t.ok(h.heads.has(1), '8 CONTINUATION frames: delivered');
  h.send((w) => {
    writeRaw(w, FrameType.HEADERS, Flag.END_STREAM, 3, Buffer.alloc(0));
    for (let i = 0; i < 9; i++) writeContinuation(w, 3, Buffer.alloc(0), false);
  });
  t.equal(h.goaway(), H2Code.ENHANCE_YOUR_CALM, 'the 9th (empty, never ending): GOAWAY');
});

t.test('CONTINUATION flood: a header block over the size cap → ENHANCE_YOUR_CALM', async (t) => {
  const h = new Harness({ limits: { maxHeaderBlockSize: 10_000, maxContinuationFrames: 100 } }).handshake();
  h.send((w) => {
    writeRaw(w, FrameType.HEADERS, 0, 1, Buffer.alloc(5000, 0x82));
    writeContinuation(w, 1, Buffer.alloc(5000, 0x82), false);
  });
  t.equal(h.goaway(), null, 'exactly 10 000 octets: still buffering');
  h.send((w) => writeContinuation(w, 1, Buffer.alloc(1, 0x82), false));
  t.equal(h.goaway(), H2Code.ENHANCE_YOUR_CALM);
});

t.test('HPACK bomb: a small block that decodes past SETTINGS_MAX_HEADER_LIST_SIZE → 431, table kept in step, connection lives', async (t) => {
  const h = new Harness({ limits: { maxHeaderListSize: 16_384 } }).handshake();
  // Blocks written by hand so the tables are exactly known: GET http / (static 2, 6, 4),
  // :authority x as a literal without indexing, then x-bomb: 'b' × 4000 with incremental
  // indexing (length 4000 = 0x7f then 3873 as 0xa1 0x1e).
  const prefix = Buffer.from('828684' + '0101' + '78', 'hex');
  const big = 'b'.repeat(4000);
  const first = Buffer.concat([prefix, Buffer.from('4006', 'hex'), Buffer.from('x-bomb'), Buffer.from('7fa11e', 'hex'), Buffer.from(big)]);
  h.send((w) => writeHeaders(w, 1, first, true, 16_384));
  t.equal(h.heads.get(1)?.at(-1), big, 'first request (table insert) delivered');
  // The entry (dynamic index 1 = 62) referenced 100 times: 100 octets on the wire, ~400 KB decoded.
  const bombIndex = 62;
  const bomb = Buffer.concat([prefix, Buffer.alloc(100, 0x80 | bombIndex)]);
  h.send((w) => writeHeaders(w, 3, bomb, true, 16_384));
  const f = h.frames();
  const answer = f.find((x) => x.type === FrameType.HEADERS && x.stream === 3);
  t.ok(answer, 'a HEADERS answer on the bombing stream');
  t.notOk(h.heads.has(3), 'the oversized list was not delivered');
  t.equal(f.find((x) => x.type === FrameType.GOAWAY), undefined, 'no GOAWAY');
  // HPACK state is still in step: the next request referencing the table decodes.
  h.send((w) => writeHeaders(w, 5, Buffer.concat([prefix, Buffer.from([0x80 | bombIndex])]), true, 16_384));
  t.equal(h.heads.get(5)?.at(-1), big, 'index 62 still means x-bomb');
});

t.test('control-frame floods: PINGs and SETTINGS over the window limit → ENHANCE_YOUR_CALM', async (t) => {
  const h = new Harness({ limits: { maxControlFramesPerWindow: 30 } }).handshake(); // the handshake SETTINGS counts as 1
  h.send((w) => {
    for (let i = 0; i < 29; i++) writePing(w, false, Buffer.alloc(8));
  });
  t.equal(h.goaway(), null, '30 control frames: allowed');
  h.send((w) => writeSettings(w, []));
  t.equal(h.goaway(), H2Code.ENHANCE_YOUR_CALM);
});

t.test('empty DATA frames without END_STREAM count as control frames (CVE-2019-9518)', async (t) => {
  const h = new Harness({ limits: { maxControlFramesPerWindow: 10 } }).handshake();
  h.request(1, false);
  h.send((w) => {
    for (let i = 0; i < 20; i++) writeData(w, 1, Buffer.alloc(0), false);
  });
  t.equal(h.goaway(), H2Code.ENHANCE_YOUR_CALM);
});

t.test('SETTINGS timeout: no ACK of our SETTINGS in time → GOAWAY SETTINGS_TIMEOUT', async (t) => {
  const h = new Harness({ limits: { settingsTimeoutMs: 30 } });
  h.raw(Buffer.from('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a', 'hex'));
  h.send((w) => writeSettings(w, []));
  h.frames();
  await new Promise((r) => setTimeout(r, 120));
  t.equal(h.goaway(), H2Code.SETTINGS_TIMEOUT);
  const acked = new Harness({ limits: { settingsTimeoutMs: 30 } }).handshake();
  await new Promise((r) => setTimeout(r, 120));
  t.equal(acked.goaway(), null, 'acknowledged: no timeout');
});

t.test('HPACK: a table size update above what we announced → COMPRESSION_ERROR', async (t) => {
  const h = new Harness().handshake();
  // 0x3f e1 1f = size update to 4096 + 1 (5-bit prefix 31, then 4066 = 0xe2 0x1f): 4097
  h.send((w) => writeHeaders(w, 1, Buffer.from([0x3f, 0xe2, 0x1f, 0x82]), true, 16_384));
  t.equal(h.goaway(), H2Code.COMPRESSION_ERROR);
});
