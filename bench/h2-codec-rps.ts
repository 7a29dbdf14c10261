// Requests per second and CPU per request over one loopback HTTP/2 connection (TCP, prior
// knowledge), client and server in this one process: node:http2 on both ends, agent/h2 on both
// ends, and the two mixed. Closed loop, `--streams` concurrent streams (default 32), GET with a
// 1 KiB answer, `--seconds` per configuration (default 3), configurations interleaved for
// `--rounds` rounds (default 3), median reported. A figure for the codec alone, not the mesh.
//   node bench/h2-codec-rps.ts [--streams 32] [--seconds 3] [--rounds 3]
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { H2Connection, HeadersKind, type H2Handler, type H2Stream, type HeadersKindValue } from '../agent/h2/connection.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const STREAMS = arg('streams', 32);
const SECONDS = arg('seconds', 3);
const ROUNDS = arg('rounds', 3);
const BODY = Buffer.alloc(1024, 'x');

// ---- servers ----

class CodecServerHandler implements H2Handler {
  conn!: H2Connection;
  onHeaders(s: H2Stream, _h: string[], endStream: boolean, kind: HeadersKindValue): void {
    if (kind === HeadersKind.HEAD && endStream) {
      this.conn.sendHeaders(s, [':status', '200', 'content-type', 'text/plain', 'content-length', '1024'], false);
      this.conn.sendData(s, BODY, true);
    }
  }
  onData(): void {}
  onReset(): void {}
}

async function codecServer(): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const h = new CodecServerHandler();
    h.conn = new H2Connection(sock, h, { role: 'server' });
    sock.on('data', (d: Buffer) => h.conn.receive(d));
    sock.on('close', () => h.conn.transportClosed());
    sock.on('error', () => {});
    h.conn.start();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

async function nodeServer(): Promise<net.Server> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': 1024 });
    stream.end(BODY);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server as unknown as net.Server;
}

// ---- clients: run(seconds) → requests completed ----

type Client = { run(ms: number): Promise<number>; close(): void };

async function nodeClient(port: number): Promise<Client> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  await once(session, 'connect');
  return {
    async run(ms: number): Promise<number> {
      let done = 0;
      const until = Date.now() + ms;
      const loop = async (): Promise<void> => {
        while (Date.now() < until) {
          const req = session.request({ ':path': '/' });
          req.resume();
          await once(req, 'close');
          done++;
        }
      };
      await Promise.all(Array.from({ length: STREAMS }, loop));
      return done;
    },
    close: () => session.destroy(),
  };
}

class CodecClientHandler implements H2Handler {
  conn!: H2Connection;
  done = 0;
  until = 0;
  readonly req = [':method', 'GET', ':scheme', 'http', ':authority', 'bench', ':path', '/'];
  finish: (() => void) | null = null;
  inflight = 0;
  start(): void {
    const s = this.conn.request(this.req, true);
    if (s !== null) this.inflight++;
  }
  onHeaders(_s: H2Stream, _h: string[], endStream: boolean): void {
    if (endStream) this.#end();
  }
  onData(_s: H2Stream, _d: Buffer, endStream: boolean): void {
    if (endStream) this.#end();
  }
  #end(): void {
    this.done++;
    this.inflight--;
    if (Date.now() < this.until) this.start();
    else if (this.inflight === 0) this.finish?.();
  }
  onReset(): void {
    this.#end();
  }
}

async function codecClient(port: number): Promise<Client> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.setNoDelay(true);
  const h = new CodecClientHandler();
  h.conn = new H2Connection(sock, h, { role: 'client' });
  sock.on('data', (d: Buffer) => h.conn.receive(d));
  sock.on('error', () => {});
  h.conn.start();
  await new Promise((r) => setTimeout(r, 20));
  return {
    async run(ms: number): Promise<number> {
      h.done = 0;
      h.until = Date.now() + ms;
      const finished = new Promise<void>((r) => (h.finish = r));
      for (let i = 0; i < STREAMS; i++) h.start();
      await finished;
      return h.done;
    },
    close: () => sock.destroy(),
  };
}

// ---- run ----

interface Config {
  name: string;
  server: () => Promise<net.Server>;
  client: (port: number) => Promise<Client>;
}
const configs: Config[] = [
  { name: 'node:http2 client → node:http2 server', server: nodeServer, client: nodeClient },
  { name: 'agent/h2 client → agent/h2 server', server: codecServer, client: codecClient },
  { name: 'node:http2 client → agent/h2 server', server: codecServer, client: nodeClient },
  { name: 'agent/h2 client → node:http2 server', server: nodeServer, client: codecClient },
];

const results = new Map<string, { rps: number; cpuUs: number }[]>();
for (let round = 0; round < ROUNDS; round++) {
  for (const c of configs) {
    const server = await c.server();
    const client = await c.client((server.address() as net.AddressInfo).port);
    await client.run(300); // warm-up
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const n = await client.run(SECONDS * 1000);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    client.close();
    server.close();
    const list = results.get(c.name) ?? [];
    list.push({ rps: n / secs, cpuUs: (cpu.user + cpu.system) / n });
    results.set(c.name, list);
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`One loopback HTTP/2 connection, ${STREAMS} streams, GET → 1 KiB, ${SECONDS} s × ${ROUNDS} rounds (median), client and server in one process, Node ${process.version}`);
console.log('| configuration | req/s | CPU µs per request (both ends) |');
console.log('|---|---|---|');
for (const c of configs) {
  const r = results.get(c.name) ?? [];
  console.log(`| ${c.name} | ${Math.round(median(r.map((x) => x.rps))).toLocaleString('en')} | ${median(r.map((x) => x.cpuUs)).toFixed(1)} |`);
}
