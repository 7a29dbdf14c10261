// agent/http1/response-head.ts: what it writes is read back by a real HTTP/1.1 client (node:http's
// client parser, llhttp) from a raw socket on 127.0.0.1 — status, reason, every field line in
// order, the body — and nothing that could split a response is ever written.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { responseHead } from '../../../agent/http1/response-head.ts';
import { isWeftError } from '../../../common/errors.ts';

interface Read {
  status: number;
  message: string;
  rawHeaders: string[];
  body: string;
}

/** Serves `bytes` once on a raw socket and reads them with node:http's client. */
async function readBack(bytes: Buffer): Promise<Read> {
  const server = net.createServer((s) => s.end(bytes));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as net.AddressInfo).port;
    return await new Promise<Read>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, message: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body }));
      }).on('error', reject);
    });
  } finally {
    server.close();
  }
}

t.test('a head and a small body in one buffer, read back by a real client', async (t) => {
  const b = responseHead(200, ['Content-Type', 'text/plain', 'Content-Length', '13', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], 'hello, wörld'); // 13 bytes in UTF-8
  t.equal(b.toString('latin1', 0, 17), 'HTTP/1.1 200 OK\r\n', 'status line first');
  const r = await readBack(b);
  t.same(r, { status: 200, message: 'OK', rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', '13', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], body: 'hello, wörld' });
});

t.test('node header objects: arrays become one line each, numbers are written, undefined skipped', async (t) => {
  const b = responseHead(503, { 'content-length': 0, 'weft-error': 'WEFT_ERR_NO_ROUTE', via: ['1.1 a', '1.1 b'], skipped: undefined, 'x-latin': 'caf\u00e9' });
  const r = await readBack(b);
  t.same(r, { status: 503, message: 'Service Unavailable', rawHeaders: ['content-length', '0', 'weft-error', 'WEFT_ERR_NO_ROUTE', 'via', '1.1 a', 'via', '1.1 b', 'x-latin', 'caf\u00e9'], body: '' });
});

t.test('a custom reason, an unknown status, a Buffer body', async (t) => {
  let r = await readBack(responseHead(299, ['Content-Length', '3'], Buffer.from('abc'), 'Fine Enough'));
  t.match(r, { status: 299, message: 'Fine Enough', body: 'abc' });
  r = await readBack(responseHead(599, ['Content-Length', '0']));
  t.match(r, { status: 599, message: '', body: '' });
  t.equal(responseHead(204, []).toString(), 'HTTP/1.1 204 No Content\r\n\r\n');
});

t.test('nothing that could split a response is written', async (t) => {
  const bad: Array<[string, () => Buffer]> = [
    ['CRLF in a value', () => responseHead(200, ['X', 'a\r\nSet-Cookie: evil=1'])],
    ['LF in a value', () => responseHead(200, { x: 'a\nb' })],
    ['NUL in a value', () => responseHead(200, ['X', 'a\u0000'])],
    ['CRLF in an array value', () => responseHead(200, { x: ['ok', 'a\r\n\r\nHTTP/1.1 200 OK'] })],
    ['a name with a colon', () => responseHead(200, ['X: y', 'z'])],
    ['a name with a space', () => responseHead(200, ['X Y', 'z'])],
    ['an empty name', () => responseHead(200, ['', 'z'])],
    ['a character past U+00FF', () => responseHead(200, ['X', '\u2028'])],
    ['CRLF in the reason', () => responseHead(200, [], undefined, 'OK\r\nX: y')],
    ['a status of two digits', () => responseHead(99, [])],
    ['a status of four digits', () => responseHead(1000, [])],
    ['a fractional status', () => responseHead(200.5, [])],
    ['an odd pair list', () => responseHead(200, ['X'])],
  ];
  for (const [name, f] of bad) {
    let err: unknown = null;
    try {
      f();
    } catch (e) {
      err = e;
    }
    t.ok(isWeftError(err, 'WEFT_ERR_HTTP_RESPONSE_HEAD'), `${name}: refused with WEFT_ERR_HTTP_RESPONSE_HEAD`);
  }
});
