// HTTP/1.1 request parsing: agent/http1's RequestParser against node's own (llhttp), two ways.
//   1. Parser alone: the same pipelined batch of requests through one reused RequestParser and
//      through node's HTTPParser binding (llhttp plus node's JS callbacks that build the header
//      list — what node:http's server runs under each IncomingMessage), in a tight loop.
//   2. Server front: a batch of pipelined requests on one loopback connection answered 200 with
//      a small body, by a node:http server (the outbound path today) and by a net server with
//      RequestParser + responseHead (head and body in one write), and by a net server whose
//      connections are agent/proxy/outbound-h1.ts's H1Connection (what the outbound path runs:
//      the request/response object the exchange sees, framing, Date, timers) with a trivial
//      front in place of the exchange. Client and server share the process, so this is the
//      whole loop's throughput, not the server's alone.
// Two requests: a typical GET (curl/browser-like headers) and a POST with a 1 KiB body.
// Prints medians of 5 rounds; no assertions (tests assert behaviour, never speed).
//   node bench/h1-parser.ts [--json]
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { RequestParser, type RequestHead } from '../agent/http1/request-parser.ts';
import { responseHead } from '../agent/http1/response-head.ts';
import { H1Connection, type H1Front } from '../agent/proxy/outbound-h1.ts';

const GET = 'GET /api/v1/orders/12345?expand=items&limit=20 HTTP/1.1\r\nHost: orders.shop.svc.cluster.local:8080\r\n'
  + 'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n'
  + 'Accept: application/json, text/plain, */*\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n'
  + 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nCookie: session=abc123def456; theme=dark\r\n'
  + 'Connection: keep-alive\r\n\r\n';
const POST = `POST /api/v1/orders HTTP/1.1\r\nHost: orders.shop.svc.cluster.local:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 1024\r\n\r\n${'x'.repeat(1024)}`;
const BATCH = 64;
const ROUNDS = 5;

interface LlhttpParser {
  initialize(type: number, resource: object): void;
  execute(b: Buffer): number | Error;
  [k: number]: unknown;
}
interface HttpCommon {
  HTTPParser: { new (): LlhttpParser; REQUEST: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number };
  methods: string[];
}
// node's internal module behind node:http's server: the llhttp binding and its callback wiring.
const common = createRequire(import.meta.url)('_http_common') as HttpCommon;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs `fn` (which handles `perCall` requests) for ~400 ms per round; requests per second. */
function rate(perCall: number, fn: () => void): number {
  for (let i = 0; i < 200; i++) fn();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < 400e6) {
      for (let i = 0; i < 50; i++) fn();
      n += 50 * perCall;
      elapsed = Number(process.hrtime.bigint() - start);
    }
    rounds.push(n / (elapsed / 1e9));
  }
  return median(rounds);
}

function ours(batch: Buffer): () => void {
  let heads = 0;
  let bytes = 0;
  const p: RequestParser = new RequestParser({
    onRequestHead: (h: RequestHead) => {
      heads += h.rawHeaders.length;
    },
    onBody: (c: Buffer) => {
      bytes += c.length;
    },
    onMessageComplete: () => p.next(),
    onError: (e) => {
      throw e;
    },
  });
  return () => {
    if (p.execute(batch) !== batch.length) throw new Error('did not parse the batch');
  };
}

function llhttp(batch: Buffer): () => void {
  const { HTTPParser, methods } = common;
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {});
  let heads = 0;
  let bytes = 0;
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[], method: number, url: string) => {
    heads += headers.length + methods[method].length + url.length;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    bytes += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => undefined;
  return () => {
    if (p.execute(batch) !== batch.length) throw new Error('did not parse the batch');
  };
}

