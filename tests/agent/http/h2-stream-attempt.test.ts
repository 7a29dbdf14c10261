// H2StreamAttempt (agent/http/h2-stream-attempt.ts): one request as one plain object on the codec's
// client H2Session, against node:http2 as the independent server peer (h2c over loopback TCP, the
// shape of the h2c pod sessions; the mTLS hop between agents runs the same object in
// tests/agent/h2/agent-hop-engines.test.ts). Each behaviour H2Attempt has on node:http2: the
// response head as an IncomingHttpHeaders object, body, trailers only when non-empty, gRPC status
// in trailers and trailers-only answers, 100 Continue, bodyless requests ending the stream on
// HEADERS, never-delivered on no stream id (a peer that refuses the connection, a request aborted
// before the handshake) and on REFUSED_STREAM, delivered failures with the reset code otherwise,
// abort → RST_STREAM CANCEL with no sink call after, the pool's release exactly once on every
// path, and backpressure both ways with bodies far past the windows.
import t from 'tap';
import net from 'node:net';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createHash } from 'node:crypto';
import { H2Session } from '../../../agent/h2/session.ts';
import { H2StreamAttempt, startH2Attempt, type StreamReleaser } from '../../../agent/http/h2-stream-attempt.ts';
import type { AttemptSink, ResponseBody, UpstreamAttempt } from '../../../agent/http/upstream.ts';
import type { PoolEntry } from '../../../agent/proxy/hbone/pool.ts';
import { writeAll } from '../../common/write-all.ts';
import { pollUntil } from '../../common/poll-until.ts';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = http2.constants;

interface ServerSeen {
  /** RST code of each closed server stream, by path. */
  closed: Map<string, number>;
  /** Whether each request's HEADERS carried END_STREAM, by path. */
  endAfterHeaders: Map<string, boolean>;
  /** /stall-up: the paused request stream, and what it has read. */
  stalled?: ServerHttp2Stream;
  stalledRead: number;
  /** /down/N: octets the server's writes handed to its stream so far. */
  downSent: number;
  paths: string[];
}

const seen: ServerSeen = { closed: new Map(), endAfterHeaders: new Map(), stalledRead: 0, downSent: 0, paths: [] };

function digest(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

const server = http2.createServer({ settings: { initialWindowSize: 1 << 20 } });
server.on('stream', (stream, headers) => {
  const path = headers[':path'] as string;
  seen.paths.push(path);
  seen.endAfterHeaders.set(path, stream.endAfterHeaders);
  stream.on('error', () => {});
  stream.once('close', () => seen.closed.set(path, stream.rstCode));
  if (path === '/plain') {
    stream.respond({ ':status': 201, 'set-cookie': ['a=1', 'b=2'], 'x-one': 'v' });
    stream.end('plain body');
    return;
  }
  if (path === '/echo') {
    // The body back with its length and digest as trailers.
    if (headers.expect === '100-continue') stream.additionalHeaders({ ':status': 100 });
    const chunks: Buffer[] = [];
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => {
      const all = Buffer.concat(chunks);
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-bytes': String(all.length), 'x-sha': digest(all) }));
      stream.end(all);
    });
    return;
  }
  if (path === '/no-trailers') {
    // waitForTrailers answered with an empty set: no trailers on the wire.
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({}));
    stream.end('x');
    stream.resume();
    return;
  }
  if (path === '/grpc') {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '7', 'grpc-message': 'denied' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    stream.resume();
    return;
  }
  if (path === '/grpc-trailers-only') {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'gone' }, { endStream: true });
    return;
  }
  if (path === '/refuse') {
    stream.close(NGHTTP2_REFUSED_STREAM);
    return;
  }
  if (path === '/internal') {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (path === '/cut') {
    // Head and part of the body, then a reset (destroy: close(code) would send END_STREAM first).
    stream.respond({ ':status': 200 });
    stream.write('partial');
    setTimeout(() => stream.destroy(new Error('cut')), 50);
    return;
  }
  if (path === '/hang') {
    stream.resume();
    return;
  }
  if (path === '/stall-up') {
    // Reads nothing until the test resumes it.
    stream.pause();
    seen.stalled = stream;
    const h = createHash('sha256');
    stream.on('data', (c: Buffer) => {
      seen.stalledRead += c.length;
      h.update(c);
    });
    stream.once('end', () => {
      stream.respond({ ':status': 200 });
      stream.end(`${seen.stalledRead} ${h.digest('hex')}`);
    });
    return;
  }
  if (path.startsWith('/exact/')) {
    // A body of exactly N octets, then end() (with content-length when asked): when N is the
    // client's whole stream window, nghttp2 defers the empty END_STREAM DATA frame until a
    // WINDOW_UPDATE (RFC 9113 §6.9.1 lets it: "MAY be sent"), and node:http2, whose writable side
    // has finished, closes the stream with RST_STREAM(NO_ERROR) before any comes.
    const n = Number(path.slice(7));
    stream.respond(headers['x-with-length'] === '1' ? { ':status': 200, 'content-length': String(n) } : { ':status': 200 });
    // end() once the body went: as a streaming producer's last write, then end().
    stream.write(Buffer.alloc(n, 0x5a), () => stream.end());
    return;
  }
  if (path.startsWith('/down/')) {
    const n = Number(path.slice(6));
    stream.respond({ ':status': 200 });
    seen.downSent = 0;
    // Each 64 KiB chunk filled with its index: order is checkable.
    writeAll(stream, n, (at, len) => Buffer.alloc(len, (at / (64 * 1024)) & 0xff), (sent) => { seen.downSent = sent; });
    stream.resume();
    return;
  }
  stream.respond({ ':status': 404 });
  stream.end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as net.AddressInfo).port;
