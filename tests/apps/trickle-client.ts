// A long-lived connection that keeps talking: sends --chunk bytes every --interval ms to an ECHO
// server for --duration ms and checks every byte comes back in order. Used to prove a connection
// survives control restarts, certificate rotations and agent drains.
//   node tests/apps/trickle-client.ts --host H --port P [--duration 5000] [--interval 100] [--chunk 1024] [--seed 1]
// stdout: {"ready":true,"app":"trickle-client"} once connected, then
//   {ok, sent, received, chunks, errors, durationMs}; exit 0 when ok.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';
import { patternBytes } from './tcp-modes.ts';

const usage = 'node tests/apps/trickle-client.ts --host H --port P [--duration MS] [--interval MS] [--chunk BYTES] [--seed S]';

runCli('trickle-client', usage, async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: { host: { type: 'string' }, port: { type: 'string' }, duration: { type: 'string' }, interval: { type: 'string' }, chunk: { type: 'string' }, seed: { type: 'string' } },
    strict: true,
  });
  if (values.host === undefined || values.port === undefined) throw new UsageError('--host and --port are required');
  const port = intFlag('port', values.port, 0, 1, 65535);
  const duration = intFlag('duration', values.duration, 5000, 1, 3_600_000);
  const interval = intFlag('interval', values.interval, 100, 1, 60_000);
  const chunk = intFlag('chunk', values.chunk, 1024, 1, 1 << 20);
  const seed = intFlag('seed', values.seed, 1, 0, 0xffffffff);
  const started = Date.now();
  const errors: string[] = [];
  let sent = 0;
  let received = 0;
  let mismatch = false;
  let chunks = 0;
  const socket = net.connect({ host: values.host, port, allowHalfOpen: true });
  onShutdown(() => {
    socket.destroy();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
  socket.on('data', (d: Buffer) => {
    // Compare with what the pattern says must be at this stream position.
    if (!mismatch && !patternBytes(seed, received, d.length).equals(d)) mismatch = true;
    received += d.length;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write('ECHO\n');
  emit({ ready: true, app: 'trickle-client' });
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() - started >= duration || socket.destroyed) {
        clearInterval(timer);
        resolve();
        return;
      }
      socket.write(patternBytes(seed, sent, chunk));
      sent += chunk;
      chunks++;
    }, interval);
  });
  socket.end();
  // A peer that vanished without a FIN or RST (its proxy gone, its rules removed) would leave us
  // waiting forever: bound the wait and report the hang as an error.
  await new Promise<void>((resolve) => {
    if (socket.closed) {
      resolve();
      return;
    }
    const t = setTimeout(() => {
      errors.push('ECLOSE_TIMEOUT');
      socket.destroy();
      resolve();
    }, 5000);
    socket.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const ok = errors.length === 0 && !mismatch && received === sent;
  emit({ ok, sent, received, chunks, mismatch, errors, durationMs: Date.now() - started });
  process.exitCode = ok ? 0 : 1;
});
