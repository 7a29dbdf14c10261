// The sniffer on real loopback sockets: its verdict, the half-close it keeps track of until the
// receiver takes the socket, and that it lets go of the socket once the receiver has (an idle
// keep-alive connection must not keep the sniffer, its timer and the detection closure alive).
import t from 'tap';
import net from 'node:net';
import { releaseSniffed, replayHead, sniffProtocol, type Sniffed } from '../../../agent/proxy/detect-socket.ts';

interface Pair { client: net.Socket; server: net.Socket }

async function pair(t: { teardown(fn: () => Promise<void>): void }): Promise<Pair> {
  let accepted!: (s: net.Socket) => void;
  const got = new Promise<net.Socket>((r) => { accepted = r; });
  const srv = net.createServer({ allowHalfOpen: true }, (s) => accepted(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = net.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, allowHalfOpen: true });
  const server = await got;
  t.teardown(async () => {
    client.destroy();
    server.destroy();
    await new Promise((r) => srv.close(r));
  });
  return { client, server };
}

/** The listeners a socket has for the events the sniffer watches. */
function counts(s: net.Socket): { end: number; close: number; data: number } {
  return { end: s.listenerCount('end'), close: s.listenerCount('close'), data: s.listenerCount('data') };
}

function sniff(s: net.Socket): Promise<Sniffed> {
  return new Promise((r) => sniffProtocol(s, 5000, r));
}

t.test('an HTTP/1 verdict; the sniffer watches the FIN until released, then nothing of it is left on the socket', async (t) => {
  const { client, server } = await pair(t);
  const before = counts(server);
  const verdict = sniff(server);
  client.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  const s = await verdict;
  t.equal(s.protocol, 'http1');
  t.equal(s.head.toString('latin1'), 'GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  t.same(counts(server), { ...before, end: before.end + 1 }, "after the verdict only the sniffer's 'end' listener is left");
  // A FIN before the receiver takes the socket is still seen (the socket is paused: 'end' needs a read).
  client.end();
  server.resume();
  await new Promise((r) => server.once('end', r));
  t.equal(s.ended, true, 'a FIN before the receiver took over is kept');
  releaseSniffed(s);
  t.same(counts(server), before, 'released: no listener of the sniffer is left');
  t.equal(s.head.toString('latin1'), 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', 'the head stays readable (byte counts read it)');
});

t.test('replayHead replays the head and the FIN, then releases the sniffer', async (t) => {
  const { client, server } = await pair(t);
  const before = counts(server);
  const verdict = sniff(server);
  client.write('\x16\x03\x01 not http');
  client.end();
  const s = await verdict;
  t.equal(s.protocol, 'tcp');
  const written: string[] = [];
  let ended = 0;
  // Wait for the FIN the sniffer sees ('end' on a socket it paused needs the buffer drained).
  if (!s.ended) {
    server.resume();
    await new Promise((r) => server.once('end', r));
  }
  replayHead({ write: (b) => { written.push(b.toString('latin1')); return true; }, end: () => { ended++; } }, s);
  t.same(written, ['\x16\x03\x01 not http']);
  t.equal(ended, 1, 'the half-close seen while sniffing is forwarded');
  t.same(counts(server), before, 'released by the replay');
});

t.test('a verdict over two reads; releasing it, a plain verdict object or none is harmless', async (t) => {
  const { client, server } = await pair(t);
  const before = counts(server);
  let verdict: Sniffed | undefined;
  sniffProtocol(server, 5000, (s) => { verdict = s; });
  client.write('GE');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(verdict, undefined, 'two bytes are not enough to decide');
  client.write('T / HTTP/1.1\r\nhost: a\r\n\r\n');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(verdict?.protocol, 'http1', 'the verdict still comes after the reads that decide it');
  releaseSniffed(verdict);
  t.same(counts(server), before);
  releaseSniffed({ protocol: 'http1', head: Buffer.alloc(0), timedOut: false, ended: false });
  releaseSniffed(undefined);
});