const sockets = new Set<net.Socket>();
server.on('connection', (s: net.Socket) => {
  sockets.add(s);
  s.once('close', () => sockets.delete(s));
});
t.teardown(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

/** Counts the pool releases, per entry. */
class CountingReleaser implements StreamReleaser {
  readonly counts = new Map<PoolEntry, number>();
  release(entry: PoolEntry): void {
    this.counts.set(entry, (this.counts.get(entry) ?? 0) + 1);
  }
}

function fakeEntry(): PoolEntry {
  return { key: 'k', session: undefined as never, context: undefined as never, active: 1, usable: true, goaway: undefined, failure: undefined };
}

function dial(p = port, initialWindowSize?: number): H2Session {
  const socket = net.connect({ host: '127.0.0.1', port: p });
  const session = new H2Session(socket, { role: 'client', readyEvent: 'connect', initialWindowSize });
  session.on('error', () => {});
  return session;
}

interface Outcome {
  calls: string[];
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  failure: { delivered: boolean; err: Error } | undefined;
}

/** A recording sink: every call in order; the body read as it comes unless `hold` pauses it. */
function recorder(hold = false): { sink: AttemptSink; out: Outcome; done: Promise<void>; body: () => ResponseBody | undefined } {
  const out: Outcome = { calls: [], status: 0, headers: {}, body: Buffer.alloc(0), trailers: undefined, failure: undefined };
  const chunks: Buffer[] = [];
  let body: ResponseBody | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => { finish = r; });
  const sink: AttemptSink = {
    onContinue: () => { out.calls.push('continue'); },
    onResponse: (status, headers, b) => {
      out.calls.push('response');
      out.status = status;
      out.headers = headers;
      body = b;
      if (hold) b.pause();
      b.on('data', (c: Buffer) => chunks.push(c));
    },
    onEnd: (trailers) => {
      out.calls.push('end');
      out.trailers = trailers;
      out.body = Buffer.concat(chunks);
      finish();
    },
    onFailure: (delivered, err) => {
      out.calls.push('failure');
      out.failure = { delivered, err };
      out.body = Buffer.concat(chunks);
      finish();
    },
  };
  return { sink, out, done, body: () => body };
}

const req = (path: string, extra: Record<string, string> = {}): Record<string, string> => ({ ':method': 'POST', ':scheme': 'http', ':authority': 'pod:8080', ':path': path, ...extra });

const until = pollUntil;

/** Resolves once `read()` has not changed for `quietMs` (the flow stopped). */
async function settled(read: () => number, quietMs = 300): Promise<number> {
  let last = read();
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = read();
    if (now === last) return now;
    last = now;
  }
}

const session = dial();
t.teardown(() => session.destroy());

