// A budget of held bytes per source workload (agent/h2/held-bytes-budget.ts): once one key's
// stalled readers hold more than the budget, its connections lower SETTINGS_INITIAL_WINDOW_SIZE
// (RFC 9113 §6.9.2), so the peer can send little more; another key moves at its full window; once
// the readers drain below half the budget the full window comes back and every byte arrives.
// Real parts: node:http2 is the independent peer (the server of the downloads), the codec runs as
// H2Session (as the agent's peer sessions run it), over loopback TCP through a relay that counts
// DATA on the wire with its own 9-octet frame header parser (RFC 9113 §4.1) — what the peer
// managed to send, counted on the peer's side of the codec. Content is compared by SHA-256 of what
// the server sent. The SETTINGS conformance test drives the codec from a raw socket with frames
// written by hand, so the oracle shares no code with the codec.
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { H2Session } from '../../../agent/h2/session.ts';
import type { H2DuplexStream } from '../../../agent/h2/duplex-stream.ts';
import { HeldBytesBudget, THROTTLED_STREAM_WINDOW } from '../../../agent/h2/held-bytes-budget.ts';
import { relay, until as untilWithin, WireLog, type Relay, type WireFrame } from './wire-relay.ts';

/** The default wait here is longer: 16 stalled 6 MiB downloads. */
const until = (what: string, cond: () => boolean, ms = 15_000): Promise<void> => untilWithin(what, cond, ms);

const MiB = 1 << 20;
/** As the agent's client sessions (agent/proxy/hbone/flow-windows.ts). */
const STREAM_WINDOW = 4 * MiB;
const CONN_WINDOW = 4 * MiB;
/** One stalled stream's full window fits (so the other key's stalled stream shows it is not throttled). */
const BUDGET = 4.5 * MiB;
const STALLED = 16;
const BODY = 6 * MiB;
const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_GOAWAY = 0x7;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;

/** Waits until `count()` has not moved for `quietMs`. */
async function settled(count: () => number, quietMs = 400): Promise<number> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const n = count();
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return n;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A node:http2 server of random downloads: GET /<name> answers BODY random octets and remembers their hash by name. */
async function downloads(t: Test): Promise<{ port: number; sent: Map<string, string> }> {
  const sent = new Map<string, string>();
  const server = http2.createServer({ maxSessionMemory: 256 });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const body = randomBytes(BODY);
    sent.set(String(headers[':path']), createHash('sha256').update(body).digest('hex'));
    stream.respond({ ':status': 200, 'content-length': String(BODY) });
    stream.end(body);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sessions) s.destroy(); server.close(); });
  return { port: (server.address() as net.AddressInfo).port, sent };
}

function codecClient(t: Test, port: number): H2Session {
  const session = new H2Session(net.connect(port, '127.0.0.1'), { role: 'client', readyEvent: 'connect', initialWindowSize: STREAM_WINDOW, connectionWindowSize: CONN_WINDOW });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  return session;
}

function get(session: H2Session, path: string): H2DuplexStream {
  const req = session.request({ ':method': 'GET', ':path': path, ':scheme': 'http', ':authority': 'peer' }, { endStream: true });
  req.on('error', () => {});
  return req;
}

/** Reads `req` to its end; the SHA-256 of what arrived. */
async function readAll(req: H2DuplexStream): Promise<string> {
  const h = createHash('sha256');
  req.on('data', (d: Buffer) => h.update(d));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([once(req, 'end'), new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('the download stalled')), 20_000)))]);
  } finally {
    clearTimeout(timer);
  }
  return h.digest('hex');
}

