// The client side of the TCP test protocol as a library: tcp-client.ts is its CLI, and in-process
// tests and the testbed call it directly. Each connection checks its own bytes; a run aggregates.
import net from 'node:net';
import { once } from 'node:events';
import { StreamDigest, formatAddress, modeLine, parseSinkReply, patternChunks, patternSha256, type TcpMode } from './tcp-modes.ts';

export const CLIENT_MODES = ['echo', 'sink', 'source', 'reset', 'who', 'hold'] as const;
export type ClientMode = (typeof CLIENT_MODES)[number];

export interface TcpRunOptions {
  host: string;
  port: number;
  mode: ClientMode;
  /** Payload bytes per connection (echo, sink: sent; source: asked for). */
  bytes: number;
  seed: number;
  connections: number;
  /** A connection still open after this long is destroyed and counted as ETIMEDOUT. */
  timeoutMs: number;
  /** hold: how long to keep the connection open before ending it. */
  holdMs: number;
  /** Bind the client end here (the testbed picks a pod IP on hosts with several). */
  localAddress?: string;
}

export interface ConnectionResult {
  ok: boolean;
  bytesSent: number;
  bytesReceived: number;
  sha256Received: string;
  /** The client's own address:port, to compare with what WHO reports. */
  local: string;
  /** WHO: the address:port the server saw. */
  who?: string;
  error?: string;
}

export interface TcpRunResult {
  ok: boolean;
  mode: ClientMode;
  connections: number;
  bytesSent: number;
  bytesReceived: number;
  sha256Sent: string;
  sha256Received: string;
  errors: string[];
  durationMs: number;
  who?: string[];
  local?: string[];
}

export const defaultRunOptions: Omit<TcpRunOptions, 'host' | 'port' | 'mode'> = {
  bytes: 1024 * 1024, seed: 1, connections: 1, timeoutMs: 30_000, holdMs: 1000,
};

function modeFor(o: TcpRunOptions): TcpMode {
  switch (o.mode) {
    case 'source': return { mode: 'SOURCE', bytes: o.bytes, seed: o.seed };
    case 'echo': return { mode: 'ECHO' };
    case 'sink': return { mode: 'SINK' };
    case 'reset': return { mode: 'RESET' };
    case 'who': return { mode: 'WHO' };
    case 'hold': return { mode: 'HOLD' };
  }
}

/** Runs one connection in the chosen mode; never rejects (failures are in the result). */
export function runTcpConnection(o: TcpRunOptions, expectedSha: string): Promise<ConnectionResult> {
  return new Promise((resolve) => {
    const sends = o.mode === 'echo' || o.mode === 'sink';
    const received = new StreamDigest();
    const text: Buffer[] = [];
    let error: string | undefined;
    let sent = 0;
    let local = '';
    // allowHalfOpen: after our FIN (echo, sink) we keep reading the server's answer.
    const socket = net.connect({ host: o.host, port: o.port, localAddress: o.localAddress, allowHalfOpen: true });
    const timer = setTimeout(() => {
      error ??= 'ETIMEDOUT';
      socket.destroy();
    }, o.timeoutMs);

    socket.on('connect', () => {
      local = formatAddress(socket.localAddress, socket.localPort);
      socket.write(modeLine(modeFor(o)));
      if (sends) {
        void (async () => {
          for (const chunk of patternChunks(o.seed, o.bytes)) {
            if (socket.destroyed) return;
            sent += chunk.length;
            if (!socket.write(chunk)) await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
          }
          if (!socket.destroyed) socket.end();
        })().catch(() => {
          // events.once rejects when the socket errors while we wait for 'drain'; the 'error'
          // handler below has already recorded it (a reset racing our first writes).
        });
      } else if (o.mode === 'hold') {
        setTimeout(() => socket.end(), o.holdMs).unref();
      }
    });
    socket.on('data', (chunk: Buffer) => {
      received.update(chunk);
      if (o.mode === 'sink' || o.mode === 'who') text.push(chunk);
    });
    // The server ended: finish our side too (source, who, reset-that-was-not) so the socket closes.
    socket.on('end', () => socket.end());
    socket.on('error', (err: NodeJS.ErrnoException) => { error ??= err.code ?? err.message; });
    socket.on('close', () => {
      clearTimeout(timer);
      const reply = Buffer.concat(text).toString('latin1');
      const res: ConnectionResult = {
        ok: false, bytesSent: sent, bytesReceived: received.bytes, sha256Received: received.hex(), local,
      };
      if (o.mode === 'who') res.who = reply.trim();
      res.ok = verify(o, res, reply, expectedSha, error);
      if (error !== undefined) res.error = error;
      else if (!res.ok) res.error = 'MISMATCH';
      resolve(res);
    });
  });
}

function verify(o: TcpRunOptions, r: ConnectionResult, reply: string, expectedSha: string, error: string | undefined): boolean {
  if (o.mode === 'reset') return error === 'ECONNRESET';
  if (error !== undefined) return false;
  switch (o.mode) {
    case 'echo':
    case 'source':
      return r.bytesReceived === o.bytes && r.sha256Received === expectedSha;
    case 'sink': {
      const s = parseSinkReply(reply);
      if (s !== undefined) r.sha256Received = s.sha256;
      return s !== undefined && s.bytes === o.bytes && s.sha256 === expectedSha;
    }
    case 'who':
      return /^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d+$/.test(r.who ?? '');
    case 'hold':
      return r.bytesReceived === 0;
  }
}

/** Runs `connections` concurrent connections and sums them up. */
export async function runTcpClient(o: TcpRunOptions): Promise<TcpRunResult> {
  const moves = o.mode === 'echo' || o.mode === 'sink' || o.mode === 'source';
  const expectedSha = moves ? patternSha256(o.seed, o.bytes) : '';
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: o.connections }, () => runTcpConnection(o, expectedSha)));
  const durationMs = Math.round((performance.now() - start) * 1000) / 1000;
  // One hash stands for all connections: the first wrong one if any, so a mismatch is visible.
  const wrong = results.find((r) => r.sha256Received !== expectedSha);
  const out: TcpRunResult = {
    ok: results.every((r) => r.ok),
    mode: o.mode,
    connections: o.connections,
    bytesSent: results.reduce((n, r) => n + r.bytesSent, 0),
    bytesReceived: results.reduce((n, r) => n + r.bytesReceived, 0),
    // source: the hash the server should have sent.
    sha256Sent: expectedSha,
    sha256Received: moves ? (wrong ?? results[0]).sha256Received : '',
    errors: results.flatMap((r) => (r.error === undefined ? [] : [r.error])),
    durationMs,
  };
  if (o.mode === 'who') out.who = results.map((r) => r.who ?? '');
  if (o.mode === 'who' || o.localAddress !== undefined) out.local = results.map((r) => r.local);
  return out;
}
