// CLI for bench/lib/hold.ts: holds N idle HTTP/1.1 connections until SIGTERM.
//   node bench/lib/hold-cli.ts --url http://H:P/path --connections 10000 [--parallel 200] [--timeout 20000]
// stdout: {"ready":true,...} at once; {"established":true,open,failed,closedEarly,openMs} when every
// connection is held or failed; on SIGTERM {"final":true,open,failed,closedEarly} and exit 0.
// The caller raises RLIMIT_NOFILE (prlimit) when N is near the soft limit. Exit 2 on bad flags.
import { parseArgs } from 'node:util';
import { httpUrlFlag } from './url-flag.ts';
import { emit, intFlag, onShutdown, runCli } from '../../tests/apps/app-cli.ts';
import { holdConnections } from './hold.ts';

const usage = 'node bench/lib/hold-cli.ts --url http://H:P/path --connections N [--parallel 200] [--timeout 20000]';

runCli('hold', usage, async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: { url: { type: 'string' }, connections: { type: 'string' }, parallel: { type: 'string' }, timeout: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const url = httpUrlFlag(values.url);
  const holder = holdConnections({
    url,
    connections: intFlag('connections', values.connections, 1000, 1, 1_000_000),
    parallel: intFlag('parallel', values.parallel, 200, 1, 10_000),
    timeoutMs: intFlag('timeout', values.timeout, 20_000, 1, 600_000),
  });
  onShutdown(() => {
    emit({ final: true, ...holder.state() });
    holder.close();
  });
  emit({ ready: true, app: 'hold' });
  emit({ established: true, ...(await holder.established) });
  // Held until SIGTERM: the open sockets keep the event loop alive.
  await new Promise<void>(() => {});
});
