// A peer that stops answering (its node gone, packets black-holed) is found by PING within the
// deadline, and its session destroyed with WEFT_ERR_PEER_UNRESPONSIVE; a live peer never is.
import t from 'tap';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { watchLiveness } from '../../../../agent/proxy/hbone/liveness.ts';

/** Speaks just enough HTTP/2 (an empty SETTINGS) to open a session, then reads and says nothing. */
async function blackHole(): Promise<{ port: number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    s.resume();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

t.test('a silent peer: the session is destroyed within interval + timeout', async (t) => {
  const hole = await blackHole();
  t.teardown(hole.close);
  const session = http2.connect(`http://127.0.0.1:${hole.port}`);
  const errored = new Promise<Error>((resolve) => session.once('error', resolve));
  await once(session, 'connect');
  const started = Date.now();
  watchLiveness(session, `127.0.0.1:${hole.port}`, { intervalMs: 100, timeoutMs: 300 });
  const stream = session.request({ ':path': '/' });
  stream.on('error', () => undefined);
  const err = await errored;
  const took = Date.now() - started;
  t.equal((err as Error & { code?: string }).code, 'WEFT_ERR_PEER_UNRESPONSIVE');
  t.match(err.message, /did not answer an HTTP\/2 PING within 300 ms/);
  t.ok(took < 5000, `found within bounds (${took} ms; interval 100 + timeout 300)`);
  if (!stream.destroyed) await once(stream, 'close');
  t.ok(stream.destroyed, 'the stream that was waiting on it ends too');
  t.ok(session.destroyed);
});

t.test('a live peer answers every PING and its session stays', async (t) => {
  const server = http2.createServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  session.on('error', () => undefined);
  await once(session, 'connect');
  watchLiveness(session, 'live', { intervalMs: 50, timeoutMs: 500 });
  await new Promise((r) => setTimeout(r, 800));
  t.notOk(session.destroyed, 'still up after many PINGs');
  session.close();
  await once(session, 'close');
});