t.test('the codec session gets the plain object, node:http2 keeps H2Attempt', async (t) => {
  const r = recorder();
  const a = startH2Attempt(session, req('/plain', { ':method': 'GET' }), true, r.sink);
  t.ok(a instanceof H2StreamAttempt);
  t.equal(a.body, a, 'the attempt is its own request body');
  await r.done;
  t.equal(r.body(), a, 'and its own response body');
  const node = http2.connect(`http://127.0.0.1:${port}`);
  node.on('error', () => {});
  t.teardown(() => node.close());
  const n = recorder();
  const b = startH2Attempt(node, req('/plain', { ':method': 'GET' }), true, n.sink);
  t.notOk(b instanceof H2StreamAttempt, 'node:http2 session: H2Attempt');
  await n.done;
  t.equal(n.out.body.toString(), 'plain body');
});

t.test('a sink that reads lists gets the head as received (repeats kept, :status first), and no header object', async (t) => {
  const r = recorder();
  let list: readonly string[] | undefined;
  let status = 0;
  const sink: AttemptSink = {
    ...r.sink,
    onResponse: () => { t.fail('onResponse called though the sink takes lists'); },
    onResponseList: (s, l, b) => {
      status = s;
      list = l;
      r.sink.onResponse(s, {}, b);
    },
  };
  new H2StreamAttempt(session, req('/plain', { ':method': 'GET' }), true, sink);
  await r.done;
  t.equal(status, 201);
  t.same(list?.slice(0, 2), [':status', '201']);
  const cookies: string[] = [];
  for (let i = 0; i < (list?.length ?? 0); i += 2) if (list?.[i] === 'set-cookie') cookies.push(list[i + 1]);
  t.same(cookies, ['a=1', 'b=2'], 'each Set-Cookie its own field, in order');
  t.equal(r.out.body.toString(), 'plain body');
  t.same(r.out.calls, ['response', 'end']);
});

t.test('a bodyless request: END_STREAM on HEADERS, the head as a header object, no trailers', async (t) => {
  const rel = new CountingReleaser();
  const entry = fakeEntry();
  const r = recorder();
  const a = new H2StreamAttempt(session, req('/plain', { ':method': 'GET' }), true, r.sink, rel, entry);
  t.equal(a.writableEnded, true, 'the body is already ended');
  await r.done;
  t.same(r.out.calls, ['response', 'end']);
  t.equal(r.out.status, 201);
  t.equal(r.out.headers[':status'], 201, ':status is a number, as node:http2 gives it');
  t.same(r.out.headers['set-cookie'], ['a=1', 'b=2'], 'set-cookie is an array');
  t.equal(r.out.headers['x-one'], 'v');
  t.equal(r.out.body.toString(), 'plain body');
  t.equal(r.out.trailers, undefined, 'no trailers');
  t.equal(seen.endAfterHeaders.get('/plain'), true, 'the server saw END_STREAM on the HEADERS frame');
  t.ok(await until(() => rel.counts.get(entry) === 1), 'released once');
  await new Promise((r2) => setTimeout(r2, 50));
  t.equal(rel.counts.get(entry), 1, 'and only once');
});

t.test('a body, echoed, with trailers; empty trailers are none', async (t) => {
  const r = recorder();
  const a = new H2StreamAttempt(session, req('/echo'), false, r.sink);
  t.ok(a.write(Buffer.from('hello ')));
  t.ok(a.write(Buffer.from('world')));
  a.end();
  t.equal(a.writableEnded, true);
  await r.done;
  t.equal(r.out.body.toString(), 'hello world');
  t.equal(r.out.trailers?.['x-bytes'], '11');
  t.equal(r.out.trailers?.['x-sha'], digest(Buffer.from('hello world')));
  t.equal(seen.endAfterHeaders.get('/echo'), false);
  const e = recorder();
  new H2StreamAttempt(session, req('/no-trailers', { ':method': 'GET' }), true, e.sink);
  await e.done;
  t.equal(e.out.body.toString(), 'x');
  t.equal(e.out.trailers, undefined, 'an empty trailer set is reported as no trailers');
});

