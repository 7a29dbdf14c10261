// gRPC echo server (grpc-js) for the mesh tests.
//   node tests/apps/grpc-server.ts [--port 9090]
// Unary echoes; ServerStream answers `seq` messages; ClientStream answers the count and joined
// text; Bidi echoes each message. A request text "unavailable" fails with UNAVAILABLE and
// "denied" with PERMISSION_DENIED, so tests can see status codes travel.
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli } from './app-cli.ts';
import { echoService, type EchoMessage } from './grpc-echo-service.ts';

function statusFor(text: string): grpc.status | null {
  if (text === 'unavailable') return grpc.status.UNAVAILABLE;
  if (text === 'denied') return grpc.status.PERMISSION_DENIED;
  return null;
}

runCli('grpc-server', 'node tests/apps/grpc-server.ts [--port 9090]', async (argv) => {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' } }, strict: true });
  const port = intFlag('port', values.port, 9090, 0, 65535);
  const server = new grpc.Server();
  server.addService(echoService, {
    unary(call: grpc.ServerUnaryCall<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) {
      const code = statusFor(call.request.text);
      if (code !== null) cb({ code, details: `asked for ${call.request.text}` });
      else cb(null, { text: call.request.text, seq: call.request.seq });
    },
    serverStream(call: grpc.ServerWritableStream<EchoMessage, EchoMessage>) {
      for (let i = 1; i <= call.request.seq; i++) call.write({ text: call.request.text, seq: i });
      call.end();
    },
    clientStream(call: grpc.ServerReadableStream<EchoMessage, EchoMessage>, cb: grpc.sendUnaryData<EchoMessage>) {
      const texts: string[] = [];
      call.on('data', (m: EchoMessage) => texts.push(m.text));
      call.on('end', () => cb(null, { text: texts.join(','), seq: texts.length }));
    },
    bidi(call: grpc.ServerDuplexStream<EchoMessage, EchoMessage>) {
      call.on('data', (m: EchoMessage) => call.write({ text: m.text.toUpperCase(), seq: m.seq }));
      call.on('end', () => call.end());
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  onShutdown(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  emit({ ready: true, app: 'grpc-server', port: bound });
});
