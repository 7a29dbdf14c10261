// The pod hop's HTTP/1.1 client against real sockets on 127.0.0.1: keep-alive reuse, request
// framing, 100-continue, backpressure both ways, and failures reported as delivered or not (the
// replay rules depend on it), including a pooled connection the server had closed.
import t, { type Test } from 'tap';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { H1Pool, serverIdleMs } from '../../../agent/http/h1-client.ts';
import { endBody, endRequest, type AttemptRequest, type AttemptSink, type ResponseBody } from '../../../agent/http/upstream.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';

interface Outcome { status: number; headers: IncomingHttpHeaders; body: string; trailers: IncomingHttpHeaders | undefined; continued: boolean }
interface Failure { delivered: boolean; err: Error & { code?: string } }

function sink(opts: { paused?: boolean } = {}): { sink: AttemptSink; done: Promise<Outcome>; failed: Promise<Failure>; body: () => ResponseBody | undefined } {
  let resolve!: (o: Outcome) => void;
  let fail!: (f: Failure) => void;
  const done = new Promise<Outcome>((r) => { resolve = r; });
  const failed = new Promise<Failure>((r) => { fail = r; });
  const o: Outcome = { status: 0, headers: {}, body: '', trailers: undefined, continued: false };
  let body: ResponseBody | undefined;
  return {
    done,
    failed,
    body: () => body,
    sink: {
      onContinue() { o.continued = true; },
      onResponse(s, h, b) {
        o.status = s;
        o.headers = h;
        body = b;
        if (opts.paused !== true) b.on('data', (c: Buffer) => { o.body += c.toString(); });
      },
      onEnd(tr) { o.trailers = tr; resolve(o); },
      onFailure(delivered, err) { fail({ delivered, err }); },
    },
  };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function req(port: number, over: Partial<AttemptRequest> = {}): AttemptRequest {
  return { method: 'GET', path: '/', authority: 'pod.test', headers: [], proto: 'http1', target: { ip: '127.0.0.1', port }, source: 'spiffe://t/ns/a/sa/b', sourceAddress: '127.0.0.1', bodyless: true, ...over };
}

/** A node:http server that counts connections; closes everything at teardown. */
async function httpServer(t: Test, handler: http.RequestListener, setup?: (s: http.Server) => void): Promise<{ port: number; connections: () => number }> {
  const server = http.createServer(handler);
  setup?.(server);
  let connections = 0;
  server.on('connection', () => { connections++; });
  const port = await listen(server);
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { port, connections: () => connections };
}

function newPool(t: Test, idleMs = 60_000): H1Pool {
  const pool = new H1Pool({ sockets: createSocketFactory(), connectTimeoutMs: 2000, idleMs });
  t.teardown(() => pool.close());
  return pool;
}

t.test('keep-alive: sequential requests share one connection; the head carries host and headers', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const s = await httpServer(t, (q, r) => { seen.push(q.headers); r.setHeader('set-cookie', ['a=1', 'b=2']); r.end(`${q.method} ${q.url}`); });
  const pool = newPool(t);
  for (let i = 0; i < 3; i++) {
    const a = sink();
    pool.start(req(s.port, { path: `/p${i}?q=1`, headers: ['x-multi', '1', 'cookie', 'c=1', 'x-multi', '2', 'cookie', 'd=2', 'x-num', '5'] }), a.sink);
    const o = await a.done;
    t.equal(o.body, `GET /p${i}?q=1`);
    t.same(o.headers['set-cookie'], ['a=1', 'b=2']);
  }
  t.equal(s.connections(), 1, 'one connection for three requests');
  t.equal(seen[0].host, 'pod.test');
  t.equal(seen[0]['x-multi'], '1, 2');
  t.equal(seen[0].cookie, 'c=1; d=2', 'cookies joined into one field');
  t.equal(seen[0]['x-num'], '5');
  t.equal(seen[0]['content-length'], undefined, 'a bodyless GET has no framing');
});