t.test('gRPC status: in trailers, and a trailers-only answer', async (t) => {
  const r = recorder();
  const a = new H2StreamAttempt(session, req('/grpc', { 'content-type': 'application/grpc' }), false, r.sink);
  a.write(Buffer.from([0, 0, 0, 0, 0]));
  a.end();
  await r.done;
  t.equal(r.out.trailers?.['grpc-status'], '7');
  t.equal(r.out.trailers?.['grpc-message'], 'denied');
  const o = recorder();
  new H2StreamAttempt(session, req('/grpc-trailers-only', { 'content-type': 'application/grpc' }), true, o.sink);
  await o.done;
  t.same(o.out.calls, ['response', 'end']);
  t.equal(o.out.headers['grpc-status'], '14', 'the status is in the head');
  t.equal(o.out.trailers, undefined);
});

t.test('100 Continue: heard before the response, then the body goes', async (t) => {
  const r = recorder();
  const a = new H2StreamAttempt(session, req('/echo', { expect: '100-continue' }), false, {
    ...r.sink,
    onContinue: () => {
      r.sink.onContinue();
      a.write(Buffer.from('after continue'));
      a.end();
    },
  });
  await r.done;
  t.same(r.out.calls, ['continue', 'response', 'end']);
  t.equal(r.out.body.toString(), 'after continue');
});

t.test('REFUSED_STREAM is not delivered; another reset is a delivered failure', async (t) => {
  const rel = new CountingReleaser();
  const e1 = fakeEntry();
  const r = recorder();
  new H2StreamAttempt(session, req('/refuse', { ':method': 'GET' }), true, r.sink, rel, e1);
  await r.done;
  t.same(r.out.calls, ['failure']);
  t.equal(r.out.failure?.delivered, false, 'refused: never delivered, replayable whatever the method');
  t.ok(await until(() => rel.counts.get(e1) === 1), 'released once');
  const i = recorder();
  new H2StreamAttempt(session, req('/internal', { ':method': 'GET' }), true, i.sink);
  await i.done;
  t.equal(i.out.failure?.delivered, true, 'INTERNAL_ERROR before any answer: delivered');
  t.match(i.out.failure?.err.message ?? '', /code 2/);
  const c = recorder();
  new H2StreamAttempt(session, req('/cut', { ':method': 'GET' }), true, c.sink);
  await c.done;
  t.same(c.out.calls, ['response', 'failure'], 'a reset after the head fails the attempt; no end');
  t.equal(c.out.failure?.delivered, true);
  t.equal(c.out.body.toString(), 'partial');
});

t.test('no stream id: a peer that refuses the connection, and an abort before the handshake', async (t) => {
  const gone = net.createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const deadPort = (gone.address() as net.AddressInfo).port;
  await new Promise<void>((r) => gone.close(() => r()));
  const rel = new CountingReleaser();
  const e1 = fakeEntry();
  const s1 = dial(deadPort);
  const r = recorder();
  const a = new H2StreamAttempt(s1, req('/echo'), false, r.sink, rel, e1);
  t.ok(a.write(Buffer.from('queued while connecting')), 'a small body is taken while the session connects');
  a.end();
  await r.done;
  t.same(r.out.calls, ['failure']);
  t.equal(r.out.failure?.delivered, false, 'never delivered');
  t.ok(await until(() => rel.counts.get(e1) === 1), 'released once');

  const s2 = dial();
  t.teardown(() => s2.destroy());
  const e2 = fakeEntry();
  const q = recorder();
  const b = new H2StreamAttempt(s2, req('/never', { ':method': 'GET' }), true, q.sink, rel, e2);
  b.abort();
  b.abort();
  t.ok(await until(() => rel.counts.get(e2) === 1), 'an attempt aborted in the queue is released');
  // The session connects and opens nothing for it.
  const after = recorder();
  new H2StreamAttempt(s2, req('/plain', { ':method': 'GET' }), true, after.sink);
  await after.done;
  t.same(q.out.calls, [], 'no sink call for the aborted one');
  t.notOk(seen.paths.includes('/never'), 'the server never saw it');
  t.equal(rel.counts.get(e2), 1);
});

