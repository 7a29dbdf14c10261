// The TCP test protocol shared by tcp-server, tcp-client, in-process tests and the testbed:
// the first line a client sends picks the server's behaviour, and payloads are a deterministic,
// seekable pseudo-random byte pattern so either end can check byte-exactness by hash alone.
import { createHash, type Hash } from 'node:crypto';

export const TCP_MODES = ['ECHO', 'SINK', 'SOURCE', 'RESET', 'HOLD', 'WHO'] as const;
export type TcpModeName = (typeof TCP_MODES)[number];

export type TcpMode =
  | { mode: 'ECHO' | 'SINK' | 'RESET' | 'HOLD' | 'WHO' }
  | { mode: 'SOURCE'; bytes: number; seed: number };

/** A mode line longer than this is garbage, not a slow client: the server gives up on it. */
export const MAX_MODE_LINE = 256;
/** Largest SOURCE the server agrees to send (16 GiB): bounded so a typo cannot run forever. */
export const MAX_SOURCE_BYTES = 16 * 1024 ** 3;

export function modeLine(m: TcpMode): string {
  return m.mode === 'SOURCE' ? `SOURCE ${m.bytes} ${m.seed}\n` : `${m.mode}\n`;
}

/** Parses a mode line (without its newline; a trailing CR is tolerated for people typing in nc). */
export function parseModeLine(line: string): TcpMode | { error: string } {
  const parts = line.replace(/\r$/, '').trim().split(/\s+/);
  const name = parts[0]?.toUpperCase() ?? '';
  switch (name) {
    case 'ECHO': case 'SINK': case 'RESET': case 'HOLD': case 'WHO':
      return parts.length === 1 ? { mode: name } : { error: `${name} takes no arguments` };
    case 'SOURCE': {
      const bytes = Number(parts[1]);
      const seed = Number(parts[2]);
      if (parts.length !== 3 || !Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_SOURCE_BYTES) {
        return { error: `usage: SOURCE <bytes 0..${MAX_SOURCE_BYTES}> <seed 0..4294967295>` };
      }
      if (!isSeed(seed)) return { error: 'seed must be an integer in [0, 4294967295]' };
      return { mode: 'SOURCE', bytes, seed };
    }
    default:
      return { error: `unknown mode ${JSON.stringify(name)}; expected one of ${TCP_MODES.join(', ')}` };
  }
}

export function isSeed(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

// One 32-bit word per 4 bytes of stream, computed from (seed, word index) alone: any chunk can be
// produced from its offset, so chunk sizes never change the stream and no state is shared.
function word(seed: number, index: number): number {
  // murmur3's finalizer over a seed-offset counter: cheap, and every input bit reaches every output bit.
  let h = (Math.imul(index, 0x9e3779b1) + (seed ^ 0x6a09e667) + Math.imul(Math.floor(index / 0x100000000), 0x85ebca6b)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fills `buf` with the pattern bytes for stream positions [offset, offset + buf.length). */
export function fillPattern(buf: Uint8Array, seed: number, offset: number): Uint8Array {
  let pos = offset;
  let i = 0;
  const n = buf.length;
  // Unaligned head, one byte at a time, until the stream position is word aligned.
  while (i < n && pos % 4 !== 0) {
    buf[i++] = (word(seed, Math.floor(pos / 4)) >>> (8 * (pos % 4))) & 0xff;
    pos++;
  }
  let w = pos / 4;
  while (i + 4 <= n) {
    const v = word(seed, w++);
    buf[i] = v & 0xff;
    buf[i + 1] = (v >>> 8) & 0xff;
    buf[i + 2] = (v >>> 16) & 0xff;
    buf[i + 3] = v >>> 24;
    i += 4;
  }
  if (i < n) {
    const v = word(seed, w);
    for (let k = 0; i < n; k++) buf[i++] = (v >>> (8 * k)) & 0xff;
  }
  return buf;
}

export function patternBytes(seed: number, offset: number, length: number): Buffer {
  return fillPattern(Buffer.allocUnsafe(length), seed, offset) as Buffer;
}

/** Yields the pattern in chunks: what a sender writes, with backpressure handled by the caller. */
export function* patternChunks(seed: number, total: number, chunkSize = 64 * 1024): Generator<Buffer> {
  for (let off = 0; off < total; off += chunkSize) {
    yield patternBytes(seed, off, Math.min(chunkSize, total - off));
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hash a receiver of `SOURCE total seed` must arrive at. */
export function patternSha256(seed: number, total: number): string {
  const h = createHash('sha256');
  for (const chunk of patternChunks(seed, total)) h.update(chunk);
  return h.digest('hex');
}

/** Counts and hashes a byte stream as it passes. */
export class StreamDigest {
  bytes = 0;
  readonly #hash: Hash = createHash('sha256');
  #hex: string | undefined;

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
  }

  /** Final hash; later updates are not allowed. */
  hex(): string {
    this.#hex ??= this.#hash.digest('hex');
    return this.#hex;
  }
}

/** The SINK reply: `<bytes> <sha256hex>\n`. */
export function formatSinkReply(bytes: number, sha256: string): string {
  return `${bytes} ${sha256}\n`;
}

export function parseSinkReply(line: string): { bytes: number; sha256: string } | undefined {
  const m = /^(\d+) ([0-9a-f]{64})$/.exec(line.trim());
  return m === null ? undefined : { bytes: Number(m[1]), sha256: m[2] };
}

/** `host:port`, with IPv6 hosts in brackets; IPv4-mapped IPv6 is shown as plain IPv4. */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  const host = (address ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  return host.includes(':') ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
}
