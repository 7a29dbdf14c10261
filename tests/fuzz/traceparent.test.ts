// W3C traceparent parsing (agent/telemetry/tracing.ts): the header comes from apps, so anything
// can arrive. What must hold: never a throw; what parses has lower-case hex ids of the right
// length, neither all zeros, and flags in a byte; version ff is refused; a formatted
// traceparent parses back to itself; version 00 with trailing data is refused, a future version
// with trailing data is read as 00.
import t from 'tap';
import fc from 'fast-check';
import { formatTraceparent, parseTraceparent } from '../../agent/telemetry/trace-context.ts';
import { assertProperty, corpus, runs } from './fuzz.ts';

const RUNS = runs(2000);
const hex = (n: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const nonZero = (n: number): fc.Arbitrary<string> => hex(n).filter((s) => !/^0+$/.test(s));
const header = fc.oneof(
  fc.string({ maxLength: 70 }),
  fc.tuple(hex(2), hex(32), hex(16), hex(2), fc.string({ maxLength: 8 })).map(([v, a, b, f, tail]) => `${v}-${a}-${b}-${f}${tail}`),
  fc.tuple(nonZero(32), nonZero(16), hex(2), fc.nat(54), fc.string({ minLength: 1, maxLength: 1 })).map(([a, b, f, i, c]) => {
    const s = `00-${a}-${b}-${f}`;
    return s.slice(0, i) + c + s.slice(i + 1);
  }),
);

t.test('corpus: kept headers keep their answers', async (t) => {
  for (const e of corpus<string>('traceparent')) {
    const p = parseTraceparent(e.input);
    t.equal(p === null ? 'refused' : formatTraceparent(p), e.note.split(': ')[0], e.note);
  }
});

t.test('total, and what parses is well-formed', async (t) => {
  assertProperty(fc.property(header, (h) => {
    const p = parseTraceparent(h);
    if (p === null) return true;
    return /^[0-9a-f]{32}$/.test(p.traceId) && !/^0+$/.test(p.traceId) && /^[0-9a-f]{16}$/.test(p.spanId) && !/^0+$/.test(p.spanId) && p.flags >= 0 && p.flags <= 255 && !h.trim().startsWith('ff-');
  }), RUNS);
  t.pass(`${RUNS} headers`);
});

t.test('format then parse is the identity', async (t) => {
  assertProperty(fc.property(nonZero(32), nonZero(16), fc.integer({ min: 0, max: 255 }), (traceId, spanId, flags) => {
    const p = parseTraceparent(formatTraceparent({ traceId, spanId, flags }));
    return p !== null && p.traceId === traceId && p.spanId === spanId && p.flags === flags;
  }), RUNS);
  t.pass(`${RUNS} contexts`);
});
