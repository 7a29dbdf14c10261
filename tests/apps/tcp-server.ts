// TCP test server: the first line of each connection picks its behaviour (see tcp-modes.ts).
//   node tests/apps/tcp-server.ts [--port 8080] [--host ADDR] [--backlog N] [--log]
// stdout: {"ready":true,"app":"tcp-server","host":...,"port":...} once listening; with --log, one
// {"conn":...} line per finished connection. SIGTERM closes everything and exits 0.
import net from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli } from './app-cli.ts';
import {
  MAX_MODE_LINE, StreamDigest, formatAddress, formatSinkReply, parseModeLine, patternChunks, type TcpMode,
} from './tcp-modes.ts';

export interface ConnectionRecord {
  conn: number;
  remote: string;
  mode: string;
  bytesIn: number;
  bytesOut: number;
  error?: string;
}

export interface TcpServerHandle {
  server: net.Server;
  port: number;
  close(): Promise<void>;
}

export async function startTcpServer(opts: {
  port: number;
  host?: string;
  /** Listen backlog (node's default is 511; load tests that connect thousands at once want more). */
  backlog?: number;
  onConnection?: (rec: ConnectionRecord) => void;
}): Promise<TcpServerHandle> {
  const sockets = new Set<net.Socket>();
  let nextId = 1;
  // allowHalfOpen: a client that ends its side (ECHO/SINK) still gets the rest of our answer.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const rec: ConnectionRecord = {
      conn: nextId++, remote: formatAddress(socket.remoteAddress, socket.remotePort), mode: '', bytesIn: 0, bytesOut: 0,
    };
    socket.on('error', (err: NodeJS.ErrnoException) => { rec.error = err.code ?? err.message; });
    socket.on('close', () => {
      sockets.delete(socket);
      rec.bytesOut = socket.bytesWritten;
      opts.onConnection?.(rec);
    });
    readModeLine(socket, rec);
  });
  server.listen({ port: opts.port, host: opts.host, backlog: opts.backlog });
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

function readModeLine(socket: net.Socket, rec: ConnectionRecord): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(0x0a);
    if (nl < 0) {
      if (head.length > MAX_MODE_LINE) refuse(socket, rec, `mode line longer than ${MAX_MODE_LINE} bytes`);
      return;
    }
    socket.off('data', onData);
    socket.off('end', onEndEarly);
    socket.pause();
    const parsed = parseModeLine(head.subarray(0, nl).toString('latin1'));
    if ('error' in parsed) {
      refuse(socket, rec, parsed.error);
      return;
    }
    rec.mode = parsed.mode;
    serve(socket, rec, parsed, head.subarray(nl + 1));
  };
  const onEndEarly = (): void => refuse(socket, rec, 'connection ended before a mode line');
  socket.on('data', onData);
  socket.on('end', onEndEarly);
}

function refuse(socket: net.Socket, rec: ConnectionRecord, why: string): void {
  rec.mode = 'INVALID';
  rec.error = why;
  socket.removeAllListeners('data');
  socket.end(`ERR ${why}\n`);
  socket.resume();
}

function serve(socket: net.Socket, rec: ConnectionRecord, m: TcpMode, rest: Buffer): void {
  switch (m.mode) {
    case 'ECHO': {
      if (rest.length > 0) {
        rec.bytesIn += rest.length;
        socket.write(rest);
      }
      socket.on('data', (chunk: Buffer) => { rec.bytesIn += chunk.length; });
      // pipe() gives backpressure and ends our side once the client's side has ended and all is written.
      socket.pipe(socket);
      return;
    }
    case 'SINK': {
      const digest = new StreamDigest();
      digest.update(rest);
      socket.on('data', (chunk: Buffer) => digest.update(chunk));
      socket.on('end', () => {
        rec.bytesIn = digest.bytes;
        socket.end(formatSinkReply(digest.bytes, digest.hex()));
      });
      socket.resume();
      return;
    }
    case 'SOURCE': {
      // Whatever the client sends meanwhile is drained; its end does not cut our sending short.
      socket.on('data', (chunk: Buffer) => { rec.bytesIn += chunk.length; });
      socket.resume();
      void sendPattern(socket, m.seed, m.bytes);
      return;
    }
    case 'RESET':
      // An RST, not a FIN: how tests see ECONNRESET travel through the mesh.
      socket.resetAndDestroy();
      return;
    case 'HOLD':
      socket.on('data', (chunk: Buffer) => { rec.bytesIn += chunk.length; });
      socket.on('end', () => socket.end());
      socket.resume();
      return;
    case 'WHO':
      socket.on('data', (chunk: Buffer) => { rec.bytesIn += chunk.length; });
      socket.resume();
      socket.end(`${rec.remote}\n`);
      return;
  }
}

async function sendPattern(socket: net.Socket, seed: number, total: number): Promise<void> {
  for (const chunk of patternChunks(seed, total)) {
    if (socket.destroyed) return;
    if (!socket.write(chunk)) {
      await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
    }
  }
  if (!socket.destroyed) socket.end();
}

if (import.meta.main) {
  runCli('tcp-server', 'node tests/apps/tcp-server.ts [--port 8080] [--host ADDR] [--backlog N] [--log]', async (argv) => {
    const { values } = parseArgs({
      args: argv,
      options: { port: { type: 'string' }, host: { type: 'string' }, backlog: { type: 'string' }, log: { type: 'boolean', default: false } },
      strict: true,
      allowPositionals: false,
    });
    const port = intFlag('port', values.port, 8080, 0, 65535);
    const handle = await startTcpServer({
      port,
      host: values.host,
      backlog: intFlag('backlog', values.backlog, 511, 1, 65535),
      onConnection: values.log ? (rec) => emit({ ...rec }) : undefined,
    });
    const addr = handle.server.address() as net.AddressInfo;
    onShutdown(() => handle.close());
    emit({ ready: true, app: 'tcp-server', host: addr.address, port: addr.port });
  });
}