t.test('abort: RST_STREAM CANCEL reaches the server, no sink call after, released once', async (t) => {
  const rel = new CountingReleaser();
  const entry = fakeEntry();
  const r = recorder();
  const a = new H2StreamAttempt(session, req('/hang'), false, r.sink, rel, entry);
  a.write(Buffer.from('x'));
  t.ok(await until(() => seen.paths.includes('/hang')));
  a.abort();
  t.equal(a.destroyed, true);
  t.ok(await until(() => seen.closed.has('/hang')), 'the server stream closed');
  t.equal(seen.closed.get('/hang'), NGHTTP2_CANCEL, 'by CANCEL');
  await new Promise((r2) => setTimeout(r2, 100));
  t.same(r.out.calls, [], 'no sink calls after abort');
  t.equal(rel.counts.get(entry), 1, 'released once');
  t.ok(a.write(Buffer.from('late')), 'a write after abort is dropped, not an error');
  // destroy() on the response body is an abort too.
  const d = recorder();
  const b = new H2StreamAttempt(session, req('/cut', { ':method': 'GET' }), true, { ...d.sink, onResponse: (s, h, body) => { d.sink.onResponse(s, h, body); body.destroy(); } });
  await new Promise((r2) => setTimeout(r2, 200));
  t.same(d.out.calls, ['response'], 'nothing after the consumer let go');
  t.equal(b.destroyed, true);
});

t.test('backpressure up: a server that does not read stalls write() after the windows; drain when it reads', async (t) => {
  const rel = new CountingReleaser();
  const entry = fakeEntry();
  const total = 24 << 20;
  const r = recorder();
  const a = new H2StreamAttempt(session, req('/stall-up'), false, r.sink, rel, entry);
  let accepted = 0;
  let waiting = false;
  let drains = 0;
  const h = createHash('sha256');
  let i = 0;
  const write = (): void => {
    waiting = false;
    while (accepted < total) {
      const c = Buffer.alloc(64 * 1024, i++ & 0xff);
      h.update(c);
      accepted += c.length;
      if (!a.write(c)) {
        waiting = true;
        a.once('drain', () => {
          drains++;
          write();
        });
        return;
      }
    }
    a.end();
  };
  write();
  await until(() => seen.stalled !== undefined);
  await settled(() => accepted);
  t.ok(waiting, 'write() returned false and the writer waits for drain');
  // Stream window 1 MiB + the codec's high-water mark (1 MiB) + the socket buffers.
  t.ok(accepted < 8 << 20, `the writer got ${accepted} of ${total} octets in before it stalled`);
  seen.stalled?.resume();
  await r.done;
  t.ok(drains > 0, `'drain' came (${drains} times)`);
  t.equal(r.out.body.toString(), `${total} ${h.digest('hex')}`, 'every octet arrived, in order');
  t.ok(await until(() => rel.counts.get(entry) === 1), 'released once');
});

t.test('backpressure down: a paused consumer holds the receive window; resume reads it all', async (t) => {
  const total = 24 << 20;
  const r = recorder(true);
  const chunks: Buffer[] = [];
  new H2StreamAttempt(session, req(`/down/${total}`, { ':method': 'GET' }), true, r.sink);
  await until(() => r.body() !== undefined);
  await settled(() => seen.downSent);
  t.ok(seen.downSent < 8 << 20, `the server wrote ${seen.downSent} of ${total} octets to a paused client`);
  const body = r.body() as ResponseBody;
  body.on('data', (c: Buffer) => chunks.push(c));
  // Pause and resume a few times while it flows.
  let flips = 0;
  const flip = setInterval(() => {
    if (flips++ % 2 === 0) body.pause();
    else body.resume();
  }, 5);
  body.resume();
  await new Promise((r2) => setTimeout(r2, 100));
  clearInterval(flip);
  body.resume();
  await r.done;
  t.same(r.out.calls, ['response', 'end']);
  const all = Buffer.concat(chunks);
  t.equal(all.length, total, 'all of it');
  let ok = true;
  for (let off = 0, i = 0; off < total; off += 64 * 1024, i++) if (all[off] !== (i & 0xff) || all[Math.min(total, off + 64 * 1024) - 1] !== (i & 0xff)) ok = false;
  t.ok(ok, 'in order');
});

