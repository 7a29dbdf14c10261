// The outbound HTTP/1 connection's two bounds on one deadline (agent/proxy/outbound-h1.ts with
// agent/deadline-queue.ts), over real loopback sockets: a connection waits for the header
// timeout while a head is due and for the keep-alive idle timeout between requests, in one queue
// entry, never both. Each bound must still hold as it did with a timer each: the idle bound closes
// a quiet keep-alive connection (silently) no earlier than its bound after the last answer, a head
// begun inside the idle time gets the header bound from its first byte (408), a connection kept
// busy is never cut, and many connections armed at different times each get their own deadline.
// The bounds differ (300 ms head, 900 ms idle) so that one serving for the other would show.
// Oracle: this test's own clock and the bytes the client reads. No fakes.
import t from 'tap';
import net from 'node:net';
import { H1Connection, type H1Front } from '../../../agent/proxy/outbound-h1.ts';

const HEAD_MS = 300;
const IDLE_MS = 900;
/** Timer and clock granularity between the server's arming and the client's reading. */
const SLACK = 15;
const DATE = 'Mon, 07 Dec 2026 00:00:00 GMT';
const rejected: string[] = [];

const front: H1Front = {
  headersTimeoutMs: HEAD_MS,
  keepAliveTimeoutMs: IDLE_MS,
  rejected: (r) => rejected.push(r),
  upgrade: (_req, socket) => socket.destroy(),
  request(req, res) {
    req.on('end', () => undefined);
    res.writeHead(200, { date: DATE, 'content-length': 2 });
    res.end('ok');
  },
};
const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => new H1Connection(s, front).start(Buffer.alloc(0), false));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const port = (server.address() as net.AddressInfo).port;

const ANSWER = `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 2\r\nconnection: keep-alive\r\nkeep-alive: timeout=0\r\n\r\nok`;
const TIMEOUT_408 = 'HTTP/1.1 408 Request Timeout\r\nweft-error: WEFT_ERR_HTTP_HEADER_TIMEOUT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n';
const REQ = 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n';

/** A client connection: what it read, when each whole answer came, and when the server closed it. */
class Client {
  readonly s: net.Socket;
  text = '';
  answers: number[] = [];
  closedAt = 0;
  readonly closed: Promise<void>;
  constructor() {
    this.s = net.connect({ port, host: '127.0.0.1' });
    this.s.on('error', () => undefined);
    this.s.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      const whole = this.text.split(ANSWER).length - 1;
      while (this.answers.length < whole) this.answers.push(performance.now());
    });
    this.closed = new Promise((r) => this.s.on('close', () => {
      this.closedAt = performance.now();
      r();
    }));
  }
  connected(): Promise<void> {
    return new Promise((r) => this.s.once('connect', () => r()));
  }
  /** Writes a request and waits for its answer. */
  async ask(): Promise<void> {
    const n = this.answers.length;
    this.s.write(REQ);
    while (this.answers.length === n && this.closedAt === 0) await sleep(5);
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('the idle bound closes a quiet keep-alive connection, silently, no earlier than its bound after the answer', async (t) => {
  rejected.length = 0;
  const c = new Client();
  await c.connected();
  await c.ask();
  t.equal(c.text, ANSWER);
  await c.closed;
  const idle = c.closedAt - c.answers[0];
  t.ok(idle >= IDLE_MS - SLACK, `not before the idle bound (closed ${idle.toFixed(0)} ms after the answer)`);
  t.equal(c.text, ANSWER, 'nothing written at the close (no 408: no head was due)');
  t.same(rejected, [], 'an idle close is not a refusal');
});

t.test('a head begun inside the idle time gets the header bound from its first byte: 408, not a silent idle close', async (t) => {
  rejected.length = 0;
  const c = new Client();
  await c.connected();
  await c.ask();
  await sleep(400); // idle for 400 of its 900 ms: the idle bound would fall 500 ms after the head begins
  const begun = performance.now();
  c.s.write('GET /y HTTP/1.1\r\nHo');
  await c.closed;
  t.equal(c.text, ANSWER + TIMEOUT_408, 'the second head, cut by the header bound');
  t.ok(c.closedAt - begun >= HEAD_MS - SLACK, `not before the header bound from the head's first byte (${(c.closedAt - begun).toFixed(0)} ms)`);
  t.same(rejected, ['http1_header_timeout'], 'counted once');
});

t.test('the first request\'s header bound runs from the connection\'s start, and a head in time disarms it', async (t) => {
  rejected.length = 0;
  const c = new Client();
  await c.connected();
  const start = performance.now();
  await sleep(100);
  c.s.write('GET /z HTTP/1.1\r\n');
  await sleep(100);
  c.s.write('Host: x\r\n\r\n'); // whole head at ~200 ms: inside the 300 ms bound
  await sleep(HEAD_MS + 200);
  t.equal(c.text, ANSWER, 'answered, and not cut by the header bound after the head came');
  t.equal(c.closedAt, 0, 'still open past the header bound: the idle bound holds it now');
  await c.closed;
  t.ok(c.closedAt - c.answers[0] >= IDLE_MS - SLACK, 'closed by the idle bound');
  t.ok(c.answers[0] - start < IDLE_MS, 'the answer came before any bound');
  t.same(rejected, []);
});

t.test('a connection kept busy for longer than both bounds is never cut', async (t) => {
  rejected.length = 0;
  const c = new Client();
  await c.connected();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < 2 * IDLE_MS) {
    await c.ask();
    n++;
    await sleep(150);
  }
  t.equal(c.closedAt, 0, 'open after twice the idle bound of steady requests');
  t.equal(c.answers.length, n, `every request answered (${n})`);
  c.s.destroy();
  t.same(rejected, []);
});

t.test('many connections answered at different times: each closes at its own idle bound, none early', async (t) => {
  rejected.length = 0;
  const cs: Client[] = [];
  for (let i = 0; i < 20; i++) {
    const c = new Client();
    await c.connected();
    await c.ask();
    cs.push(c);
    await sleep(20);
  }
  await Promise.all(cs.map((c) => c.closed));
  for (const [i, c] of cs.entries()) t.ok(c.closedAt - c.answers[0] >= IDLE_MS - SLACK, `connection ${i} not before its bound (${(c.closedAt - c.answers[0]).toFixed(0)} ms)`);
  const order = cs.map((c, i) => [c.closedAt, i]).sort((x, y) => x[0] - y[0]).map((x) => x[1]);
  t.same(order, cs.map((_, i) => i), 'closed in the order they went idle');
  t.same(rejected, []);
});
