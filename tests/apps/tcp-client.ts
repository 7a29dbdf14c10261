// TCP test client, the counterpart of tcp-server.ts; verifies byte-exactness itself.
//   node tests/apps/tcp-client.ts --host H --port P --mode echo|sink|source|reset|who|hold
//     [--bytes N] [--seed S] [--connections C] [--timeout MS] [--hold MS] [--local ADDR]
// stdout: {"ready":true,"app":"tcp-client",...} at start, then one result line
//   {ok, mode, connections, bytesSent, bytesReceived, sha256Sent, sha256Received, errors, durationMs[, who, local]}
// Exit code 0 when ok, 1 when not, 2 on bad flags.
import { parseArgs } from 'node:util';
import { choiceFlag, emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';
import { CLIENT_MODES, defaultRunOptions, runTcpClient } from './tcp-runner.ts';
import { MAX_SOURCE_BYTES } from './tcp-modes.ts';

const usage = 'node tests/apps/tcp-client.ts --host H --port P --mode echo|sink|source|reset|who|hold ' +
  '[--bytes N] [--seed S] [--connections C] [--timeout MS] [--hold MS] [--local ADDR]';

runCli('tcp-client', usage, async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      mode: { type: 'string' },
      bytes: { type: 'string' },
      seed: { type: 'string' },
      connections: { type: 'string' },
      timeout: { type: 'string' },
      hold: { type: 'string' },
      local: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.port === undefined) throw new UsageError('--port is required');
  if (values.mode === undefined) throw new UsageError('--mode is required');
  const d = defaultRunOptions;
  const opts = {
    host: values.host,
    port: intFlag('port', values.port, 0, 1, 65535),
    mode: choiceFlag('mode', values.mode, 'echo', CLIENT_MODES),
    bytes: intFlag('bytes', values.bytes, d.bytes, 0, MAX_SOURCE_BYTES),
    seed: intFlag('seed', values.seed, d.seed, 0, 0xffffffff),
    connections: intFlag('connections', values.connections, d.connections, 1, 10_000),
    timeoutMs: intFlag('timeout', values.timeout, d.timeoutMs, 1, 3_600_000),
    holdMs: intFlag('hold', values.hold, d.holdMs, 0, 3_600_000),
    localAddress: values.local,
  };
  // Connections in flight are simply dropped on SIGTERM: the run is abandoned, not reported.
  onShutdown(() => {});
  emit({ ready: true, app: 'tcp-client', host: opts.host, port: opts.port, mode: opts.mode });
  const result = await runTcpClient(opts);
  emit({ ...result });
  process.exitCode = result.ok ? 0 : 1;
});
