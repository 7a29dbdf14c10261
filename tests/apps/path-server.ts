// An app that reports the exact request target it received, for the policy conformance suite
// (tests/e2e/pol-conformance.test.ts): "the app got only what policy evaluated" needs the app's own
// view. One port speaks HTTP/1.1 and h2c prior knowledge (it looks at the first bytes), as the
// mesh delivers h2 to a pod on the port the app dialled.
//   node tests/apps/path-server.ts [--port 8080]   (0: any free port, reported in the ready line)
// Every request: a JSON line {event:"request", proto:"http1"|"h2", kind, method, target, tunneled}
// where kind is "request", "upgrade" (with the Upgrade header in `upgrade`) or "connect"; the
// answer is 200 with the target as the body. Like servers an attacker hopes to find behind a proxy:
//   - a WebSocket upgrade is accepted (101);
//   - an h2c upgrade is accepted (101), then the connection speaks h2 — what makes h2c smuggling;
//   - CONNECT is accepted (200), and what follows in the tunnel is served as HTTP/1.1 by this same
//     app (tunneled: true) — a server that is also a forward proxy to itself.
// The reports let the suite see a request that got past the mesh through any of these.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli } from './app-cli.ts';

const PREFACE = 'PRI * HTTP/2.0';
const TUNNELED = Symbol('tunneled');
type Tagged = net.Socket & { [TUNNELED]?: boolean };

runCli('path-server', 'node tests/apps/path-server.ts [--port 8080]', async (argv) => {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' } }, strict: true });
  const want = intFlag('port', values.port, 8080, 0, 65535);
  const sockets = new Set<net.Socket>();

  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    const target = String(headers[':path'] ?? '');
    emit({ event: 'request', proto: 'h2', kind: 'request', method: headers[':method'], target, tunneled: false });
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(target);
  });
  h2.on('sessionError', () => undefined);

  const h1 = http.createServer({ keepAlive: true });
  h1.on('request', (req, res) => {
    const target = req.url ?? '';
    emit({ event: 'request', proto: 'http1', kind: 'request', method: req.method, target, tunneled: (req.socket as Tagged)[TUNNELED] === true });
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(target);
  });
  h1.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    emit({ event: 'request', proto: 'http1', kind: 'upgrade', upgrade, method: req.method, target: req.url ?? '', tunneled: (socket as Tagged)[TUNNELED] === true });
    socket.on('error', () => undefined);
    if (upgrade === 'websocket') {
      const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'] ?? '')}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      // A WebSocket text frame with the target, then a close frame: enough for a client to see it.
      const text = Buffer.from(req.url ?? '');
      socket.write(Buffer.concat([Buffer.from([0x81, text.length]), text, Buffer.from([0x88, 0x00])]));
      setTimeout(() => socket.end(), 200);
      return;
    }
    if (upgrade === 'h2c') {
      // RFC 7540 §3.2: 101, then HTTP/2 on the same connection (the upgraded request is stream 1).
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      h2.emit('connection', socket);
      return;
    }
    socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  h1.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    emit({ event: 'request', proto: 'http1', kind: 'connect', method: 'CONNECT', target: req.url ?? '', tunneled: (socket as Tagged)[TUNNELED] === true });
    socket.on('error', () => undefined);
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    (socket as Tagged)[TUNNELED] = true;
    h1.emit('connection', socket);
    if (head.length > 0) socket.emit('data', head);
    socket.resume();
  });

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first.subarray(0, PREFACE.length).toString('latin1') === PREFACE) {
        socket.unshift(first);
        h2.emit('connection', socket);
        return;
      }
      h1.emit('connection', socket);
      socket.emit('data', first);
      socket.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(want, '0.0.0.0', resolve));
  const port = (server.address() as net.AddressInfo).port;
  onShutdown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  emit({ ready: true, app: 'path-server', port });
});
