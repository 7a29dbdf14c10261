// Runs inside a testbed node namespace (which has no route to the root namespace): listens on
// TCP <host>:<port> there and carries each connection, byte for byte, to a unix socket on the
// shared filesystem, where the root namespace's end of the relay connects to the API server.
// TLS stays end to end (the relay never reads the stream), so clients verify the API server's
// certificate as usual. Prints one JSON line once listening.
//
//   node testbed-api-relay.ts <host> <port> <unix-socket>
import net from 'node:net';

const [host, portArg, socketPath] = process.argv.slice(2);
if (host === undefined || portArg === undefined || socketPath === undefined) {
  process.stderr.write('usage: testbed-api-relay.ts <host> <port> <unix-socket>\n');
  process.exit(2);
}

const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  // Either side failing ends both: a half-dead pair would hold a watch open forever.
  const end = (): void => { client.destroy(); upstream.destroy(); };
  client.on('error', end);
  upstream.on('error', end);
  client.pipe(upstream);
  upstream.pipe(client);
});
server.on('error', (err) => {
  process.stderr.write(`relay: ${err.message}\n`);
  process.exit(1);
});
server.listen(Number(portArg), host, () => process.stdout.write(JSON.stringify({ event: 'listening', host, port: Number(portArg) }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