t.test('one key\'s stalled readers stop near its budget; another key and its fast streams still flow; all arrives once drained', async (t) => {
  const server = await downloads(t);
  let throttled: string[] = [];
  const budget = new HeldBytesBudget({ limit: BUDGET, onThrottle: (k) => throttled.push(k) });

  const ra = await relay(t, server.port);
  const a = codecClient(t, ra.port);
  a.conn.attachHeldBytes(budget.account('workload-a'));
  const rb = await relay(t, server.port);
  const b = codecClient(t, rb.port);
  b.conn.attachHeldBytes(budget.account('workload-b'));

  const stalled: H2DuplexStream[] = [];
  for (let i = 0; i < STALLED; i++) stalled.push(get(a, `/a-stalled-${i}`)); // no 'data' listener: never read
  await until('the stalled streams to open', () => stalled.every((s) => s.id !== undefined));
  const ids = stalled.map((s) => s.id as number);
  const sentA = await settled(() => ra.down.data(ids));
  const unbounded = STALLED * STREAM_WINDOW;
  // Past the budget: one small window per stream, and what was in flight for the round trip of
  // the SETTINGS: the connection credit the peer had when they left, and what went back to it
  // (on receipt) before it read them — two connection windows.
  const bound = BUDGET + STALLED * THROTTLED_STREAM_WINDOW + 2 * CONN_WINDOW;
  t.ok(sentA <= bound, `the peer sent ${(sentA / MiB).toFixed(2)} MiB on ${STALLED} stalled streams, at most ${(bound / MiB).toFixed(2)} MiB (budget + slack), not ${unbounded / MiB} MiB`);
  t.ok(sentA > BUDGET, 'it sent past the budget before the throttle (the budget is reactive)');
  t.same(throttled, ['workload-a'], 'workload-a was throttled once, workload-b not');
  t.same(ra.up.initialWindows(), [STREAM_WINDOW, THROTTLED_STREAM_WINDOW], 'workload-a\'s session announced the throttled window after its first SETTINGS');
  t.ok(a.conn.heldBytes <= sentA && a.conn.heldBytes > BUDGET, `workload-a holds ${a.conn.heldBytes} octets`);

  // Workload-b: a stalled stream takes its full window (not throttled).
  const bStalled = get(b, '/b-stalled');
  await until('workload-b\'s stream to open', () => bStalled.id !== undefined);
  const sentB = await settled(() => rb.down.data([bStalled.id as number]));
  t.equal(sentB, STREAM_WINDOW, 'workload-b\'s stalled stream received its whole 4 MiB window');
  t.same(rb.up.initialWindows(), [STREAM_WINDOW], 'workload-b\'s session never lowered its window');

  // A fast stream of the throttled workload still completes, intact.
  const fast = get(a, '/a-fast');
  t.equal(await readAll(fast), server.sent.get('/a-fast'), 'a read stream of throttled workload-a completes (smaller window) with the content sent');
  t.equal(a.conn.announcedStreamWindow, THROTTLED_STREAM_WINDOW, 'workload-a still throttled while its stalled readers hold');

  // Drain: every stalled reader reads; all bytes arrive intact; the full window comes back.
  const hashes = await Promise.all([...stalled, bStalled].map((s) => readAll(s)));
  const paths = [...stalled.map((_, i) => `/a-stalled-${i}`), '/b-stalled'];
  t.same(hashes, paths.map((p) => server.sent.get(p)), 'every stalled download arrived whole once read');
  await until('the full window to come back', () => a.conn.announcedStreamWindow === STREAM_WINDOW);
  t.same(ra.up.initialWindows(), [STREAM_WINDOW, THROTTLED_STREAM_WINDOW, STREAM_WINDOW], 'workload-a\'s session announced its full window again');
  t.equal(budget.account('workload-a').held, 0, 'workload-a holds nothing');
  t.notOk(budget.account('workload-a').throttled, 'and is no longer throttled');

  // A new stream after the restore moves at the full window again.
  throttled = [];
  const after = get(a, '/a-after');
  await until('the new stream to open', () => after.id !== undefined);
  t.equal(await settled(() => ra.down.data([after.id as number])), STREAM_WINDOW, 'a new stalled stream takes the full 4 MiB window again');
  t.same(throttled, [], 'one stream under the budget: no throttle');
  for (const f of [...ra.up.frames, ...rb.up.frames]) if (f.type === FRAME_RST_STREAM || f.type === FRAME_GOAWAY) t.fail(`the codec sent frame type ${f.type} on stream ${f.stream}`);
  t.equal(a.closed || b.closed, false, 'no session was closed');
});