t.test('request bodies: chunked without a length, identity with one, content-length 0 for a bodyless POST', async (t) => {
  const got: string[] = [];
  const s = await httpServer(t, (q, r) => {
    let body = '';
    q.on('data', (c: Buffer) => { body += c.toString(); });
    q.on('end', () => { got.push(`${q.headers['transfer-encoding'] ?? '-'} ${q.headers['content-length'] ?? '-'} ${body}`); r.end('ok'); });
  });
  const pool = newPool(t);
  const a = sink();
  const chunked = pool.start(req(s.port, { method: 'POST', bodyless: false }), a.sink);
  chunked.body.write(Buffer.from('hel'));
  chunked.body.write(Buffer.alloc(0));
  chunked.body.write(Buffer.from('lo'));
  endBody(chunked.body);
  await a.done;
  const b = sink();
  const sized = pool.start(req(s.port, { method: 'PUT', bodyless: false, headers: ['content-length', '5'] }), b.sink);
  sized.body.write(Buffer.from('world'));
  endBody(sized.body);
  await b.done;
  const c = sink();
  pool.start(req(s.port, { method: 'POST', bodyless: true }), c.sink);
  await c.done;
  t.same(got, ['chunked - hello', '- 5 world', '- 0 ']);
  t.equal(s.connections(), 1);
});

t.test('100-continue: the head goes first, the sink hears Continue, then the body', async (t) => {
  const s = await httpServer(t, (q, r) => {
    let body = '';
    q.on('data', (c: Buffer) => { body += c.toString(); });
    q.on('end', () => r.end(`got ${body}`));
  }, (server) => server.on('checkContinue', (q, r) => { r.writeContinue(); server.emit('request', q, r); }));
  const pool = newPool(t);
  const a = sink();
  let continued = false;
  const attempt = pool.start(req(s.port, { method: 'POST', bodyless: false, headers: ['expect', '100-continue', 'content-length', '4'] }), {
    ...a.sink,
    onContinue() {
      continued = true;
      attempt.body.write(Buffer.from('data'));
      endBody(attempt.body);
    },
  });
  const o = await a.done;
  t.ok(continued);
  t.equal(o.body, 'got data');
});

t.test('HEAD, trailers, and a close-delimited answer', async (t) => {
  const raw = net.createServer((sock) => {
    let buf = '';
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        const head = buf.slice(0, buf.indexOf('\r\n\r\n'));
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        if (head.startsWith('HEAD')) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n');
        else if (head.startsWith('GET /trailers')) sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 6\r\n\r\n');
        else sock.end('HTTP/1.1 200 OK\r\n\r\nuntil close');
      }
    });
  });
  const port = await listen(raw);
  t.teardown(() => raw.close());
  let connections = 0;
  raw.on('connection', () => { connections++; });
  const pool = newPool(t);
  const h = sink();
  pool.start(req(port, { method: 'HEAD' }), h.sink);
  const ho = await h.done;
  t.equal(ho.body, '', 'HEAD has no body');
  const tr = sink();
  pool.start(req(port, { path: '/trailers' }), tr.sink);
  const to = await tr.done;
  t.equal(to.body, 'abc');
  t.same(to.trailers, { 'x-sum': '6' });
  t.equal(connections, 1, 'HEAD and chunked answers keep the connection');
  const c = sink();
  pool.start(req(port, { path: '/close' }), c.sink);
  t.equal((await c.done).body, 'until close');
  const d = sink();
  pool.start(req(port, { path: '/trailers' }), d.sink);
  await d.done;
  t.equal(connections, 2, 'a close-delimited answer is not followed on the same connection');
});

t.test('failures: refused connect is not delivered; a reset after the request is', async (t) => {
  const closed = net.createServer();
  const deadPort = await listen(closed);
  await new Promise<void>((r) => closed.close(() => r()));
  const pool = newPool(t);
  const a = sink();
  pool.start(req(deadPort), a.sink);
  const f = await a.failed;
  t.notOk(f.delivered, 'connect refused: never delivered');
  const raw = net.createServer((sock) => sock.once('data', () => sock.destroy()));
  const port = await listen(raw);
  t.teardown(() => raw.close());
  const b = sink();
  pool.start(req(port), b.sink);
  const g = await b.failed;
  t.ok(g.delivered, 'a fresh connection closed after the request: delivered');
});

t.test('a pooled connection the server dropped without answering: not delivered', async (t) => {
  let n = 0;
  const raw = net.createServer((sock) => {
    sock.on('data', () => {
      n++;
      // First request answered; the second one meets a connection that dies unanswered.
      if (n === 1) sock.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else sock.destroy();
    });
  });
  const port = await listen(raw);
  t.teardown(() => raw.close());
  const pool = newPool(t);
  const a = sink();
  pool.start(req(port), a.sink);
  await a.done;
  const b = sink();
  pool.start(req(port, { method: 'POST' }), b.sink);
  const f = await b.failed;
  t.notOk(f.delivered, 'stale pooled connection: safe to replay');
  t.equal(f.err.code, 'ECONNRESET');
});

