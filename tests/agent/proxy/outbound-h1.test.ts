// The outbound HTTP/1 connection on the agent's own codec (agent/proxy/outbound-h1.ts), over real
// loopback sockets: a net server hands each connection to an H1Connection whose front is a small
// scripted app written here (no exchange, no pod), and a raw client writes hand-made bytes and
// compares what comes back with hand-written expected bytes. Every response the app writes sets
// its own Date field, so the bytes are exact (the writer adds Date only when it is absent).
// The whole outbound path on this engine (detection, exchange, pods) runs in
// tests/agent/http/l7-local-path.test.ts and the e2e suites.
import t from 'tap';
import net from 'node:net';
import { H1Connection, type H1Front } from '../../../agent/proxy/outbound-h1.ts';
import { rawHead, type UpgradeRequest } from '../../../agent/proxy/upgrade-splice.ts';

const DATE = 'Mon, 07 Dec 2026 00:00:00 GMT';
const events: string[] = [];
const rejected: string[] = [];
let falseWrites = 0;
let dataWhilePaused = 0;
const upgrades: Array<{ req: UpgradeRequest; head: Buffer; replay: Buffer }> = [];

/** The scripted app: one behaviour per path. */
const front: H1Front = {
  headersTimeoutMs: 400,
  keepAliveTimeoutMs: 65_000,
  rejected: (r) => rejected.push(r),
  upgrade(req, socket, head) {
    const replay = rawHead(req);
    upgrades.push({ req, head, replay: typeof replay === 'string' ? Buffer.from(replay, 'latin1') : replay });
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
    socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.resume();
  },
  request(req, res) {
    events.push(`req ${req.method} ${req.url}`);
    const done = (): void => { events.push(`end ${req.url}`); };
    switch (req.url) {
      case '/slow':
        // Answered late: a pipelined request behind it must wait its turn.
        setTimeout(() => {
          res.writeHead(200, { date: DATE, 'content-length': 4 });
          res.end('slow');
          done();
        }, 100);
        return;
      case '/echo': {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          res.writeHead(200, { date: DATE, 'content-length': body.length, 'x-writes': String(parts.length) });
          res.write(body);
          res.end();
          done();
        });
        return;
      }
      case '/trailers-seen': {
        // What the exchange reads at 'end': the request's trailer section, or nothing.
        req.resume();
        req.on('end', () => {
          const body = JSON.stringify((req as { trailers?: unknown }).trailers ?? null);
          res.writeHead(200, { date: DATE, 'content-length': body.length });
          res.end(body);
          done();
        });
        return;
      }
      case '/continue': {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
        req.on('end', () => {
          res.writeHead(200, { date: DATE, 'content-length': Buffer.concat(parts).length });
          res.end(Buffer.concat(parts).toString());
        });
        res.writeContinue();
        return;
      }
      case '/stream':
        // Unknown length, with a trailer.
        res.writeHead(200, { date: DATE });
        res.write(Buffer.from('abc'));
        res.write(Buffer.from('defgh'));
        res.addTrailers({ 'x-checksum': '42' });
        res.end();
        done();
        return;
      case '/big': {
        // 4 MiB in 64 KiB writes, honouring write() → false and 'drain' as the exchange does.
        const chunk = Buffer.alloc(64 * 1024, 'b');
        let left = 64;
        res.writeHead(200, { date: DATE, 'content-length': 64 * chunk.length });
        const pump = (): void => {
          while (left > 0) {
            left--;
            if (!res.write(chunk)) {
              falseWrites++;
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      case '/sink': {
        // Pauses the body at its first chunk for 300 ms: nothing may arrive meanwhile.
        let bytes = 0;
        let paused = false;
        req.on('data', (c: Buffer) => {
          if (paused) dataWhilePaused++;
          bytes += c.length;
          if (bytes === c.length) {
            paused = true;
            req.pause();
            setTimeout(() => {
              paused = false;
              req.resume();
            }, 300);
          }
        });
        req.on('end', () => {
          res.writeHead(200, { date: DATE, 'content-length': String(bytes).length });
          res.end(String(bytes));
        });
        return;
      }
      case '/early':
        // Answered before the body is read (as the mesh's 503s are): the body is drained unread.
        res.writeHead(503, { date: DATE, 'content-length': 0 });
        res.end();
        return;
      case '/crlf':
        res.writeHead(200, { date: DATE, 'content-length': 3, 'x-pod': 'a\r\nset-cookie: injected=1' });
        res.write(Buffer.from('abc'));
        res.end();
        return;
      default:
        req.on('end', () => undefined);
        res.writeHead(200, { date: DATE, 'content-length': req.url.length, 'x-host': String(req.headers.host), 'x-upgrade': String(req.headers.upgrade) });
        res.end(req.url);
        done();
    }
  },
};

const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => new H1Connection(s, front).start(Buffer.alloc(0), false));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => server.close(() => r())));
const port = (server.address() as net.AddressInfo).port;