// ---- SETTINGS conformance against a raw peer ----

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** WINDOW_UPDATE increments on `stream`, summed. */
function returnedOn(wire: WireLog, stream: number): number {
  let n = 0;
  for (const f of wire.frames) if (f.type === 0x8 && f.stream === stream) n += f.payload.readUInt32BE(0) & 0x7fffffff;
  return n;
}

/** A request head in HPACK by hand: :method POST, :scheme http, :path / (static 3, 6, 4), :authority "a" (literal, indexed name 1). */
const POST_HEAD = Buffer.from([0x83, 0x86, 0x84, 0x41, 0x01, 0x61]);

t.test('data the peer sent under the old window before its SETTINGS ACK is accepted; after the ACK the new window holds (RFC 9113 §6.9.2)', async (t) => {
  let streamOpened = false;
  const sessions: H2Session[] = [];
  const server = net.createServer((socket) => {
    const s = new H2Session(socket, { role: 'server', initialWindowSize: MiB, connectionWindowSize: 16 * MiB });
    sessions.push(s);
    s.on('error', () => {});
    s.on('stream', (stream: H2DuplexStream) => {
      streamOpened = true;
      stream.on('error', () => {}); // never read: the window is not given back
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sessions) s.destroy(); server.close(); });

  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.teardown(() => peer.destroy());
  const wire = new WireLog(0);
  peer.on('data', (d: Buffer) => wire.push(d));
  peer.on('error', () => {});
  await once(peer, 'connect');
  peer.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0))]));
  await until('the server\'s SETTINGS', () => wire.initialWindows().length === 1);
  peer.write(Buffer.concat([frame(FRAME_SETTINGS, 1, 0, Buffer.alloc(0)), frame(FRAME_HEADERS, 0x4, 1, POST_HEAD)]));
  await until('the stream to open', () => streamOpened);

  // The server lowers its stream window; the peer reads the SETTINGS but does not ACK it yet.
  const conn = sessions[0].conn;
  conn.limitStreamWindow(16 << 10);
  await until('the lowering SETTINGS', () => wire.initialWindows().length === 2);
  t.equal(wire.initialWindows()[1], 16 << 10, 'SETTINGS_INITIAL_WINDOW_SIZE 16384 sent');

  // 512 KiB under the old 1 MiB window, 32 times the new one, before the ACK.
  const chunk = Buffer.alloc(16 << 10, 9);
  const before: Buffer[] = [];
  for (let i = 0; i < 32; i++) before.push(frame(FRAME_DATA, 0, 1, chunk));
  peer.write(Buffer.concat(before));
  await until('the 512 KiB to arrive', () => conn.heldBytes + returnedOn(wire, 1) === 512 << 10, 3000).catch((e) => { t.comment(conn.heldBytes, returnedOn(wire, 1), wire.frames.map((f) => f.type)); throw e; });
  t.notOk(wire.frames.some((f) => f.type === FRAME_RST_STREAM || f.type === FRAME_GOAWAY), 'no FLOW_CONTROL_ERROR: the old window held until the ACK');

  // After the ACK the stream's window is 16 KiB − 512 KiB + what the reader returned (its Duplex
  // takes up to its high-water mark): negative. One more frame of 16 KiB is over it: a stream
  // FLOW_CONTROL_ERROR (0x3).
  peer.write(frame(FRAME_SETTINGS, 1, 0, Buffer.alloc(0)));
  await new Promise((r) => setTimeout(r, 100));
  const window = (16 << 10) - (512 << 10) + returnedOn(wire, 1);
  t.ok(window < 0, `the stream's window is now ${window} octets`);
  peer.write(frame(FRAME_DATA, 0, 1, chunk));
  await until('the reset', () => wire.frames.some((f) => f.type === FRAME_RST_STREAM));
  const rst = wire.frames.find((f) => f.type === FRAME_RST_STREAM) as WireFrame;
  t.equal(rst.stream, 1, 'on stream 1');
  t.equal(rst.payload.readUInt32BE(0), 0x3, 'FLOW_CONTROL_ERROR: the new window is in force after the ACK');
  t.notOk(wire.frames.some((f) => f.type === FRAME_GOAWAY), 'a stream error, the connection survives');
});
