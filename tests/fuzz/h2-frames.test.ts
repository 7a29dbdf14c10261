// The HTTP/2 frame parser and connection (agent/h2/) under arbitrary input after a valid
// handshake. What must hold:
//   - never a throw out of receive(), whatever the bytes: every failure is an H2Error with an
//     RFC 9113 code, a connection error writes GOAWAY with that code and ends the socket;
//   - the outcome does not depend on how TCP split the bytes (same frames written for any cut);
//   - frames built from arbitrary fields (type, flags, stream, payload) hit the same guarantees
//     deeper than random bytes reach.
// The corpus (tests/fuzz/corpus/h2-frames.json) replays edge inputs first.
import t from 'tap';
import fc from 'fast-check';
import { FrameType } from '../../agent/h2/constants.ts';
import { FrameWriter } from '../../agent/h2/frame-writer.ts';
import { writeRaw } from '../../agent/h2/frame-encode.ts';
import { H2Error } from '../../agent/h2/h2-error.ts';
import { Harness } from '../agent/h2/harness.ts';
import { assertProperty, hexCorpus, runs } from './fuzz.ts';

const RUNS = runs(400);

interface Outcome {
  out: string;
  failed: boolean;
}

/** A server after the handshake, or a client that got the server's SETTINGS and opened streams 1 and 3. */
function peer(role: 'server' | 'client'): Harness {
  if (role === 'server') return new Harness({ limits: { settingsTimeoutMs: 60_000 } }).handshake();
  const h = new Harness({ role: 'client', limits: { settingsTimeoutMs: 60_000 } });
  h.raw(Buffer.from('000000040000000000', 'hex'));
  const req = [':method', 'POST', ':scheme', 'http', ':path', '/', ':authority', 'x'];
  h.conn.request(req, false);
  h.conn.request(req, true);
  h.frames();
  return h;
}

function run(chunks: Buffer[], role: 'server' | 'client' = 'server'): Outcome {
  const h = peer(role);
  for (const c of chunks) h.raw(c); // receive() must not throw: a throw fails the property
  const frames = h.frames();
  for (const e of h.errors) {
    if (!(e instanceof H2Error) || e.h2code < 0 || e.h2code > 0xd) throw new Error(`not a clean H2Error: ${String(e)}`);
  }
  const goaway = frames.find((f) => f.type === FrameType.GOAWAY);
  if ((goaway !== undefined) !== (h.errors.length === 1) && h.errors.length > 0) throw new Error('a connection error without its GOAWAY');
  if (goaway !== undefined && h.errors.length === 1 && goaway.payload.readUInt32BE(4) !== h.errors[0].h2code) throw new Error('GOAWAY code differs from the error');
  if (h.errors.length > 0 && !h.ended) throw new Error('a connection error left the socket open');
  return { out: frames.map((f) => `${f.type}/${f.flags}/${f.stream}/${f.type === FrameType.GOAWAY ? f.payload.subarray(0, 8).toString('hex') : f.payload.toString('hex')}`).join(' '), failed: h.errors.length > 0 };
}

function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, b.length]) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  return out;
}

t.test('corpus: replayed without a throw', async (t) => {
  for (const e of hexCorpus('h2-frames')) {
    run([e.input]);
    t.pass(e.note);
  }
});

t.test('arbitrary bytes: no throw, clean codes, the same outcome however they are split', async (t) => {
  assertProperty(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
    const b = Buffer.from(bytes);
    const whole = run([b]);
    const cut = run(split(b, cuts));
    return whole.out === cut.out && whole.failed === cut.failed;
  }), RUNS);
  t.pass(`${RUNS} inputs`);
});

const frame = fc.record({
  type: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })),
  flags: fc.oneof(fc.constantFrom(0, 1, 4, 5, 8, 0x20, 0x25, 0x2d), fc.integer({ min: 0, max: 255 })),
  stream: fc.oneof(fc.constantFrom(0, 1, 3, 5, 2), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    // Well-formed blocks (a request; responses 200 and 100; trailers) so frames get past HPACK into the state machine.
    fc.constantFrom(Uint8Array.from([0x82, 0x86, 0x84, 0x41, 0x01, 0x78]), Uint8Array.from([0x88]), Uint8Array.from([0x08, 0x03, 0x31, 0x30, 0x30]), Uint8Array.from([0x40, 0x01, 0x74, 0x01, 0x31]), new Uint8Array(4), new Uint8Array(8), new Uint8Array(5)),
  ),
});

t.test('arbitrary frame sequences, to a server and to a client: no throw, clean codes, chunking-independent', async (t) => {
  assertProperty(fc.property(fc.array(frame, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 4 }), fc.constantFrom('server' as const, 'client' as const), (frames, cuts, role) => {
    const w = new FrameWriter();
    for (const f of frames) writeRaw(w, f.type, f.flags, f.stream, Buffer.from(f.payload));
    const b = w.take();
    const whole = run([b], role);
    const cut = run(split(b, cuts), role);
    return whole.out === cut.out && whole.failed === cut.failed;
  }), RUNS);
  t.pass(`${RUNS} sequences`);
});
