// A closed HTTP/2 stream lets go of what the request hung on it: its listeners (so the exchange,
// the app's request and response are not kept alive by node's native handle until a full GC) and
// node's copies of the sent headers; the 'close' listeners still due run, and a late error on the
// stream cannot throw.
import t from 'tap';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { releaseClosedStream } from '../../../agent/http/h2-release.ts';

t.test('client and server streams drop their listeners and sent headers once closed', async (t) => {
  const server = http2.createServer();
  const serverSide = new Promise<{ listeners: number; sentHeaders: unknown; laterCloseRan: boolean }>((resolve) => {
    server.on('stream', (stream) => {
      stream.on('data', () => undefined);
      let laterCloseRan = false;
      stream.on('close', () => releaseClosedStream(stream));
      stream.on('close', () => {
        laterCloseRan = true;
        queueMicrotask(() => resolve({ listeners: stream.eventNames().filter((e) => e !== 'error').length, sentHeaders: stream.sentHeaders, laterCloseRan }));
      });
      stream.respond({ ':status': 200, 'x-big': 'y'.repeat(1000) });
      stream.end('hello');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => {
    session.destroy();
    server.close();
  });

  const req = session.request({ ':path': '/', 'x-request': 'z'.repeat(1000) }, { endStream: true });
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => { body += c; });
  let afterRan = false;
  const closed = new Promise<void>((resolve) => {
    req.on('close', () => releaseClosedStream(req));
    req.on('close', () => {
      afterRan = true;
      resolve();
    });
  });
  t.ok(req.sentHeaders !== undefined, 'the client stream holds its sent headers while open');
  await closed;
  t.equal(body, 'hello', 'the response arrived whole');
  t.ok(afterRan, "a 'close' listener registered after the release still ran");
  t.same(req.eventNames(), ['error'], 'the closed client stream keeps only a no-op error listener');
  t.equal(req.sentHeaders, undefined, "node's copy of the request headers is dropped");
  t.doesNotThrow(() => req.emit('error', new Error('late')), 'a late error does not throw');

  const s = await serverSide;
  t.ok(s.laterCloseRan, "the server stream's later 'close' listener ran");
  t.equal(s.listeners, 0, 'the closed server stream keeps no listeners but the no-op error one');
  t.equal(s.sentHeaders, undefined, "node's copy of the response headers is dropped");
});
