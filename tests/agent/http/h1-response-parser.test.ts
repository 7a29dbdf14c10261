// The pod hop's HTTP/1.1 response parser, without sockets: every framing (length, chunked with
// trailers, close-delimited, no body), interim answers, input split at every byte boundary,
// bytes after a response, and malformed or oversized input refused.
import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { H1ResponseParser, type ResponseHandler } from '../../../agent/http/h1-response-parser.ts';

interface Seen {
  info: number[];
  status: number;
  headers: IncomingHttpHeaders | undefined;
  body: string;
  complete: boolean;
  trailers: IncomingHttpHeaders | undefined;
}

function recorder(): { h: ResponseHandler; seen: Seen } {
  const seen: Seen = { info: [], status: 0, headers: undefined, body: '', complete: false, trailers: undefined };
  return {
    seen,
    h: {
      onInformational(s) { seen.info.push(s); },
      onHead(s, h) { seen.status = s; seen.headers = h; },
      onBody(c) { seen.body += c.toString('latin1'); },
      onComplete(tr) { seen.complete = true; seen.trailers = tr; },
    },
  };
}

/** Feeds `parts` in order; returns what was seen, the last execute() result and the parser. */
function feed(parts: Buffer[], opts: { head?: boolean; eof?: boolean; max?: number } = {}): { seen: Seen; used: number; p: H1ResponseParser; finished?: boolean } {
  const p = new H1ResponseParser(opts.max);
  const { h, seen } = recorder();
  p.reset(h, opts.head === true);
  let used = 0;
  for (const part of parts) {
    used = p.execute(part);
    if (used < 0 || p.done) break;
  }
  const finished = opts.eof === true ? p.finish() : undefined;
  return { seen, used, p, finished };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Every way of cutting `raw` in two, and byte by byte: all must parse like the whole. */
function splits(raw: string): Buffer[][] {
  const buf = b(raw);
  const out: Buffer[][] = [];
  for (let i = 1; i < buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  out.push(Array.from(buf, (x) => Buffer.from([x])));
  return out;
}

t.test('content-length body, split at every byte boundary', async (t) => {
  const raw = 'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello world';
  const whole = feed([b(raw)]);
  t.same(whole.seen.status, 200);
  t.same(whole.seen.headers, { 'content-length': '11', 'x-a': '1, 2' });
  t.equal(whole.seen.body, 'hello world');
  t.ok(whole.seen.complete);
  t.ok(whole.p.keepAlive, 'HTTP/1.1 keeps the connection by default');
  t.equal(whole.used, b(raw).length);
  for (const parts of splits(raw)) {
    const r = feed(parts);
    if (r.seen.body !== 'hello world' || !r.seen.complete || r.seen.status !== 200) {
      t.fail(`split ${parts.map((x) => x.length).join('+')}`);
      return;
    }
  }
  t.pass('every split parses the same');
});

t.test('chunked body with extensions and trailers, split at every byte boundary', async (t) => {
  const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\nx-t: a\r\n\r\n';
  const whole = feed([b(raw)]);
  t.equal(whole.seen.body, 'hello world');
  t.same(whole.seen.trailers, { 'grpc-status': '0', 'x-t': 'a' });
  t.ok(whole.p.keepAlive);
  for (const parts of splits(raw)) {
    const r = feed(parts);
    if (r.seen.body !== 'hello world' || !r.seen.complete || r.seen.trailers?.['grpc-status'] !== '0') {
      t.fail(`split ${parts.map((x) => x.length).join('+')}: ${JSON.stringify(r.seen)} ${r.p.error}`);
      return;
    }
  }
  t.pass('every split parses the same');
  const noTrailers = feed([b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n')]);
  t.ok(noTrailers.seen.complete);
  t.equal(noTrailers.seen.trailers, undefined, 'no trailers: undefined');
});

t.test('close-delimited bodies end at EOF and never keep the connection', async (t) => {
  const r = feed([b('HTTP/1.1 200 OK\r\n\r\nsome'), b(' bytes')], { eof: true });
  t.equal(r.seen.body, 'some bytes');
  t.ok(r.finished);
  t.ok(r.seen.complete);
  t.notOk(r.p.keepAlive);
  const gz = feed([b('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nzz')], { eof: true });
  t.equal(gz.seen.body, 'zz', 'a final coding other than chunked reads to the close');
  t.notOk(gz.p.keepAlive);
  const cut = feed([b('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc')], { eof: true });
  t.notOk(cut.finished, 'EOF inside a length-delimited body is a cut');
  t.notOk(cut.seen.complete);
});

t.test('interim answers: 100 Continue and 103 before the final one, in one read', async (t) => {
  const r = feed([b('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok')]);
  t.same(r.seen.info, [100, 103]);
  t.equal(r.seen.status, 201);
  t.equal(r.seen.body, 'ok');
  t.ok(r.seen.complete);
});

t.test('HEAD, 204 and 304 have no body whatever they announce', async (t) => {
  const head = feed([b('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n')], { head: true });
  t.ok(head.seen.complete);
  t.equal(head.seen.headers?.['content-length'], '10');
  for (const s of [204, 304]) {
    const r = feed([b(`HTTP/1.1 ${s} X\r\ntransfer-encoding: chunked\r\n\r\n`)]);
    t.ok(r.seen.complete, `${s} completes at its head`);
    t.ok(r.p.keepAlive);
  }
});

t.test('bytes after a complete response are not consumed (pipelined garbage)', async (t) => {
  const first = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  const r = feed([b(`${first}HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n`)]);
  t.ok(r.seen.complete);
  t.equal(r.used, b(first).length, 'execute stops at the end of the response');
  const junk = feed([b('HTTP/1.1 204 No Content\r\n\r\ngarbage')]);
  t.equal(junk.used, 'HTTP/1.1 204 No Content\r\n\r\n'.length);
});

t.test('keep-alive: HTTP/1.0 only when asked, HTTP/1.1 unless closed', async (t) => {
  const cases: [string, boolean][] = [
    ['HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n', false],
    ['HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n', true],
    ['HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n', false],
    ['HTTP/1.1 200 OK\r\nconnection: x, Close\r\ncontent-length: 0\r\n\r\n', false],
    ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', true],
  ];
  for (const [raw, keep] of cases) t.equal(feed([b(raw)]).p.keepAlive, keep, raw.split('\r\n').slice(0, 2).join(' | '));
});

t.test('duplicate fields merge as node:http merges them', async (t) => {
  const r = feed([b('HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\ncontent-type: text/plain\r\ncontent-type: text/html\r\nvary: a\r\nvary: b\r\n__proto__: x\r\ncontent-length: 0\r\n\r\n')]);
  t.same(r.seen.headers?.['set-cookie'], ['a=1', 'b=2']);
  t.equal(r.seen.headers?.['content-type'], 'text/plain', 'first wins');
  t.equal(r.seen.headers?.vary, 'a, b');
  t.equal(Object.getPrototypeOf(r.seen.headers), Object.prototype, 'a __proto__ field is dropped');
});

t.test('malformed responses are refused with a reason', async (t) => {
  const bad: [string, RegExp][] = [
    ['HTTP/2 200 OK\r\n\r\n', /status line/],
    ['HTTP/1.1 20 OK\r\n\r\n', /status line/],
    ['HTTP/1.1 200 OK\nx: y\r\n\r\n', /status line|header/],
    ['HTTP/1.1 200 OK\r\nx : y\r\ncontent-length: 0\r\n\r\n', /header name/],
    ['HTTP/1.1 200 OK\r\nx: y\r\n folded\r\n\r\n', /header/],
    ['HTTP/1.1 200 OK\r\nnocolon\r\n\r\n', /header line/],
    ['HTTP/1.1 200 OK\r\nx: a\x00b\r\n\r\n', /invalid character/],
    ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n', /both/],
    ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n', /conflicting/],
    ['HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /content-length/],
    ['HTTP/1.1 200 OK\r\ncontent-length: 1, 1\r\n\r\n', /content-length/],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n', /final transfer coding/],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n', /longer than its size/],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nab\r\n', /bare LF/],
    ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n', /trailer/],
    ['HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n', /101/],
  ];
  for (const [raw, why] of bad) {
    const r = feed([b(raw)]);
    t.equal(r.used, -1, JSON.stringify(raw));
    t.match(r.p.error, why);
    t.ok(r.p.failed);
  }
  // Split anywhere, the verdict is the same.
  for (const parts of splits('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n')) {
    if (feed(parts).used !== -1) {
      t.fail(`split ${parts.map((x) => x.length).join('+')} accepted`);
      return;
    }
  }
});

t.test('the header section is capped, in one read or many', async (t) => {
  const big = `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 0\r\n\r\n`;
  const one = feed([b(big)]);
  t.equal(one.used, -1);
  t.match(one.p.error, /larger than 16384/);
  // Trickled in without an end: refused once past the cap, not buffered forever.
  const p = new H1ResponseParser();
  p.reset(recorder().h, false);
  let verdict = 0;
  for (let i = 0; i < 100 && verdict >= 0; i++) verdict = p.execute(b(i === 0 ? 'HTTP/1.1 200 OK\r\nx: ' : 'a'.repeat(1000)));
  t.equal(verdict, -1, 'refused while trickling');
  const small = feed([b(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(100)}\r\n\r\n`)], { max: 64 });
  t.equal(small.used, -1, 'the cap is configurable');
  const trailers = feed([b(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n${'x-t: aaaaaaaaaa\r\n'.repeat(2000)}\r\n`)]);
  t.equal(trailers.used, -1);
  t.match(trailers.p.error, /trailer section too large/);
  const chunkLine = feed([b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;'), b('e'.repeat(2000))]);
  t.equal(chunkLine.used, -1, 'an endless chunk extension is refused');
});

t.test('a detached parser ignores the rest', async (t) => {
  const p = new H1ResponseParser();
  const { h, seen } = recorder();
  p.reset(h, false);
  p.execute(b('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab'));
  p.detach();
  p.execute(b('cd'));
  t.equal(seen.body, 'ab');
  t.notOk(seen.complete);
});
