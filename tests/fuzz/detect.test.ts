// Protocol detection (agent/proxy/detect.ts) under arbitrary first bytes. What must hold:
//   - it never throws and always answers one of the four verdicts;
//   - the verdict does not depend on how TCP split the bytes: once a prefix is decisive, every
//     longer input gives the same answer (the sniffer stops at the first decisive prefix, so a
//     verdict that could change later would make HTTP-ness depend on packet boundaries);
//   - well-formed HTTP/1 request lines are HTTP/1, the h2 preface is h2, TLS and the usual
//     line protocols are opaque TCP.
import t from 'tap';
import fc from 'fast-check';
import { detectProtocol, H2_PREFACE, MAX_LINE, type Detection } from '../../agent/proxy/detect.ts';
import { assertProperty, hexCorpus, runs } from './fuzz.ts';

const VERDICTS = new Set<Detection>(['http1', 'h2', 'tcp', 'need-more']);

/** What the sniffer does: feed chunks, stop at the first decisive verdict. */
function sniff(chunks: Buffer[]): Detection {
  let head = Buffer.alloc(0);
  for (const c of chunks) {
    head = Buffer.concat([head, c]);
    const v = detectProtocol(head);
    if (v !== 'need-more') return v;
  }
  return 'need-more';
}

function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, b.length]) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  return out;
}

const method = fc.stringMatching(/^[A-Z][A-Z-]{0,23}$/);
const target = fc.stringMatching(/^\/[!-~]{0,60}$/);
const requestLine = fc.tuple(method, target, fc.constantFrom('HTTP/1.0', 'HTTP/1.1'), fc.constantFrom('\r\n', '\n')).map(([m, p, v, eol]) => `${m} ${p} ${v}${eol}`);
// Inputs near the interesting shapes: request lines, their prefixes and mutations, long lines.
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  requestLine.map((l) => Buffer.from(l, 'latin1')),
  fc.tuple(requestLine, fc.uint8Array({ maxLength: 32 })).map(([l, tail]) => Buffer.concat([Buffer.from(l, 'latin1'), Buffer.from(tail)])),
  fc.tuple(requestLine, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([l, i, c]) => {
    const b = Buffer.from(l, 'latin1');
    b[i % b.length] = c;
    return b;
  }),
  fc.tuple(method, fc.integer({ min: MAX_LINE - 40, max: MAX_LINE + 40 })).map(([m, n]) => Buffer.from(`${m} /${'a'.repeat(n)} HTTP/1.1\r\n`, 'latin1')),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.concat([H2_PREFACE.subarray(0, a.length % (H2_PREFACE.length + 1)), Buffer.from(a)])),
);

const RUNS = runs(3000);

t.test('corpus: every kept input gets its recorded verdict, whole and byte by byte', async (t) => {
  for (const e of hexCorpus('detect')) {
    const [want, why] = e.note.split(': ');
    t.equal(detectProtocol(e.input), want, `${why} (whole)`);
    t.equal(sniff([...e.input].map((x) => Buffer.from([x]))), want, `${why} (one byte at a time)`);
  }
});

t.test('never throws, always a verdict', async (t) => {
  assertProperty(fc.property(bytes, (b) => VERDICTS.has(detectProtocol(b))), RUNS);
  t.pass(`${RUNS} inputs`);
});

t.test('the verdict does not depend on how the bytes were split', async (t) => {
  assertProperty(fc.property(bytes, fc.array(fc.nat(), { maxLength: 6 }), (b, cuts) => {
    // The same bytes, however they arrive, get the same answer.
    return sniff(split(b, cuts)) === sniff([b]);
  }), RUNS);
  assertProperty(fc.property(bytes, fc.nat(), (b, k) => {
    const prefix = b.subarray(0, k % (b.length + 1));
    const v = detectProtocol(prefix);
    return v === 'need-more' || detectProtocol(b) === v;
  }), RUNS);
  t.pass(`${RUNS * 2} inputs`);
});

t.test('well-formed request lines are HTTP/1, the preface is h2, TLS is opaque', async (t) => {
  assertProperty(fc.property(requestLine, fc.uint8Array({ maxLength: 16 }), (l, tail) => detectProtocol(Buffer.concat([Buffer.from(l, 'latin1'), Buffer.from(tail)])) === 'http1'), RUNS);
  assertProperty(fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => detectProtocol(Buffer.concat([H2_PREFACE, Buffer.from(tail)])) === 'h2'), RUNS);
  assertProperty(fc.property(fc.uint8Array({ minLength: 3, maxLength: 64 }), (rest) => detectProtocol(Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), Buffer.from(rest)])) === 'tcp'), RUNS);
  t.pass(`${RUNS * 3} inputs`);
});
