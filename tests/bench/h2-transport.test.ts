// The HTTP/2 and gRPC transports of the load generator against in-process h2c servers on
// 127.0.0.1 (a grpc-js Echo server for gRPC): streams multiplexed over the configured connections,
// grpc-status read from trailers or a trailers-only answer, failures counted by code. Never speed.
import t from 'tap';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { appPath, runApp, startApp, type RunningApp } from '../apps/spawn-app.ts';
import { echoRequest, grpcFrame, grpcOutcome, h2Transport } from '../../bench/lib/h2-transport.ts';
import { runLoad } from '../../bench/lib/load.ts';
import { fileURLToPath } from 'node:url';

const loadCli = fileURLToPath(new URL('../../bench/lib/load-cli.ts', import.meta.url));

t.test('gRPC framing and outcome', async (t) => {
  const f = grpcFrame(Buffer.from('hello'));
  t.same([...f.subarray(0, 5)], [0, 0, 0, 0, 5], 'uncompressed flag and big-endian length');
  t.equal(f.subarray(5).toString(), 'hello');
  const m = echoRequest(1024);
  t.same(JSON.parse(m.subarray(5).toString()), { text: 'a'.repeat(1024), seq: 1 });
  t.equal(m.readUInt32BE(1), m.length - 5);
  t.equal(grpcOutcome(200, {}, { 'grpc-status': '0' }), undefined);
  t.equal(grpcOutcome(200, { 'grpc-status': '14' }, undefined), 'GRPC_14', 'trailers-only answer');
  t.equal(grpcOutcome(200, {}, undefined), 'GRPC_NO_STATUS');
  t.equal(grpcOutcome(503, {}, { 'grpc-status': '0' }), 'HTTP_503');
});

t.test('h2: requests spread over the configured connections as concurrent streams', async (t) => {
  const sessions = new Set<http2.ServerHttp2Session>();
  let maxInFlight = 0;
  let inFlight = 0;
  const server = http2.createServer();
  server.on('session', (s) => sessions.add(s));
  server.on('stream', (stream, headers) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // Hold each answer a little so concurrent streams overlap.
    setTimeout(() => {
      inFlight--;
      stream.respond({ ':status': headers[':path'] === '/missing' ? 404 : 200 });
      stream.end('x'.repeat(100));
    }, 20);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ok`;

  const r = await runLoad({ url, rate: 0, durationS: 0.5, warmupS: 0, connections: 2, concurrency: 8, timeoutMs: 5000, transport: 'h2' });
  t.equal(r.errors, 0);
  t.ok(r.count > 8, `${r.count} requests`);
  t.equal(sessions.size, 2, 'two HTTP/2 connections');
  t.ok(maxInFlight > 2, `streams overlapped (${maxInFlight} at once): more in flight than connections`);

  const bad = await runLoad({ url: url.replace('/ok', '/missing'), rate: 50, durationS: 0.2, warmupS: 0, connections: 1, timeoutMs: 5000, transport: 'h2' });
  t.equal(bad.count, 0);
  t.same(bad.errorCodes, { HTTP_404: 10 });

  t.throws(() => h2Transport({ url: new URL(url), method: 'GET', connections: 1, timeoutMs: 100, newConnection: true }, 'h2'), RangeError);
});

t.test('h2: a server that never answers fails requests with ETIMEDOUT, not a hang', async (t) => {
  const server = http2.createServer();
  server.on('stream', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.close(); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const r = await runLoad({ url, rate: 20, durationS: 0.2, warmupS: 0, connections: 1, timeoutMs: 200, transport: 'h2' });
  t.same(r.errorCodes, { ETIMEDOUT: 4 });
});

t.test('gRPC unary against the grpc-js Echo server, through load-cli', async (t) => {
  let server: RunningApp | undefined;
  t.teardown(async () => { await server?.stop(); });
  server = await startApp(appPath('grpc-server.ts'), ['--port', '0']);
  const port = server.ready.port as number;
  const ok = await runApp(loadCli, ['--url', `http://127.0.0.1:${port}/weft.test.Echo/Unary`, '--transport', 'grpc', '--rate', '40', '--duration', '0.5', '--connections', '2', '--grpc-bytes', '64']);
  t.equal(ok.code, 0, ok.stderr);
  const res = ok.stdout[0] as { count: number; errors: number; transport: string };
  t.equal(res.transport, 'grpc');
  t.equal(res.count, 20);
  t.equal(res.errors, 0);
  // An unknown method is UNIMPLEMENTED (12): counted as a failure with its gRPC code.
  const bad = await runApp(loadCli, ['--url', `http://127.0.0.1:${port}/weft.test.Echo/Nope`, '--transport', 'grpc', '--rate', '20', '--duration', '0.5', '--connections', '1']);
  t.same((bad.stdout[0] as { errorCodes: Record<string, number> }).errorCodes, { GRPC_12: 10 });
  const flags = await runApp(loadCli, ['--url', `http://127.0.0.1:${port}/`, '--transport', 'h2', '--grpc-bytes', '10']);
  t.equal(flags.code, 2, '--grpc-bytes needs --transport grpc');
  const newConn = await runApp(loadCli, ['--url', `http://127.0.0.1:${port}/`, '--transport', 'grpc', '--new-connection']);
  t.equal(newConn.code, 2, 'no --new-connection over HTTP/2');
});