t.test('malformed and oversized answers fail delivered with WEFT_ERR_HTTP_UPSTREAM_MALFORMED; garbage after an answer closes the connection', async (t) => {
  const answers = ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nx', `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(40_000)}\r\n\r\n`, 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n'];
  let i = 0;
  let connections = 0;
  const raw = net.createServer((sock) => {
    connections++;
    sock.on('error', () => {});
    sock.on('data', () => { sock.write(answers[i++ % answers.length]); });
  });
  const port = await listen(raw);
  t.teardown(() => raw.close());
  const pool = newPool(t);
  for (let k = 0; k < 2; k++) {
    const a = sink();
    pool.start(req(port), a.sink);
    const f = await a.failed;
    t.ok(f.delivered);
    t.equal(f.err.code, 'WEFT_ERR_HTTP_UPSTREAM_MALFORMED');
  }
  const g = sink();
  pool.start(req(port), g.sink);
  t.equal((await g.done).body, 'ok', 'the answer itself is fine');
  const h = sink();
  pool.start(req(port), h.sink);
  await Promise.race([h.done, h.failed]);
  t.equal(connections, 4, 'every failure, and the garbage, cost the connection');
});

t.test('backpressure: a paused consumer stops the socket; resuming delivers everything', { timeout: 20_000 }, async (t) => {
  // Far more than the kernel's socket buffers hold: without backpressure the server finishes.
  const size = 64 * 1024 * 1024;
  let sent = 0;
  const s = await httpServer(t, (_q, r) => {
    r.writeHead(200, { 'content-length': size });
    const piece = Buffer.alloc(64 * 1024, 0x61);
    const pump = (): void => {
      while (sent < size) {
        sent += piece.length;
        if (!r.write(piece)) {
          r.once('drain', pump);
          return;
        }
      }
      r.end();
    };
    pump();
  });
  const pool = newPool(t);
  const a = sink({ paused: true });
  pool.start(req(s.port), a.sink);
  while (a.body() === undefined) await new Promise((r) => setTimeout(r, 10));
  // Let the buffers fill while nobody reads.
  await new Promise((r) => setTimeout(r, 500));
  t.ok(sent < size, `the server is held back while nobody reads (${sent} of ${size} bytes written)`);
  let bytes = 0;
  a.body()?.on('data', (c: Buffer) => { bytes += c.length; });
  await a.done;
  t.equal(bytes, size);
});

t.test('a consumer that pauses after every chunk gets every byte in order; onEnd (with trailers) comes before the body\'s end', { timeout: 20_000 }, async (t) => {
  // Chunked with a trailer, in many writes: the client sees many chunks, and the trailers arrive
  // with the last one. The oracle is the bytes the server wrote, not the client's framing.
  const pieces = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1000 + (i % 7) * 333, 0x41 + (i % 26)));
  const s = await httpServer(t, (_q, r) => {
    r.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-sum' });
    let i = 0;
    const next = (): void => {
      if (i === pieces.length) {
        r.addTrailers({ 'x-sum': String(pieces.length) });
        r.end();
        return;
      }
      r.write(pieces[i++]);
      setImmediate(next);
    };
    next();
  });
  const pool = newPool(t);
  const order: string[] = [];
  const got: Buffer[] = [];
  let trailers: IncomingHttpHeaders | undefined;
  const ended = new Promise<void>((resolve) => {
    pool.start(req(s.port), {
      onContinue() {},
      onResponse(_s, _h, b) {
        b.on('data', (c: Buffer) => {
          got.push(Buffer.from(c));
          b.pause();
          setTimeout(() => b.resume(), 1);
        });
        b.once('end', () => { order.push('end'); resolve(); });
      },
      onEnd(tr) { order.push('onEnd'); trailers = tr; },
      onFailure(_d, err) { t.fail(`failed: ${err.message}`); resolve(); },
    });
  });
  await ended;
  t.ok(Buffer.concat(got).equals(Buffer.concat(pieces)), 'byte-exact, in order');
  t.same(order, ['onEnd', 'end']);
  t.equal(trailers?.['x-sum'], '200');
});

