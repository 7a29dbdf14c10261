// Streams whose readers stall hold their stream window and nothing more: the codec returns a DATA
// frame's connection credit on receipt (agent/h2/connection.ts #admitData), so the session's other
// streams keep flowing, as on node:http2. Before, the credit came back only when the reader took
// the bytes, and stalled streams that together held the connection window stopped every other
// stream of the session. Also RFC 9113 §8.1 on the client's Duplex (duplex-stream.ts): a
// RST_STREAM(NO_ERROR) after a complete response ends it normally.
// Real parts: node:http2 is the independent peer on both sides, the codec runs as H2Session (how
// the agent runs it between agents: manual flow control, H2DuplexStreams), over loopback TCP
// through a relay that reads the frames on the wire with its own 9-octet header parser (RFC 9113
// §4.1), so the oracle shares no code with the codec.
import t, { type Test } from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { H2Session } from '../../../agent/h2/session.ts';
import type { H2DuplexStream } from '../../../agent/h2/duplex-stream.ts';
import { relay, until, type Relay } from './wire-relay.ts';

const STREAM_WINDOW = 1 << 20;
/** A session window that 8 stalled streams' windows overfill: 4 of them would stall it before. */
const CONN_WINDOW = 4 << 20;
const STALLED = 8;
const FRAME_RST_STREAM = 0x3;

/** `server` listening on loopback behind a relay; both closed when `t` ends. */
async function behindRelay(t: Test, server: net.Server | http2.Http2Server): Promise<Relay> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return relay(t, (server.address() as net.AddressInfo).port);
}

/** A codec client session (as the agent's peer sessions run it) through the relay. */
function codecClient(t: Test, r: Relay, windows: { initialWindowSize?: number; connectionWindowSize?: number }): H2Session {
  const session = new H2Session(net.connect(r.port, '127.0.0.1'), { role: 'client', readyEvent: 'connect', ...windows });
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  return session;
}

t.test('node:http2 client → codec server: uploads nobody reads do not stop another stream', async (t) => {
  const sessions = new Set<H2Session>();
  t.teardown(() => { for (const s of sessions) s.destroy(); });
  const server = net.createServer((socket) => {
    const session = new H2Session(socket, { role: 'server', initialWindowSize: STREAM_WINDOW, connectionWindowSize: CONN_WINDOW });
    sessions.add(session);
    session.on('error', () => {});
    session.on('stream', (stream: H2DuplexStream, headers: http2.IncomingHttpHeaders) => {
      stream.on('error', () => {});
      if (headers[':path'] === '/stall') return; // never read: its window is held
      const body: Buffer[] = [];
      stream.on('data', (d: Buffer) => body.push(d));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(Buffer.concat(body));
      });
    });
  });
  const r = await behindRelay(t, server);
  const client = http2.connect(`http://127.0.0.1:${r.port}`);
  client.on('error', () => {});
  t.teardown(() => client.destroy());

  const stalled = new Set<number>();
  for (let i = 0; i < STALLED; i++) {
    const req = client.request({ ':method': 'POST', ':path': '/stall' });
    req.on('error', () => {});
    req.write(Buffer.alloc(2 * STREAM_WINDOW, i)); // more than the stream window: flow control holds the rest
    req.once('ready', () => stalled.add(req.id as number));
  }
  await until('the stalled uploads to use their stream windows', () => stalled.size === STALLED && r.up.data(stalled) >= STALLED * STREAM_WINDOW);
  t.equal(r.up.data(stalled), STALLED * STREAM_WINDOW, `${STALLED} × the stream window sent, twice the connection window`);

  const body = Buffer.alloc(512 << 10, 7);
  const echo = client.request({ ':method': 'POST', ':path': '/echo' });
  const chunks: Buffer[] = [];
  echo.on('data', (d: Buffer) => chunks.push(d));
  echo.end(body);
  await Promise.race([once(echo, 'end'), new Promise((_, rej) => setTimeout(() => rej(new Error('the echo stream stalled')), 10_000))]);
  t.same(Buffer.concat(chunks), body, 'another stream\'s 512 KiB went up and came back');

  const conn = r.down.credit(0);
  t.ok(conn >= STALLED * STREAM_WINDOW - CONN_WINDOW / 2, `WINDOW_UPDATE on stream 0 returned ${conn} octets, the stalled streams' included`);
  for (const id of stalled) t.equal(r.down.credit(id), 0, `stream ${id}: no WINDOW_UPDATE, nothing consumed`);
});