const OK = Buffer.from('ok\n');

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** Pipelined batches on one connection: requests answered per second (median of rounds). */
async function serverRate(port: number, batch: Buffer): Promise<number> {
  const c = net.connect(port, '127.0.0.1');
  c.setNoDelay(true);
  await new Promise<void>((r) => c.once('connect', () => r()));
  let want = 0;
  let seen = 0;
  let wake: (() => void) | null = null;
  // Each answer ends in "ok\n" (3 bytes after its head): counting "ok\n" counts answers.
  let tail = '';
  c.on('data', (d: Buffer) => {
    const s = tail + d.toString('latin1');
    let i = s.indexOf('\r\n\r\nok\n');
    let last = 0;
    while (i >= 0) {
      seen++;
      last = i + 7;
      i = s.indexOf('\r\n\r\nok\n', last);
    }
    tail = s.slice(Math.max(last, s.length - 7));
    if (seen >= want && wake !== null) wake();
  });
  const once = (): Promise<void> => new Promise((r) => {
    want += BATCH;
    wake = r;
    c.write(batch);
  });
  for (let i = 0; i < 20; i++) await once();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    let n = 0;
    while (Number(process.hrtime.bigint() - start) < 400e6) {
      await once();
      n += BATCH;
    }
    rounds.push(n / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  c.destroy();
  return median(rounds);
}

async function nodeServer(batch: Buffer): Promise<number> {
  const s = http.createServer({ keepAlive: true }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
      res.end(OK);
    });
  });
  const port = await listen(s);
  try {
    return await serverRate(port, batch);
  } finally {
    s.closeAllConnections();
    s.close();
  }
}

/** One connection's worth of the new front: parse, answer with head and body in one write. */
class Front {
  readonly #socket: net.Socket;
  readonly #parser: RequestParser;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#parser = new RequestParser(this);
    socket.on('data', (d: Buffer) => this.#read(d));
  }

  #read(d: Buffer): void {
    let buf = d;
    this.#socket.cork();
    while (buf.length > 0) {
      const n = this.#parser.execute(buf);
      if (n < 0) break;
      buf = buf.subarray(n);
      if (this.#parser.paused) this.#parser.next();
    }
    this.#socket.uncork();
  }

  onRequestHead(): void {}
  onBody(): void {}
  onMessageComplete(): void {
    this.#socket.write(responseHead(200, ['content-type', 'text/plain', 'content-length', '3'], OK));
  }
  onError(): void {
    this.#socket.destroy();
  }
}

async function newServer(batch: Buffer): Promise<number> {
  const s = net.createServer({ noDelay: true }, (socket) => new Front(socket));
  const port = await listen(s);
  try {
    return await serverRate(port, batch);
  } finally {
    s.close();
  }
}

/** The outbound path's connection object, answering 200 "ok\n" once each request's body is read. */
const front: H1Front = {
  headersTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  rejected() {},
  upgrade(_req, socket) {
    socket.destroy();
  },
  request(req, res) {
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '3' });
      res.end('ok\n');
    });
  },
};

async function connServer(batch: Buffer): Promise<number> {
  const s = net.createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, (socket) => new H1Connection(socket, front).start(Buffer.alloc(0), false));
  const port = await listen(s);
  try {
    return await serverRate(port, batch);
  } finally {
    s.close();
  }
}

const results: Record<string, Record<string, number>> = {};
for (const [name, req] of [['GET, 9 headers', GET], ['POST, 1 KiB body', POST]] as const) {
  const batch = Buffer.from(req.repeat(BATCH), 'latin1');
  const parserOurs = rate(BATCH, ours(batch));
  const parserNode = rate(BATCH, llhttp(batch));
  const frontNode = await nodeServer(batch);
  const frontOurs = await newServer(batch);
  const frontConn = await connServer(batch);
  results[name] = { parserOurs, parserNode, frontOurs, frontNode, frontConn };
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(results));
} else {
  const f = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);
  console.log(`HTTP/1.1 request parsing, requests/s (median of ${ROUNDS} rounds; node ${process.version})`);
  console.log('request            | RequestParser | llhttp (HTTPParser) | ratio | net+RequestParser+responseHead | net+H1Connection | node:http server | ratio (H1Connection / node:http)');
  for (const [name, r] of Object.entries(results)) {
    console.log(`${name.padEnd(18)} | ${f(r.parserOurs)}   | ${f(r.parserNode)}         | ${(r.parserOurs / r.parserNode).toFixed(2)}  | ${f(r.frontOurs)}                    | ${f(r.frontConn)}      | ${f(r.frontNode)}      | ${(r.frontConn / r.frontNode).toFixed(2)}`);
  }
}
