// gRPC client (grpc-js) for the mesh tests: runs every call kind once against --target and prints
// one JSON result line {ok, unary, serverStream, clientStream, bidi, unavailable, errors}.
//   node tests/apps/grpc-client.ts --target host:port [--stream 50]
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { emit, intFlag, runCli, UsageError } from './app-cli.ts';
import { echoService, type EchoMessage } from './grpc-echo-service.ts';

interface EchoClient extends grpc.Client {
  unary(m: EchoMessage, cb: (err: grpc.ServiceError | null, r?: EchoMessage) => void): grpc.ClientUnaryCall;
  serverStream(m: EchoMessage): grpc.ClientReadableStream<EchoMessage>;
  clientStream(cb: (err: grpc.ServiceError | null, r?: EchoMessage) => void): grpc.ClientWritableStream<EchoMessage>;
  bidi(): grpc.ClientDuplexStream<EchoMessage, EchoMessage>;
}

const Echo = grpc.makeGenericClientConstructor(echoService, 'weft.test.Echo') as unknown as new (target: string, creds: grpc.ChannelCredentials) => EchoClient;

runCli('grpc-client', 'node tests/apps/grpc-client.ts --target host:port [--stream N]', async (argv) => {
  const { values } = parseArgs({ args: argv, options: { target: { type: 'string' }, stream: { type: 'string' } }, strict: true });
  if (values.target === undefined) throw new UsageError('--target is required');
  const n = intFlag('stream', values.stream, 50, 1, 100_000);
  const client = new Echo(values.target, grpc.credentials.createInsecure());
  const errors: string[] = [];
  const unaryCall = (m: EchoMessage): Promise<EchoMessage | grpc.ServiceError> =>
    new Promise((resolve) => client.unary(m, (err, r) => resolve(err ?? (r as EchoMessage))));

  const unary = await unaryCall({ text: 'hello', seq: 7 });
  const serverStream = await new Promise<number[]>((resolve) => {
    const seqs: number[] = [];
    const call = client.serverStream({ text: 's', seq: n });
    call.on('data', (m: EchoMessage) => seqs.push(m.seq));
    call.on('error', (e: grpc.ServiceError) => { errors.push(`serverStream: ${e.code}`); resolve(seqs); });
    call.on('end', () => resolve(seqs));
  });
  const clientStream = await new Promise<EchoMessage | null>((resolve) => {
    const call = client.clientStream((err, r) => {
      if (err !== null) errors.push(`clientStream: ${err.code}`);
      resolve(r ?? null);
    });
    for (let i = 0; i < n; i++) call.write({ text: `m${i}`, seq: i });
    call.end();
  });
  const bidi = await new Promise<string[]>((resolve) => {
    const got: string[] = [];
    const call = client.bidi();
    call.on('data', (m: EchoMessage) => got.push(m.text));
    call.on('error', (e: grpc.ServiceError) => { errors.push(`bidi: ${e.code}`); resolve(got); });
    call.on('end', () => resolve(got));
    for (const w of ['a', 'b', 'c']) call.write({ text: w, seq: 0 });
    call.end();
  });
  const failed = await unaryCall({ text: 'unavailable', seq: 0 });
  client.close();

  const unaryOk = !('code' in unary) && unary.text === 'hello' && unary.seq === 7;
  const streamOk = serverStream.length === n && serverStream.every((s, i) => s === i + 1);
  const clientOk = clientStream !== null && clientStream.seq === n;
  const bidiOk = bidi.join('') === 'ABC';
  const unavailable = 'code' in failed ? failed.code : null;
  emit({ ok: unaryOk && streamOk && clientOk && bidiOk && errors.length === 0, unary: unaryOk, serverStream: serverStream.length, clientStream: clientStream?.seq ?? null, bidi: bidi.join(''), unavailable, errors });
});
