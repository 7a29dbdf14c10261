// A request without a body travels as one HEADERS frame with END_STREAM on an HTTP/2 hop (no
// empty DATA frame after it), and as one ended request on HTTP/1.1; its attempt's body is already
// ended, and endBody() leaves it alone. A request with a body still streams it.
import t from 'tap';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { H2Attempt } from '../../../agent/http/h2-attempt.ts';
import { LocalUpstream } from '../../../agent/http/local-upstream.ts';
import { endBody, type AttemptSink } from '../../../agent/http/upstream.ts';
import { createSocketFactory } from '../../../agent/proxy/socket-factory.ts';

interface Outcome { status: number; body: string }

function sink(): { sink: AttemptSink; done: Promise<Outcome> } {
  let resolve!: (o: Outcome) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<Outcome>((res, rej) => { resolve = res; reject = rej; });
  let status = 0;
  let body = '';
  return {
    done,
    sink: {
      onContinue() {},
      onResponse(s: number, _h: unknown, b: Readable) {
        status = s;
        b.on('data', (c: Buffer) => { body += c.toString(); });
      },
      onEnd() { resolve({ status, body }); },
      onFailure(_d: boolean, err: Error) { reject(err); },
    },
  };
}

t.test('HTTP/2: endStream puts END_STREAM on the HEADERS frame', async (t) => {
  const seen: { endAfterHeaders: boolean; bytes: number }[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, _headers) => {
    let bytes = 0;
    const endAfterHeaders = stream.endAfterHeaders;
    stream.on('data', (c: Buffer) => { bytes += c.length; });
    stream.on('end', () => {
      seen.push({ endAfterHeaders, bytes });
      stream.respond({ ':status': 200 });
      stream.end(`got ${bytes}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(() => { session.close(); server.close(); });
  const head = { ':method': 'GET', ':path': '/', ':authority': 'x', ':scheme': 'http' };

  const a = sink();
  const bodyless = new H2Attempt(session, head, true, a.sink);
  t.ok(bodyless.body.writableEnded, 'the body is ended at once');
  endBody(bodyless.body);
  t.same(await a.done, { status: 200, body: 'got 0' });

  const b = sink();
  const withBody = new H2Attempt(session, { ...head, ':method': 'POST' }, false, b.sink);
  withBody.body.write('hello');
  endBody(withBody.body);
  endBody(withBody.body);
  t.same(await b.done, { status: 200, body: 'got 5' });
  t.same(seen, [{ endAfterHeaders: true, bytes: 0 }, { endAfterHeaders: false, bytes: 5 }]);
});

t.test('HTTP/1.1: a bodyless attempt is sent whole and answered', async (t) => {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; });
    req.on('end', () => res.end(`${req.method} ${req.headers['transfer-encoding'] ?? 'no-te'} ${bytes}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const local = new LocalUpstream({ sockets: createSocketFactory(), connectTimeoutMs: 2000 });
  t.teardown(() => { local.close(); server.close(); });
  const r = { method: 'GET', path: '/', authority: 'x', headers: [], proto: 'http1' as const, target: { ip: '127.0.0.1', port }, source: 'spiffe://t/ns/a/sa/b', sourceAddress: '127.0.0.1', bodyless: true };
  const a = sink();
  const attempt = local.start(r, a.sink);
  t.ok(attempt.body.writableEnded, 'the request is ended at once');
  endBody(attempt.body);
  t.same(await a.done, { status: 200, body: 'GET no-te 0' });
});