t.test('codec client → node:http2 server: downloads nobody reads do not stop another stream', async (t) => {
  // maxSessionMemory: node refuses new streams once the bodies it buffers pass it (10 MB by default).
  const server = http2.createServer({ maxSessionMemory: 64 });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const n = headers[':path'] === '/big' ? STREAM_WINDOW + (256 << 10) : 256 << 10;
    stream.respond({ ':status': 200, 'content-length': String(n) });
    stream.end(Buffer.alloc(n, 3));
  });
  const r = await behindRelay(t, server);
  const session = codecClient(t, r, { initialWindowSize: STREAM_WINDOW, connectionWindowSize: CONN_WINDOW });

  const stalled = new Set<number>();
  const held: H2DuplexStream[] = [];
  for (let i = 0; i < STALLED; i++) {
    const req = session.request({ ':method': 'GET', ':path': '/big', ':scheme': 'http', ':authority': 'peer' }, { endStream: true });
    req.on('error', () => {});
    held.push(req); // no 'data' listener: never read
  }
  await until('the stalled downloads to use their stream windows', () => {
    for (const h of held) if (h.id !== undefined) stalled.add(h.id);
    return stalled.size === STALLED && r.down.data(stalled) >= STALLED * STREAM_WINDOW;
  });
  t.equal(r.down.data(stalled), STALLED * STREAM_WINDOW, `${STALLED} × the stream window received, twice the connection window`);

  const req = session.request({ ':method': 'GET', ':path': '/small', ':scheme': 'http', ':authority': 'peer' }, { endStream: true });
  let got = 0;
  req.on('data', (d: Buffer) => (got += d.length));
  await Promise.race([once(req, 'end'), new Promise((_, rej) => setTimeout(() => rej(new Error('the other download stalled')), 10_000))]);
  t.equal(got, 256 << 10, 'another stream\'s 256 KiB download arrived');

  const conn = r.up.credit(0);
  t.ok(conn >= STALLED * STREAM_WINDOW - CONN_WINDOW / 2, `WINDOW_UPDATE on stream 0 returned ${conn} octets, the stalled streams' included`);
  for (const id of stalled) t.equal(r.up.credit(id), 0, `stream ${id}: no WINDOW_UPDATE, nothing consumed`);
});

t.test('RST_STREAM(NO_ERROR) after a complete response ends the response normally (RFC 9113 §8.1)', async (t) => {
  const body = Buffer.from('the whole answer');
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    // The request body is still coming; the server answers in full and declines the rest.
    stream.respond({ ':status': 200, ...(headers[':path'] === '/sized' ? { 'content-length': String(body.length) } : {}) });
    stream.end(body, () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
  });
  const r = await behindRelay(t, server);
  const session = codecClient(t, r, {});

  for (const path of ['/plain', '/sized']) {
    const req = session.request({ ':method': 'POST', ':path': path, ':scheme': 'http', ':authority': 'peer' });
    let error: Error | undefined;
    req.on('error', (e: Error) => (error = e));
    req.write(Buffer.alloc(1000)); // the request body, not ended
    await once(req, 'response');
    // The reader starts only once the reset is on the wire: 'end' must still follow the data.
    await until('RST_STREAM', () => req.id !== undefined && r.down.frames.some((f) => f.type === FRAME_RST_STREAM && f.stream === req.id));
    const rst = r.down.frames.find((f) => f.type === FRAME_RST_STREAM && f.stream === req.id);
    t.equal(rst?.payload.readUInt32BE(0), 0, `${path}: the server sent RST_STREAM(NO_ERROR)`);
    const chunks: Buffer[] = [];
    let ended = false;
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => (ended = true));
    await once(req, 'close');
    t.same(Buffer.concat(chunks), body, `${path}: the body delivered`);
    t.ok(ended, `${path}: 'end' after the data`);
    t.equal(error, undefined, `${path}: no error`);
    t.equal(req.rstCode, 0, `${path}: rstCode NO_ERROR`);
  }
});
