// Writes `total` bytes into a stream with backpressure, for tests that need a large body from a
// real server (node:http2 or node:http): 64 KiB chunks, waiting for 'drain' whenever write()
// says so, then end(). `chunk(offset, length)` makes each piece (a pattern a checksum can follow);
// `sent` hears the running total, so a test can see how far a stalled writer got.
interface Sink {
  write(chunk: Buffer): boolean;
  once(event: 'drain', fn: () => void): unknown;
  end(): unknown;
}

export function writeAll(to: Sink, total: number, chunk: (offset: number, length: number) => Buffer, sent?: (n: number) => void): void {
  let at = 0;
  const pump = (): void => {
    while (at < total) {
      const c = chunk(at, Math.min(64 * 1024, total - at));
      at += c.length;
      sent?.(at);
      if (!to.write(c)) {
        to.once('drain', pump);
        return;
      }
    }
    to.end();
  };
  pump();
}

/**
 * Writes `data` in 64 KiB pieces with backpressure, then ends (half-close) if asked; resolves once
 * the last piece was handed over. For tests that push a known buffer through a socket or stream.
 */
export function writeBuffer(to: Sink, data: Buffer, end: boolean): Promise<void> {
  return new Promise((resolve) => {
    let off = 0;
    const more = (): void => {
      while (off < data.length) {
        const piece = data.subarray(off, off + 64 * 1024);
        off += piece.length;
        if (!to.write(piece)) {
          to.once('drain', more);
          return;
        }
      }
      if (end) to.end();
      resolve();
    };
    more();
  });
}
