// The shared 'clientError' answer: a refused request gets one status line with a stable code and
// a closed connection, and is counted once however many bytes the client sends after it.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { answerClientError, headerTimeoutOptions, type ClientErrorKind } from '../../common/http-client-error.ts';

async function serve(t: { teardown(fn: () => unknown): void }, headersTimeoutMs: number): Promise<{ port: number; kinds: (ClientErrorKind | null)[] }> {
  const kinds: (ClientErrorKind | null)[] = [];
  const s = http.createServer({ requestTimeout: headersTimeoutMs * 2, ...headerTimeoutOptions(headersTimeoutMs) }, (_req, res) => res.end('ok'));
  s.on('clientError', (err: Error, socket) => kinds.push(answerClientError(err, socket)));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }));
  return { port: (s.address() as net.AddressInfo).port, kinds };
}

function exchange(port: number, first: string, drip: string | null): Promise<{ text: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const c = net.connect(port, '127.0.0.1', () => c.write(first));
    let text = '';
    const timer = drip === null ? undefined : setInterval(() => { if (c.writable) c.write(drip); }, 50);
    c.on('data', (d: Buffer) => (text += d.toString('latin1')));
    c.on('error', () => undefined);
    c.on('close', () => {
      clearInterval(timer);
      resolve({ text, ms: Date.now() - started });
    });
  });
}

t.test('malformed, oversized and smuggling-shaped requests: 400/431 with a code, closed', async (t) => {
  const { port, kinds } = await serve(t, 5000);
  const bad = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', null);
  t.match(bad.text, /^HTTP\/1\.1 400 Bad Request\r\nweft-error: WEFT_ERR_HTTP_MALFORMED\r\n/, 'a bad header: 400 with its code');
  const smuggle = await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', null);
  t.match(smuggle.text, /^HTTP\/1\.1 400 /, 'CL with TE: 400');
  const big = await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, null);
  t.match(big.text, /^HTTP\/1\.1 431 [^\r]*\r\nweft-error: WEFT_ERR_HTTP_HEADERS_TOO_LARGE/, 'oversized headers: 431 with its code');
  t.same(kinds, ['malformed', 'framing', 'headers_too_large'], 'each told apart for the metric');
});

t.test('a slow client gets 408 after the header timeout, and is counted once while it keeps sending', async (t) => {
  const { port, kinds } = await serve(t, 400);
  const slow = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', 'a');
  t.match(slow.text, /^HTTP\/1\.1 408 Request Timeout\r\nweft-error: WEFT_ERR_HTTP_HEADER_TIMEOUT/, '408 with its code');
  t.ok(slow.ms >= 350 && slow.ms < 5000, `closed after the timeout (${slow.ms} ms)`);
  t.same(kinds, ['header_timeout'], 'one refusal, one count');
});

t.test('headerTimeoutOptions checks often enough for the bound to hold', async (t) => {
  t.same(headerTimeoutOptions(1500), { headersTimeout: 1500, connectionsCheckingInterval: 375 }, 'a quarter of the bound');
  t.same(headerTimeoutOptions(200), { headersTimeout: 200, connectionsCheckingInterval: 100 }, 'never busier than every 100 ms');
  t.same(headerTimeoutOptions(60_000), { headersTimeout: 60_000, connectionsCheckingInterval: 5000 }, 'never lazier than every 5 s');
});
