// CLI for the load generator (bench/lib/load.ts).
//   node bench/lib/load-cli.ts --url http://H:P/path [--rate 100] [--duration 10] [--connections 8]
//     [--warmup 0] [--timeout 5000] [--transport raw|http] [--method GET] [--body-bytes N] [--new-connection]
//     [--histogram] [--concurrency N] [--grpc-bytes N]
// --transport h2|grpc: HTTP/2 prior knowledge over --connections connections; grpc sends unary calls
// to the URL's path (e.g. /weft.test.Echo/Unary) with a --grpc-bytes text in the Echo message.
// --concurrency: closed-loop requests in flight (default --connections).
// --rate 0 is closed loop (max throughput). stdout: one JSON line
//   {rate, achievedRps, count, errors, errorCodes, p50, p90, p99, p999, max, mean (ms), durationS,
//    cpuPerRequestUs, transport, connections, totalSent, newConnection}
// --new-connection sends `Connection: close` and opens a connection per request (set-up cost).
// (--histogram adds the histogram's sparse buckets, for merging runs). Exit 0; 2 on bad flags.
import { parseArgs } from 'node:util';
import { httpUrlFlag } from './url-flag.ts';
import { choiceFlag, emit, intFlag, numberFlag, onShutdown, runCli, UsageError } from '../../tests/apps/app-cli.ts';
import { echoRequest } from './h2-transport.ts';
import { TRANSPORTS, runLoad } from './load.ts';

const usage = 'node bench/lib/load-cli.ts --url http://H:P/path [--rate 100] [--duration 10] [--connections 8] ' +
  '[--warmup 0] [--timeout 5000] [--transport raw|http|h2|grpc] [--method GET] [--body-bytes N] [--grpc-bytes N] [--new-connection] ' +
  '[--concurrency N] [--histogram]';

runCli('load', usage, async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      warmup: { type: 'string' },
      timeout: { type: 'string' },
      transport: { type: 'string' },
      method: { type: 'string' },
      'body-bytes': { type: 'string' },
      'grpc-bytes': { type: 'string' },
      concurrency: { type: 'string' },
      histogram: { type: 'boolean', default: false },
      'new-connection': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const url = httpUrlFlag(values.url);
  const bodyBytes = intFlag('body-bytes', values['body-bytes'], -1, 0, 64 * 1024 * 1024);
  const transport = choiceFlag('transport', values.transport, 'raw', TRANSPORTS);
  const connections = intFlag('connections', values.connections, 8, 1, 10_000);
  if (values['new-connection'] && (transport === 'h2' || transport === 'grpc')) throw new UsageError('--new-connection is for HTTP/1.1 transports');
  if (values['grpc-bytes'] !== undefined && transport !== 'grpc') throw new UsageError('--grpc-bytes needs --transport grpc');
  if (transport === 'grpc' && bodyBytes >= 0) throw new UsageError('--transport grpc takes --grpc-bytes, not --body-bytes');
  const body = transport === 'grpc'
    ? echoRequest(intFlag('grpc-bytes', values['grpc-bytes'], 1024, 0, 4 * 1024 * 1024))
    : bodyBytes >= 0 ? Buffer.alloc(bodyBytes, 0x61) : undefined;
  onShutdown(() => {});
  const result = await runLoad({
    url: url.toString(),
    rate: numberFlag('rate', values.rate, 100, 0, 1_000_000),
    durationS: numberFlag('duration', values.duration, 10, 0.1, 86_400),
    connections,
    warmupS: numberFlag('warmup', values.warmup, 0, 0, 3600),
    timeoutMs: intFlag('timeout', values.timeout, 5000, 1, 600_000),
    transport,
    method: values.method ?? (transport === 'grpc' ? 'POST' : undefined),
    body,
    newConnection: values['new-connection'],
    concurrency: intFlag('concurrency', values.concurrency, connections, 1, 100_000),
  });
  const { histogram, ...summary } = result;
  emit(values.histogram ? { ...summary, histogram } : summary);
});
