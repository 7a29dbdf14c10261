// A client whose connections ask for a large download and then stop reading: the slow reader a
// mesh must not let stall anyone else's traffic. Opens C connections, each asks for --bytes
// (tcp: `SOURCE n seed` to tcp-server.ts; http: `GET --path`, by default /bytes/n of
// http-server.ts), reads until
// --read bytes arrived (the download flows through the mesh) and then pauses the socket for good,
// holding the connection until it is killed.
//   node tests/apps/stall-client.ts --host H --port P [--proto tcp|http] [--connections 20]
//     [--bytes 268435456] [--read 65536] [--path /chunked/268435456]
// stdout: {"ready":true,...}; then {"stalled":n,"failed":m,"errors":{...}} once every connection
// has read its --read bytes (or failed). SIGTERM closes everything and exits 0.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { choiceFlag, emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';
import { MAX_SOURCE_BYTES, modeLine } from './tcp-modes.ts';

const usage = 'node tests/apps/stall-client.ts --host H --port P [--proto tcp|http] [--connections C] [--bytes N] [--read N] [--path P]';

runCli('stall-client', usage, async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' }, port: { type: 'string' }, proto: { type: 'string' },
      connections: { type: 'string' }, bytes: { type: 'string' }, read: { type: 'string' }, path: { type: 'string' },
    },
    strict: true,
  });
  if (values.host === undefined || values.port === undefined) throw new UsageError('--host and --port are required');
  const host = values.host;
  const port = intFlag('port', values.port, 0, 1, 65_535);
  const proto = choiceFlag('proto', values.proto, 'tcp', ['tcp', 'http'] as const);
  const count = intFlag('connections', values.connections, 20, 1, 10_000);
  const bytes = intFlag('bytes', values.bytes, 256 << 20, 1, Math.min(MAX_SOURCE_BYTES, 1 << 30));
  const want = intFlag('read', values.read, 64 << 10, 1, bytes);
  const ask = proto === 'tcp' ? modeLine({ mode: 'SOURCE', bytes, seed: 1 }) : `GET ${values.path ?? `/bytes/${bytes}`} HTTP/1.1\r\nhost: ${host}:${port}\r\n\r\n`;
  const sockets: net.Socket[] = [];
  onShutdown(() => {
    for (const s of sockets) s.destroy();
  });
  emit({ ready: true, app: 'stall-client', host, port, proto, connections: count });
  const errors: Record<string, number> = {};
  const outcomes = await Promise.all(Array.from({ length: count }, () => new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    sockets.push(socket);
    let got = 0;
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got < want) return;
      // From here on nothing is read: the kernel's receive buffer fills, then the agent's socket,
      // and the download's stream window is left to the agent's flow control.
      socket.pause();
      resolve(true);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const k = err.code ?? err.message;
      errors[k] = (errors[k] ?? 0) + 1;
    });
    socket.on('close', () => resolve(false));
    socket.write(ask);
  })));
  const stalled = outcomes.filter(Boolean).length;
  emit({ stalled, failed: count - stalled, errors });
  // Held until SIGTERM (onShutdown). A paused socket is no active handle to the event loop (its
  // read is stopped, nothing is queued to write), and a pending promise is none either: without
  // this timer the process would exit here, closing every stalled connection the moment it
  // stalled (which is what the first version of this app did, so its e2e stalled nothing).
  setInterval(() => {}, 1 << 30);
  await new Promise(() => {});
});