t.test('chunks a consumer keeps by reference stay intact while other pod sockets read (reads are lent)', { timeout: 20_000 }, async (t) => {
  // The pool reads every pod socket into one reused buffer (lent-reads.ts): what it hands on must
  // be the consumer's own. Two servers answer at once with different bytes, in many writes; one
  // consumer keeps every chunk as given (no copy), the other holds its body paused while the first
  // one's reads go on, then takes the held chunks. Both must equal what their server wrote.
  const piecesOf = (base: number): Buffer[] => Array.from({ length: 60 }, (_, i) => Buffer.alloc(700 + (i % 5) * 911, base + (i % 13)));
  const serve = async (pieces: Buffer[]): Promise<number> => (await httpServer(t, (_q, r) => {
    r.writeHead(200, { 'content-length': pieces.reduce((n, p) => n + p.length, 0) });
    let i = 0;
    const next = (): void => {
      if (i === pieces.length) { r.end(); return; }
      r.write(pieces[i++]);
      setTimeout(next, 1);
    };
    next();
  })).port;
  const pa = piecesOf(0x41);
  const pb = piecesOf(0x61);
  const [portA, portB] = [await serve(pa), await serve(pb)];
  const pool = newPool(t);
  const keptA: Buffer[] = [];
  const keptB: Buffer[] = [];
  const doneA = new Promise<void>((resolve) => {
    pool.start(req(portA), {
      onContinue() {},
      onResponse(_s, _h, b) { b.on('data', (c: Buffer) => { keptA.push(c); }); },
      onEnd() { resolve(); },
      onFailure(_d, err) { t.fail(err.message); resolve(); },
    });
  });
  let bodyB: ResponseBody | undefined;
  const doneB = new Promise<void>((resolve) => {
    pool.start(req(portB), {
      onContinue() {},
      onResponse(_s, _h, b) { bodyB = b; b.pause(); b.on('data', (c: Buffer) => { keptB.push(c); }); b.pause(); },
      onEnd() { resolve(); },
      onFailure(_d, err) { t.fail(err.message); resolve(); },
    });
  });
  await doneA;
  bodyB?.resume();
  await doneB;
  t.ok(Buffer.concat(keptA).equals(Buffer.concat(pa)), 'the flowing body: byte-exact');
  t.ok(Buffer.concat(keptB).equals(Buffer.concat(pb)), 'the held body: byte-exact');
});

t.test('abort mid-response closes the connection and says nothing more', async (t) => {
  let serverClosed!: () => void;
  const closed = new Promise<void>((r) => { serverClosed = r; });
  const s = await httpServer(t, (_q, r) => {
    r.writeHead(200, { 'content-length': 100 });
    r.write('partial');
    r.on('close', serverClosed);
  });
  const pool = newPool(t);
  let calls = 0;
  const a = sink();
  const attempt = pool.start(req(s.port), {
    ...a.sink,
    onResponse(st, h, b) { a.sink.onResponse(st, h, b); b.on('data', () => attempt.abort()); },
    onEnd() { calls++; },
    onFailure() { calls++; },
  });
  await closed;
  attempt.abort();
  await new Promise((r) => setTimeout(r, 20));
  t.equal(calls, 0, 'no sink call after abort');
});

t.test('idle connections are closed after idleMs', async (t) => {
  const s = await httpServer(t, (_q, r) => r.end('ok'));
  const pool = newPool(t, 300);
  const a = sink();
  pool.start(req(s.port), a.sink);
  await a.done;
  // Past the idle time (and a sweep), the pooled connection is gone: the next request dials anew.
  await new Promise((r) => setTimeout(r, 800));
  const b = sink();
  pool.start(req(s.port), b.sink);
  await b.done;
  t.equal(s.connections(), 2);
});

t.test("the server's Keep-Alive timeout: a connection is retired a second before the server would close it", async (t) => {
  t.equal(serverIdleMs('timeout=5'), 5000);
  t.equal(serverIdleMs('max=100, timeout=2'), 2000);
  t.equal(serverIdleMs(undefined), undefined);
  t.equal(serverIdleMs('max=3'), undefined);
  // node:http's server announces `Keep-Alive: timeout=N` from its keepAliveTimeout. At 1 s the
  // margin leaves nothing: every request gets its own connection, none is reused as the server
  // closes it (the request would be lost in flight).
  const short = await httpServer(t, (_q, r) => r.end('ok'), (srv) => { srv.keepAliveTimeout = 1000; });
  const pool = newPool(t);
  for (let i = 0; i < 3; i++) {
    const a = sink();
    pool.start(req(short.port), a.sink);
    t.equal((await a.done).headers['keep-alive'], 'timeout=1');
  }
  t.equal(short.connections(), 3, 'timeout=1: never reused');
  // At 3 s a connection is kept for 2 s: reused at once, retired (not offered) after.
  const long = await httpServer(t, (_q, r) => r.end('ok'), (srv) => { srv.keepAliveTimeout = 3000; });
  for (let i = 0; i < 2; i++) {
    const a = sink();
    pool.start(req(long.port), a.sink);
    await a.done;
  }
  t.equal(long.connections(), 1, 'timeout=3: reused within its time');
  await new Promise((r) => setTimeout(r, 2300));
  const b = sink();
  pool.start(req(long.port), b.sink);
  t.equal((await b.done).status, 200, 'a request after the retirement succeeds');
  t.equal(long.connections(), 2, 'on a new connection, while the server still held the old one open');
});