// The hang of a slow app reader behind an h2c pod with a 4 MiB stream window
// (tests/agent/http/app-h2-engines.test.ts): a body that ends exactly as the stream window does
// left node:http2's server unable to send END_STREAM, and it closed the stream with
// RST_STREAM(NO_ERROR) after its last DATA. node:http2's client takes that as the body's end;
// the codec's attempt took it as a failure, and the app's stream was reset, its tail dropped.
for (const window of [64 * 1024, 256 * 1024, 1 << 20]) {
  for (const withLength of [false, true]) {
    t.test(`a body that fills the ${window}-octet stream window, then RST_STREAM(NO_ERROR) from the server: the whole body, an end${withLength ? ' (content-length)' : ''}`, async (t) => {
      const s = dial(port, window);
      t.teardown(() => s.destroy());
      const path = `/exact/${window}`;
      seen.closed.delete(path);
      const r = recorder(true);
      new H2StreamAttempt(s, req(path, { ':method': 'GET', 'x-with-length': withLength ? '1' : '0' }), true, r.sink);
      await until(() => r.body() !== undefined);
      // The consumer reads nothing until the server's stream is gone: no credit went back.
      await until(() => seen.closed.has(path));
      t.equal(seen.closed.get(path), http2.constants.NGHTTP2_NO_ERROR, 'the case under test: the server closed its stream with NO_ERROR before END_STREAM could go');
      (r.body() as ResponseBody).resume();
      await r.done;
      t.same(r.out.calls, ['response', 'end'], 'an end, not a failure');
      t.equal(r.out.body.length, window, 'every octet of the body');
      t.ok(r.out.body.every((b) => b === 0x5a), 'the body as sent');
    });
  }
}

t.test('many concurrent attempts on one session', async (t) => {
  const all = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const r = recorder();
    const a: UpstreamAttempt = new H2StreamAttempt(session, req('/echo'), false, r.sink);
    a.body.write(Buffer.from(`req-${i}`));
    a.body.end();
    await r.done;
    return r.out.body.toString();
  }));
  t.same(all, Array.from({ length: 200 }, (_, i) => `req-${i}`));
});

t.test('the handshake queue holds Duplex requests and handler objects alike, in order', async (t) => {
  const s = dial();
  t.teardown(() => s.destroy());
  t.ok(s.connecting, 'still connecting');
  const r = recorder();
  const a = new H2StreamAttempt(s, req('/echo'), false, r.sink);
  a.write(Buffer.from('from the handler'));
  const duplex = s.request(req('/echo'));
  const chunks: Buffer[] = [];
  duplex.on('data', (c: Buffer) => chunks.push(c));
  const duplexEnded = new Promise((res) => duplex.once('end', res));
  duplex.end('from the duplex');
  a.end();
  await r.done;
  await duplexEnded;
  t.equal(r.out.body.toString(), 'from the handler');
  t.equal(Buffer.concat(chunks).toString(), 'from the duplex');
});

t.test('a session already closed: not delivered, reported after the constructor returned', async (t) => {
  const s = dial();
  await new Promise((r) => s.once('connect', r));
  s.close();
  const rel = new CountingReleaser();
  const entry = fakeEntry();
  const r = recorder();
  const a = new H2StreamAttempt(s, req('/plain', { ':method': 'GET' }), true, r.sink, rel, entry);
  t.same(r.out.calls, [], 'nothing reported inside the constructor');
  t.equal(a.destroyed, true);
  await r.done;
  t.same(r.out.calls, ['failure']);
  t.equal(r.out.failure?.delivered, false);
  t.equal((r.out.failure?.err as Error & { code?: string }).code, 'WEFT_ERR_UPSTREAM_CONNECT');
  t.ok(await until(() => rel.counts.get(entry) === 1), 'released once');
});

t.test('resume() with no data consumer reads and drops the body, as a node Readable does', async (t) => {
  const d = recorder();
  let body: ResponseBody | undefined;
  new H2StreamAttempt(session, req(`/down/${4 << 20}`, { ':method': 'GET' }), true, {
    ...d.sink,
    onResponse: (s, h, b) => {
      d.out.calls.push('response');
      body = b;
      b.resume();
    },
  });
  await d.done;
  t.same(d.out.calls, ['response', 'end'], '4 MiB past the window, ended with nobody reading');
  t.ok(body !== undefined);
});
