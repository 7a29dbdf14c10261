// A client that half-closes: it writes its request bytes, then shuts its write side
// (shutdown(SHUT_WR), a FIN) and keeps reading until the server closes. HTTP/1.1 allows this (a
// client may end its side once the request is sent); a proxy must still deliver the answer.
//   node tests/apps/half-close-client.ts --host IP --port N --send <base64> [--end-after-ms 0] [--wait-ms 10000]
// --end-after-ms: how long after the write the FIN follows (0: in the same turn, so it usually
// arrives with the request; more: after the proxy has taken the request).
// stdout: one line {"ok","bytes","response":<base64>,"ended","closedAfterMs","error"?}; exit 0.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { emit, intFlag, runCli, UsageError } from './app-cli.ts';

const usage = 'node tests/apps/half-close-client.ts --host IP --port N --send <base64> [--end-after-ms 0] [--wait-ms 10000]';

export interface HalfCloseResult {
  /** The server ended or closed the connection before --wait-ms passed. */
  ok: boolean;
  bytes: number;
  /** Everything the server sent, base64. */
  response: string;
  /** A FIN came from the server (not only a reset). */
  ended: boolean;
  closedAfterMs?: number;
  error?: string;
}

function run(host: string, port: number, send: Buffer, endAfterMs: number, waitMs: number): Promise<HalfCloseResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    let done = false;
    // allowHalfOpen: our FIN must not make Node end the socket for us on the server's FIN, nor the
    // reverse; we only ever shut our write side.
    const sock = net.connect({ host, port, allowHalfOpen: true });
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const body = Buffer.concat(chunks);
      resolve({ ok, bytes: body.length, response: body.toString('base64'), ended, ...(ok ? { closedAfterMs: Date.now() - started } : {}), ...(error === undefined ? {} : { error }) });
      sock.destroy();
    };
    const timer = setTimeout(() => finish(false), waitMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => {
      ended = true;
      finish(true);
    });
    sock.on('error', (err: Error & { code?: string }) => {
      error = err.code ?? err.message;
      finish(true);
    });
    sock.on('close', () => finish(true));
    sock.once('connect', () => {
      sock.write(send);
      if (endAfterMs === 0) sock.end();
      else setTimeout(() => sock.end(), endAfterMs);
    });
  });
}

runCli('half-close-client', usage, async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: { host: { type: 'string' }, port: { type: 'string' }, send: { type: 'string' }, 'end-after-ms': { type: 'string' }, 'wait-ms': { type: 'string' } },
  });
  if (values.host === undefined || values.send === undefined) throw new UsageError('--host and --send are required');
  const port = intFlag('port', values.port, 0, 1, 65535);
  if (port === 0) throw new UsageError('--port is required');
  const r = await run(values.host, port, Buffer.from(values.send, 'base64'), intFlag('end-after-ms', values['end-after-ms'], 0, 0, 60_000), intFlag('wait-ms', values['wait-ms'], 10_000, 100, 120_000));
  emit(r as unknown as Record<string, unknown>);
});