t.test('an invalid header value never reaches the wire', async (t) => {
  const s = await httpServer(t, (_q, r) => r.end('ok'));
  const pool = newPool(t);
  const a = sink();
  pool.start(req(s.port, { headers: ['x-bad', 'a\r\nx-injected: 1'] }), a.sink);
  const f = await a.failed;
  t.equal(f.err.code, 'WEFT_ERR_HTTP_MALFORMED');
  t.equal(s.connections(), 0);
  const b = sink();
  const withBody = pool.start(req(s.port, { method: 'POST', bodyless: false, headers: ['x-bad', 'a\nb'] }), b.sink);
  withBody.body.write(Buffer.from('dropped'));
  endBody(withBody.body);
  t.equal((await b.failed).err.code, 'WEFT_ERR_HTTP_MALFORMED', 'a streaming body is dropped, not an error');
  t.equal(s.connections(), 0);
});

t.test('request trailers: a chunked body ends with its trailer section; a Content-Length body drops it (counted)', async (t) => {
  // The oracle is node:http's own parser on the pod side: req.trailers once the body ended.
  const seen: { trailers: IncomingHttpHeaders; body: string; te: string | undefined }[] = [];
  const s = await httpServer(t, (q, r) => {
    let body = '';
    q.setEncoding('utf8');
    q.on('data', (c: string) => { body += c; });
    q.on('end', () => {
      seen.push({ trailers: q.trailers, body, te: q.headers['transfer-encoding'] });
      r.end('ok');
    });
  });
  const counters = { requestTrailersDropped: 0 };
  const pool = new H1Pool({ sockets: createSocketFactory(), connectTimeoutMs: 2000, idleMs: 60_000, counters });
  t.teardown(() => pool.close());

  const a = sink();
  const chunked = pool.start(req(s.port, { method: 'POST', bodyless: false, mayTrail: true }), a.sink);
  chunked.body.write(Buffer.from('abc'));
  endRequest(chunked, { 'x-checksum': 'sha256=1234', 'x-list': ['1', '2'] });
  t.equal((await a.done).status, 200);
  t.equal(seen[0].te, 'chunked');
  t.equal(seen[0].body, 'abc');
  t.same(seen[0].trailers, { 'x-checksum': 'sha256=1234', 'x-list': '1, 2' }, 'the pod reads the trailers');
  t.equal(counters.requestTrailersDropped, 0);

  const b = sink();
  const sized = pool.start(req(s.port, { method: 'PUT', bodyless: false, headers: ['content-length', '3'] }), b.sink);
  sized.body.write(Buffer.from('xyz'));
  endRequest(sized, { 'x-checksum': 'sha256=5678' });
  t.equal((await b.done).status, 200);
  t.equal(seen[1].body, 'xyz');
  t.same(seen[1].trailers, {}, 'a Content-Length body has no trailer section');
  t.equal(counters.requestTrailersDropped, 1, 'the dropped section is counted');

  // A value that would split the message is never written: the body ends bare, the section counted.
  const c = sink();
  const bad = pool.start(req(s.port, { method: 'POST', bodyless: false }), c.sink);
  bad.body.write(Buffer.from('q'));
  endRequest(bad, { 'x-evil': 'a\r\nx-injected: 1' });
  t.equal((await c.done).status, 200);
  t.same(seen[2].trailers, {});
  t.equal(counters.requestTrailersDropped, 2);

  // Without trailers the last chunk is bare, and the connection is reused throughout.
  const d = sink();
  const plain = pool.start(req(s.port, { method: 'POST', bodyless: false }), d.sink);
  plain.body.write(Buffer.from('p'));
  endRequest(plain, undefined);
  t.equal((await d.done).status, 200);
  t.same(seen[3].trailers, {});
  t.equal(s.connections(), 1, 'one connection for all four');
});
