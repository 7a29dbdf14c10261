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
