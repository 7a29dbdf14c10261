// Reads of a destination agent's target socket into one buffer per thread, in place of a fresh
// one per read. libuv's default read allocates up to 64 KiB per read, and each becomes an
// ArrayBuffer that V8 counts as external memory until a collection frees it: a bulk stream
// allocates its own size again in read buffers, and V8 starts a full (mark-compact) collection
// every ~64 MiB of them (docs/design-notes.md). With net's `onread` the socket reads into the
// buffer given here and hands it to the callback; whatever the callback does not copy is gone at
// the next read, so the tunnel passes it on with H2Connection.sendBorrowed (copied into the frame
// writer's pooled slab, or into a buffer of its own while the stream's windows hold it back).
// One buffer serves every socket of the thread: a callback runs to its end before libuv reads
// again. Only sockets the agent dials take `onread` (net.Server cannot give it to accepted ones,
// and TLS sockets wrapped around a socket ignore it).
import type { OnReadOpts } from 'node:net';

/** Who takes a lent read: returns false to stop reading until the socket is resumed. */
export interface LentReader {
  onLent(chunk: Buffer): boolean;
}

const READ_SIZE = 64 * 1024;
let shared: Buffer | undefined;

/** `onread` options for net.connect / new net.Socket that hand each read to `reader`. */
export function lentReads(reader: LentReader): OnReadOpts {
  // Not from Node's shared pool: nothing else may live in this buffer's backing store.
  shared ??= Buffer.allocUnsafeSlow(READ_SIZE);
  return { buffer: shared, callback: (n: number, buf: Uint8Array) => reader.onLent((buf as Buffer).subarray(0, n)) };
}
