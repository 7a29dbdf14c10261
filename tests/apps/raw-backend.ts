// An HTTP/1 backend written on raw sockets, so a test sees exactly what reached the pod — how many
// requests, with which heads — rather than what a forgiving parser made of it. It frames requests
// itself (Content-Length or chunked, nothing else), answers each with 200 and the body
// `seen <n>` (closing after it when the request asked), and reports every request; bytes it cannot frame are reported as such and the
// connection is closed. Used to prove a proxy never turns one request into two.
//   node tests/apps/raw-backend.ts [--port 8080]
// stdout: {"ready":true,...}, then per connection {"event":"accept","conn":n} and
// {"event":"bytes","conn":n,"first":"<first bytes, latin1>"} on its first data, per request
// {"event":"request","conn":n,"method","target","version","headers":[[name,value]...],"bodyBytes"},
// and {"event":"unframed","conn":n,"reason","raw"} for bytes that are no request.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli } from './app-cli.ts';

const usage = 'node tests/apps/raw-backend.ts [--port 8080]';
const MAX_HEAD = 64 * 1024;

interface Parsed {
  method: string;
  target: string;
  version: string;
  headers: [string, string][];
  headEnd: number;
}

function parseHead(buf: Buffer): Parsed | 'incomplete' | string {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > MAX_HEAD ? 'head too large' : 'incomplete';
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^([A-Z-]+) (\S+) (HTTP\/1\.[01])$/.exec(lines[0]);
  if (m === null) return `bad request line ${JSON.stringify(lines[0].slice(0, 80))}`;
  const headers: [string, string][] = [];
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c <= 0 || /\s/.test(l.slice(0, c))) return `bad header line ${JSON.stringify(l.slice(0, 80))}`;
    headers.push([l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()]);
  }
  return { method: m[1], target: m[2], version: m[3], headers, headEnd: end + 4 };
}

/** Body length from the head: bytes, 'chunked', or an error string for anything ambiguous. */
function bodyFraming(p: Parsed): number | 'chunked' | string {
  const te = p.headers.filter(([n]) => n === 'transfer-encoding');
  const cl = p.headers.filter(([n]) => n === 'content-length');
  if (te.length > 0 && cl.length > 0) return 'both transfer-encoding and content-length';
  if (te.length > 1 || cl.length > 1) return 'repeated framing header';
  if (te.length === 1) return te[0][1].toLowerCase() === 'chunked' ? 'chunked' : `transfer-encoding ${te[0][1]}`;
  if (cl.length === 1) return /^\d+$/.test(cl[0][1]) ? Number(cl[0][1]) : `content-length ${cl[0][1]}`;
  return 0;
}

/** Length of a complete chunked body at `from` (through the last CRLF), 'incomplete', or an error. */
function chunkedLength(buf: Buffer, from: number): number | 'incomplete' | string {
  let i = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return 'incomplete';
    const size = parseInt(buf.subarray(i, eol).toString('latin1').split(';')[0], 16);
    if (!Number.isFinite(size) || size < 0) return 'bad chunk size';
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const end = buf.indexOf('\r\n\r\n', eol);
      return end < 0 ? 'incomplete' : end + 4 - from;
    }
    i = eol + 2 + size + 2;
    if (i > buf.length) return 'incomplete';
  }
}

runCli('raw-backend', usage, async (argv) => {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' } }, strict: true });
  const port = intFlag('port', values.port, 8080, 1, 65535);
  let nextConn = 1;
  let seen = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const conn = nextConn++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    emit({ event: 'accept', conn });
    let buf = Buffer.alloc(0);
    let first = true;
    socket.on('data', (d: Buffer) => {
      if (first) emit({ event: 'bytes', conn, first: d.subarray(0, 64).toString('latin1') });
      first = false;
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length === 0) return;
        const p = parseHead(buf);
        if (p === 'incomplete') return;
        const fail = (reason: string): void => {
          emit({ event: 'unframed', conn, reason, raw: buf.subarray(0, 200).toString('latin1') });
          socket.destroy();
        };
        if (typeof p === 'string') return fail(p);
        const framing = bodyFraming(p);
        if (typeof framing === 'string' && framing !== 'chunked') return fail(framing);
        const bodyLen = framing === 'chunked' ? chunkedLength(buf, p.headEnd) : framing;
        if (bodyLen === 'incomplete') return;
        if (typeof bodyLen === 'string') return fail(bodyLen);
        if (buf.length < p.headEnd + bodyLen) return;
        seen++;
        emit({ event: 'request', conn, method: p.method, target: p.target, version: p.version, headers: p.headers, bodyBytes: bodyLen });
        buf = buf.subarray(p.headEnd + bodyLen);
        const body = `seen ${seen}`;
        const close = p.headers.some(([n, v]) => n === 'connection' && v.toLowerCase() === 'close');
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`);
        if (close) {
          socket.end();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
  onShutdown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  emit({ ready: true, app: 'raw-backend', port });
});
