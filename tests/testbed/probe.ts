// A tiny TCP server run inside a testbed namespace (node probe.ts <host> <port> <tag> [transparent]).
// It prints one JSON line when listening and one per accepted connection (the addresses as the
// socket sees them: under TPROXY the local address is the client's original destination), and
// answers each client with its tag so the client knows who served it.
import net from 'node:net';

const [host = '0.0.0.0', portArg = '0', tag = 'probe', mode = ''] = process.argv.slice(2);
const port = Number(portArg);

function emit(rec: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(rec) + '\n');
}

const server = net.createServer((sock) => {
  emit({
    event: 'accept',
    localAddress: sock.localAddress,
    localPort: sock.localPort,
    remoteAddress: sock.remoteAddress,
    remotePort: sock.remotePort,
  });
  sock.on('error', () => {});
  sock.end(`${tag}\n`);
});
server.on('error', (err) => {
  emit({ event: 'error', message: err.message });
  process.exit(1);
});
server.on('listening', () => emit({ event: 'listening', host, port }));

if (mode === 'transparent') {
  const native = await import('../../agent/native/index.ts');
  native.transparentServer(server, host, port);
} else {
  server.listen(port, host);
}
process.on('SIGTERM', () => process.exit(0));
