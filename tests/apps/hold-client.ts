// Many-connection TCP client for load tests, against tcp-server.ts in ECHO mode: opens C connections
// (at most P connecting at once), sends each its first half of a per-connection pattern and waits
// for the echo — then every connection is open and proven to carry bytes, and the client says so
// and holds them all. When released (a file appears, or --hold ms pass) each connection sends the
// second half, ends, and must get back exactly what it sent (byte count and SHA-256).
//   node tests/apps/hold-client.ts --host H --port P [--connections 1000] [--parallel 64]
//     [--bytes 2048] [--seed 1] [--release-file PATH | --hold MS] [--timeout MS]
// stdout: {"ready":true,...}; {"held":n,"failed":m,"errors":{...},"ms":...} once every connection
// finished its first round; then {"done":true, connections, ok, failed, bytesSent, bytesReceived,
// errors, durationMs}. Exit 0 when every connection was ok.
import net from 'node:net';
import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { emit, intFlag, onShutdown, runCli, UsageError } from './app-cli.ts';
import { StreamDigest, modeLine, patternBytes, sha256Hex } from './tcp-modes.ts';

interface Conn {
  socket: net.Socket;
  seed: number;
  received: StreamDigest;
  sent: number;
  error: string | undefined;
  closed: Promise<void>;
  /** Resolves once `n` echoed bytes have arrived (or the connection is gone). */
  waitFor(n: number): Promise<void>;
}

function open(host: string, port: number, seed: number, first: Buffer): Conn {
  const socket = net.connect({ host, port, allowHalfOpen: true });
  const received = new StreamDigest();
  let want = Number.POSITIVE_INFINITY;
  let wake: (() => void) | undefined;
  const c: Conn = {
    socket, seed, received, sent: 0, error: undefined,
    closed: new Promise((resolve) => socket.once('close', () => { wake?.(); resolve(); })),
    waitFor(n) {
      if (received.bytes >= n || socket.destroyed) return Promise.resolve();
      want = n;
      return new Promise((resolve) => (wake = resolve));
    },
  };
  socket.on('connect', () => {
    socket.write(modeLine({ mode: 'ECHO' }));
    socket.write(first);
    c.sent += first.length;
  });
  socket.on('data', (chunk: Buffer) => {
    received.update(chunk);
    if (received.bytes >= want) {
      want = Number.POSITIVE_INFINITY;
      wake?.();
    }
  });
  // The server ends after echoing everything: end ours so the socket closes.
  socket.on('end', () => socket.end());
  socket.on('error', (err: NodeJS.ErrnoException) => { c.error ??= err.code ?? err.message; });
  return c;
}

function countErrors(conns: readonly Conn[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of conns) if (c.error !== undefined) out[c.error] = (out[c.error] ?? 0) + 1;
  return out;
}

async function released(file: string | undefined, holdMs: number): Promise<void> {
  if (file === undefined) {
    await new Promise((r) => setTimeout(r, holdMs));
    return;
  }
  for (;;) {
    if (await access(file).then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function bounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

function withDeadline(p: Promise<void>, ms: number, onLate: () => void): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(() => { onLate(); r(); }, ms)))]).finally(() => clearTimeout(t));
}

runCli('hold-client', 'node tests/apps/hold-client.ts --host H --port P [--connections C] [--parallel P] [--bytes N] [--seed S] [--release-file PATH | --hold MS] [--timeout MS]', async (argv) => {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' }, port: { type: 'string' }, connections: { type: 'string' }, parallel: { type: 'string' },
      bytes: { type: 'string' }, seed: { type: 'string' }, 'release-file': { type: 'string' }, hold: { type: 'string' }, timeout: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.host === undefined) throw new UsageError('--host is required');
  const port = intFlag('port', values.port, 0, 1, 65535);
  if (port === 0) throw new UsageError('--port is required');
  const count = intFlag('connections', values.connections, 1000, 1, 100_000);
  const parallel = intFlag('parallel', values.parallel, 64, 1, 10_000);
  const bytes = intFlag('bytes', values.bytes, 2048, 2, 1 << 20);
  const seed0 = intFlag('seed', values.seed, 1, 0, 0xffff_0000 - count);
  const holdMs = intFlag('hold', values.hold, 1000, 0, 3_600_000);
  const timeoutMs = intFlag('timeout', values.timeout, 120_000, 1, 3_600_000);
  const half = bytes >> 1;
  const host = values.host;
  const conns: Conn[] = [];
  onShutdown(() => { for (const c of conns) c.socket.destroy(); });
  emit({ ready: true, app: 'hold-client', host, port, connections: count });
  const start = Date.now();

  // Round one: connect and have the first half echoed, a bounded number connecting at a time (a
  // burst of thousands of SYNs would only measure the listen backlog).
  const seeds = Array.from({ length: count }, (_, i) => seed0 + i);
  let late = false;
  await withDeadline(bounded(seeds, parallel, async (seed) => {
    if (late) return;
    const c = open(host, port, seed, patternBytes(seed, 0, half));
    conns.push(c);
    await c.waitFor(half);
  }), timeoutMs, () => {
    late = true;
    for (const c of conns) if (c.received.bytes < half) { c.error ??= 'ETIMEDOUT'; c.socket.destroy(); }
  });
  const held = conns.filter((c) => !c.socket.destroyed && c.received.bytes === half).length;
  // Never opened (the deadline came first) counts as failed too.
  emit({ held, failed: count - held, errors: countErrors(conns), ms: Date.now() - start });

  await released(values['release-file'], holdMs);
  // A connection that died while held is a failure of the hold, not of round two.
  for (const c of conns) if (c.socket.destroyed && c.error === undefined && c.received.bytes <= half) c.error = 'CLOSED_WHILE_HELD';

  // Round two: the rest of each pattern, then FIN; the server echoes and ends.
  for (const c of conns) {
    if (c.socket.destroyed) continue;
    const rest = patternBytes(c.seed, half, bytes - half);
    c.socket.end(rest);
    c.sent += rest.length;
  }
  await withDeadline(Promise.all(conns.map((c) => c.closed)).then(() => undefined), timeoutMs, () => {
    for (const c of conns) if (!c.socket.destroyed) { c.error ??= 'ETIMEDOUT'; c.socket.destroy(); }
  });
  let ok = 0;
  let bytesSent = 0;
  let bytesReceived = 0;
  for (const c of conns) {
    bytesSent += c.sent;
    bytesReceived += c.received.bytes;
    const exact = c.received.bytes === bytes && c.received.hex() === sha256Hex(patternBytes(c.seed, 0, bytes));
    if (exact && c.error === undefined) ok++;
    else c.error ??= 'MISMATCH';
  }
  emit({ done: true, connections: count, ok, failed: count - ok, bytesSent, bytesReceived, errors: countErrors(conns), durationMs: Date.now() - start });
  process.exitCode = ok === count ? 0 : 1;
});
