import t from 'tap';
import { ResponseParser } from '../../bench/lib/http1-response-parser.ts';

function feedBytewise(p: ResponseParser, text: string): unknown[] {
  const out: unknown[] = [];
  for (const ch of Buffer.from(text, 'latin1')) {
    const r = p.feed(Buffer.from([ch]));
    if (r !== undefined) out.push(r);
  }
  return out;
}

t.test('content-length and chunked responses end where they should, in any split', async (t) => {
  const a = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
  const b = 'HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n';
  const c = 'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n';
  const p = new ResponseParser();
  t.same(feedBytewise(p, a + b + c), [{ status: 200, close: false }, { status: 503, close: false }, { status: 204, close: true }]);
  t.ok(p.idle);
  const whole = new ResponseParser();
  t.same(whole.feed(Buffer.from(a)), { status: 200, close: false }, 'in one piece');
});

t.test('1xx is skipped, HTTP/1.0 closes, close-delimited bodies end at EOF', async (t) => {
  const p = new ResponseParser();
  t.same(p.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')), { status: 200, close: true });
  const q = new ResponseParser();
  t.equal(q.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\nsome body')), undefined);
  t.same(q.end(), { status: 200, close: true });
  const h = new ResponseParser();
  t.same(h.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n'), true), { status: 200, close: false }, 'HEAD has no body');
});

t.test('garbage is rejected', async (t) => {
  t.throws(() => new ResponseParser().feed(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')), /bad status line/);
  t.throws(() => new ResponseParser().feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')), /chunk size/);
});