interface Talk {
  /** Everything the server wrote, as latin1. */
  text: string;
  /** Whether the server closed the connection. */
  closed: boolean;
}

/**
 * Connects, writes `parts` one write each (with a turn of the event loop between), optionally
 * half-closes, and collects until the server closes or `quietMs` pass with nothing more to read
 * once `want` bytes have come.
 */
function talk(parts: Array<string | Buffer>, opts: { halfClose?: boolean; want?: number; quietMs?: number; onData?: (text: string, s: net.Socket) => void } = {}): Promise<Talk> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed });
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), text.length >= (opts.want ?? 0) ? (opts.quietMs ?? 500) : 5000);
    };
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      opts.onData?.(text, s);
      arm();
    });
    s.on('end', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        await new Promise((r) => setImmediate(r));
      }
      if (opts.halfClose === true) s.end();
      arm();
    });
  });
}

/** What a response on a connection that stays open says about it (node:http says the same). */
const KA = 'connection: keep-alive\r\nkeep-alive: timeout=65\r\n';
const ok = (path: string, extra = KA): string => `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: ${path.length}\r\nx-host: x\r\nx-upgrade: undefined\r\n${extra}\r\n${path}`;

t.test('pipelined requests in one write are answered in order, each parsed only after the one before is answered', async (t) => {
  events.length = 0;
  const r = await talk(['GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  t.equal(r.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 4\r\n${KA}\r\nslow${ok('/b')}${ok('/c', 'connection: close\r\n')}`);
  t.ok(r.closed, 'closed after the request that asked for it');
  t.same(events, ['req GET /slow', 'end /slow', 'req GET /b', 'end /b', 'req GET /c', 'end /c'], 'the app saw /b only once /slow was answered');
});

t.test('a request body split over many writes arrives whole (Content-Length and chunked)', async (t) => {
  const body = 'abcdefghijklmnopqrstuvwxyz';
  const head = `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`;
  const r = await talk([...head.split(''), ...body.split('')], { want: 80 });
  t.match(r.text, new RegExp(`^HTTP/1\\.1 200 OK\\r\\ndate: ${DATE}\\r\\ncontent-length: 26\\r\\nx-writes: \\d+\\r\\n${KA}\\r\\n${body}$`));
  t.ok(Number(/x-writes: (\d+)/.exec(r.text)?.[1]) > 1, 'the app got the body as it came, in several chunks');
  const chunked = `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nx-trailer: t\r\n\r\n`;
  const c = await talk(chunked.split(''), { want: 70 });
  t.match(c.text, new RegExp(`^HTTP/1\\.1 200 OK\\r\\ndate: ${DATE}\\r\\ncontent-length: 5\\r\\nx-writes: \\d+\\r\\n${KA}\\r\\nabcde$`));
  t.notOk(c.closed, 'the connection stays open (keep-alive)');
});

t.test('request trailers: the chunked body\'s trailer section is the request\'s `trailers` by its end; the next request has none', async (t) => {
  const withTrailers = 'POST /trailers-seen HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: c1\r\nx-list: 1\r\nx-list: 2\r\n\r\n';
  const plain = 'POST /trailers-seen HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n';
  const r = await talk([...withTrailers.split(''), plain], { want: 200 });
  const first = '{"x-checksum":"c1","x-list":"1, 2"}';
  t.equal(r.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: ${first.length}\r\n${KA}\r\n${first}HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 4\r\n${KA}\r\nnull`, 'names lower-cased, repeats joined (as node:http\'s req.trailers); none on the next request');
});

t.test('a response written before its request body was read: the body is drained, the next request served', async (t) => {
  const body = 'x'.repeat(100_000);
  const r = await talk([`POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`, `${body.slice(10)}GET /n HTTP/1.1\r\nHost: x\r\n\r\n`]);
  t.equal(r.text, `HTTP/1.1 503 Service Unavailable\r\ndate: ${DATE}\r\ncontent-length: 0\r\n${KA}\r\n${ok('/n')}`);
  t.notOk(r.closed);
});

t.test('unknown length: chunked with trailers to an HTTP/1.1 client, close-delimited to HTTP/1.0', async (t) => {
  const r = await talk(['GET /stream HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.equal(r.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ntransfer-encoding: chunked\r\n${KA}\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\nx-checksum: 42\r\n\r\n`);
  t.notOk(r.closed, 'and the connection stays open');
  const old = await talk(['GET /stream HTTP/1.0\r\n\r\n']);
  t.equal(old.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\nconnection: close\r\n\r\nabcdefgh`, 'no chunked, no trailers: the end of the connection ends the body');
  t.ok(old.closed, 'closed');
  const keep = await talk(['GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n']);
  t.equal(keep.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 2\r\nx-host: undefined\r\nx-upgrade: undefined\r\n${KA}\r\n/k`, 'an HTTP/1.0 keep-alive request is told the connection stays');
  t.notOk(keep.closed);
});

t.test('HEAD: the head only, Content-Length as given; the connection goes on', async (t) => {
  const r = await talk(['HEAD /hd HTTP/1.1\r\nHost: x\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.equal(r.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 3\r\nx-host: x\r\nx-upgrade: undefined\r\n${KA}\r\nHTTP/1.1 200 OK\r\ndate: ${DATE}\r\n${KA}\r\n${ok('/after')}`, 'no body, and no chunked framing for an unknown length');
});

t.test('100-continue: the interim answer, then the body, then the answer', async (t) => {
  let sent = false;
  const r = await talk(['POST /continue HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n'], {
    want: 60,
    onData: (text, s) => {
      if (!sent && text === 'HTTP/1.1 100 Continue\r\n\r\n') {
        sent = true;
        s.write('ok');
      }
    },
  });
  t.equal(r.text, `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 2\r\n${KA}\r\nok`);
});

t.test('an Expect other than 100-continue is answered 417 here, never given to the app', async (t) => {
  events.length = 0;
  rejected.length = 0;
  const r = await talk(['GET /x HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n']);
  t.equal(r.text, 'HTTP/1.1 417 Expectation Failed\r\nweft-error: WEFT_ERR_HTTP_EXPECTATION\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  t.ok(r.closed);
  t.same(events, [], 'the app saw nothing');
  t.same(rejected, ['http1_expectation'], 'counted');
});

t.test('header timeout: a head trickled past the bound is answered 408 and closed, counted once', async (t) => {
  rejected.length = 0;
  const started = Date.now();
  const r = await talk(['GET /x HTTP/1.1\r\nHost: x\r\nX-Slow: a'], { quietMs: 3000 });
  t.equal(r.text, 'HTTP/1.1 408 Request Timeout\r\nweft-error: WEFT_ERR_HTTP_HEADER_TIMEOUT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  t.ok(r.closed, 'closed');
  t.ok(Date.now() - started >= 350, 'not before the bound');
  t.same(rejected, ['http1_header_timeout']);
  // The timer is the connection's: a keep-alive connection whose second head trickles is cut too.
  rejected.length = 0;
  const second = await talk(['GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHo'], { want: 400, quietMs: 3000 });
  t.equal(second.text, `${ok('/a')}HTTP/1.1 408 Request Timeout\r\nweft-error: WEFT_ERR_HTTP_HEADER_TIMEOUT\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  t.same(rejected, ['http1_header_timeout']);
});

t.test('a response field with CR/LF never splits the response: 502 with a code instead', async (t) => {
  rejected.length = 0;
  const r = await talk(['GET /crlf HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n']);
  t.equal(r.text, 'HTTP/1.1 502 Bad Gateway\r\nweft-error: WEFT_ERR_HTTP_RESPONSE_HEAD\r\ncontent-length: 0\r\nconnection: close\r\n\r\n', 'nothing of the pod\'s head or body, no injected field');
  t.ok(r.closed, 'and the connection closed');
  t.same(rejected, ['http1_response_head']);
});

t.test('a refused request is answered with its rule\'s status and code, closed and counted', async (t) => {
  rejected.length = 0;
  const r = await talk(['GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n']);
  t.equal(r.text, 'HTTP/1.1 400 Bad Request\r\nweft-error: WEFT_ERR_HTTP_MALFORMED\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  t.ok(r.closed);
  const f = await talk(['GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n']);
  t.equal(f.text, `${ok('/a')}HTTP/1.1 400 Bad Request\r\nweft-error: WEFT_ERR_HTTP_FRAMING\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`, 'a bad request after a good one: the good one answered, then the refusal');
  t.same(rejected, ['http1_malformed', 'http1_framing']);
});

t.test('an upgrade head is handed over with the bytes after it; h2c is declined and served plain', async (t) => {
  upgrades.length = 0;
  const head = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n';
  let more = false;
  const r = await talk([`${head}EXTRA`], {
    want: 80,
    onData: (text, s) => {
      if (!more && text.endsWith('EXTRA')) {
        more = true;
        s.write('MORE');
      }
    },
  });
  t.equal(r.text, 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nEXTRAMORE', 'the bytes after the head, then the tunnel');
  t.equal(upgrades.length, 1);
  t.equal(upgrades[0].head.toString('latin1'), 'EXTRA', 'handed over: the bytes read after the head');
  t.equal(upgrades[0].replay.toString('latin1'), head, 'replayed: the head as read');
  t.equal(upgrades[0].req.method, 'GET');
  t.equal(upgrades[0].req.httpVersion, '1.1');

  const h2c = await talk(['GET /h2c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n']);
  t.equal(h2c.text, ok('/h2c'), 'answered as the plain request, without its upgrade fields');
  t.equal(upgrades.length, 1, 'not handed over');
});

t.test('half-close: a client that shuts its write side after its request gets the whole answer', async (t) => {
  const r = await talk(['GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'], { halfClose: true, quietMs: 2000 });
  t.equal(r.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow`);
  t.ok(r.closed, 'then the connection closes');
  const two = await talk(['GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n'], { halfClose: true, quietMs: 2000 });
  t.equal(two.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 4\r\n${KA}\r\nslow${ok('/b', 'connection: close\r\n')}`, 'pipelined before the FIN: every one answered, the last says close');
  t.ok(two.closed, 'then the connection closes');
});

t.test('backpressure: a response to a slow reader waits for drain; a paused request body stops arriving', async (t) => {
  falseWrites = 0;
  const got = await new Promise<number>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let n = 0;
    s.on('connect', () => {
      s.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      s.pause();
      setTimeout(() => s.resume(), 500);
    });
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('close', () => resolve(n));
  });
  const head = `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: ${4 * 1024 * 1024}\r\nconnection: close\r\n\r\n`;
  t.equal(got, head.length + 4 * 1024 * 1024, 'every byte arrived');
  t.ok(falseWrites > 0, `write() said wait (${falseWrites} times) while the client did not read`);

  dataWhilePaused = 0;
  const body = Buffer.alloc(4 * 1024 * 1024, 'q');
  const r = await talk([`POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, body], { want: 60, quietMs: 1000 });
  t.equal(r.text, `HTTP/1.1 200 OK\r\ndate: ${DATE}\r\ncontent-length: 7\r\n${KA}\r\n${body.length}`, 'the whole body counted');
  t.equal(dataWhilePaused, 0, 'no chunk was delivered while the request was paused');
});
