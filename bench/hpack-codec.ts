// HPACK encode/decode throughput: agent/h2's codec against hpack.js (the most used JavaScript
// HPACK on npm), on header lists shaped like the agent-to-agent hop (request) and a typical
// answer (response), with a per-request :path and traceparent so the dynamic table works as it
// does on a live connection. Prints ops/s (median of 5 rounds of ~0.5 s each); no assertions.
//   node bench/hpack-codec.ts [--json]
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { HpackEncoder } from '../agent/h2/hpack-encoder.ts';
import { HpackDecoder } from '../agent/h2/hpack-decoder.ts';

interface HpackJsHeader {
  name: string;
  value: string;
}
interface HpackJsCompressor {
  write(h: HpackJsHeader[]): void;
  read(): Buffer | null;
}
interface HpackJsDecompressor {
  write(b: Buffer): void;
  execute(): void;
  read(): HpackJsHeader | null;
}
interface HpackJs {
  compressor: { create(o: { table: { size: number } }): HpackJsCompressor };
  decompressor: { create(o: { table: { size: number } }): HpackJsDecompressor };
}
const hpackjs = createRequire(import.meta.url)('hpack.js') as HpackJs;

const N = 1000;
function requestList(i: number): string[] {
  return [
    ':method', i % 5 === 0 ? 'POST' : 'GET',
    ':scheme', 'http',
    ':authority', 'reviews.default.svc.cluster.local:9080',
    ':path', `/api/v1/reviews/${i}?page=${i % 7}`,
    'weft-target', '10.244.1.17:9080',
    'weft-proto', 'http1',
    'user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    'accept', 'application/json',
    'accept-encoding', 'gzip, deflate',
    'traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
  ];
}
function responseList(i: number): string[] {
  return [':status', '200', 'content-type', 'application/json', 'content-length', String(900 + (i % 300)), 'server', 'envoy', 'date', new Date(1_700_000_000_000 + i * 1000).toUTCString(), 'x-request-id', randomBytes(8).toString('hex')];
}

const toObjs = (l: string[]): HpackJsHeader[] => {
  const out: HpackJsHeader[] = [];
  for (let i = 0; i < l.length; i += 2) out.push({ name: l[i], value: l[i + 1] });
  return out;
};

function measure(fn: () => number): number {
  // fn runs one pass over the N lists and returns how many ops it did.
  for (let i = 0; i < 3; i++) fn();
  const rates: number[] = [];
  for (let r = 0; r < 5; r++) {
    let ops = 0;
    const t0 = process.hrtime.bigint();
    let t1 = t0;
    while (t1 - t0 < 500_000_000n) {
      ops += fn();
      t1 = process.hrtime.bigint();
    }
    rates.push(ops / (Number(t1 - t0) / 1e9));
  }
  rates.sort((a, b) => a - b);
  return rates[2];
}

interface Row {
  workload: string;
  op: string;
  weft: number;
  hpackjs: number;
}

function run(kind: 'request' | 'response'): Row[] {
  const lists = Array.from({ length: N }, (_, i) => (kind === 'request' ? requestList(i) : responseList(i)));
  const objs = lists.map(toObjs);
  // Blocks as our encoder writes them, one connection's worth; both decoders read the same bytes.
  const enc0 = new HpackEncoder();
  const blocks = lists.map((l) => Buffer.from(enc0.encode(l)));
  // Sanity: both decoders agree with the lists before anything is timed.
  const dj = hpackjs.decompressor.create({ table: { size: 4096 } });
  const dw = new HpackDecoder();
  blocks.forEach((b, i) => {
    const out: string[] = [];
    dw.decode(b, 0, b.length, out);
    dj.write(b);
    dj.execute();
    const js: string[] = [];
    for (let h = dj.read(); h !== null; h = dj.read()) js.push(h.name, h.value);
    if (out.join('\n') !== lists[i].join('\n') || js.join('\n') !== lists[i].join('\n')) throw new Error(`decoders disagree on ${kind} ${i}`);
  });

  const encWeft = measure(() => {
    const e = new HpackEncoder();
    for (const l of lists) e.encode(l);
    return N;
  });
  const encJs = measure(() => {
    const c = hpackjs.compressor.create({ table: { size: 4096 } });
    for (const o of objs) {
      c.write(o);
      while (c.read() !== null);
    }
    return N;
  });
  const decWeft = measure(() => {
    const d = new HpackDecoder();
    for (const b of blocks) d.decode(b, 0, b.length, []);
    return N;
  });
  const decJs = measure(() => {
    const d = hpackjs.decompressor.create({ table: { size: 4096 } });
    for (const b of blocks) {
      d.write(b);
      d.execute();
      while (d.read() !== null);
    }
    return N;
  });
  const size = blocks.reduce((a, b) => a + b.length, 0) / N;
  return [
    { workload: `${kind} (${lists[0].length / 2} fields, ${size.toFixed(0)} B/block)`, op: 'encode', weft: encWeft, hpackjs: encJs },
    { workload: `${kind} (${lists[0].length / 2} fields, ${size.toFixed(0)} B/block)`, op: 'decode', weft: decWeft, hpackjs: decJs },
  ];
}

const rows = [...run('request'), ...run('response')];
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
} else {
  console.log(`HPACK header lists per second (median of 5 × 0.5 s; Node ${process.version})`);
  console.log('| workload | op | agent/h2 | hpack.js | ratio |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.workload} | ${r.op} | ${Math.round(r.weft).toLocaleString('en')} | ${Math.round(r.hpackjs).toLocaleString('en')} | ${(r.weft / r.hpackjs).toFixed(1)}× |`);
}
