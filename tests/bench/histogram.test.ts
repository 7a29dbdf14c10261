import t from 'tap';
import { Histogram } from '../../bench/lib/histogram.ts';

t.test('percentiles of 1..10000 µs are within the bucket precision', async (t) => {
  const h = new Histogram();
  for (let v = 1; v <= 10_000; v++) h.record(v);
  t.equal(h.count, 10_000);
  t.equal(h.min, 1);
  t.equal(h.max, 10_000);
  t.equal(h.mean, 5000.5);
  for (const [p, want] of [[50, 5000], [90, 9000], [99, 9900], [99.9, 9990], [100, 10_000]]) {
    const got = h.percentile(p);
    t.ok(got >= want && got <= want * 1.008, `p${p}: ${got} ~ ${want}`);
  }
  t.equal(h.percentile(0), 1, 'p0 is the min');
});

t.test('small values are exact and buckets tile the range', async (t) => {
  const h = new Histogram(8);
  for (const v of [0, 1, 2, 3]) h.record(v);
  t.equal(h.percentile(50), 1);
  t.equal(h.percentile(75), 2);
  let prevHigh = -1;
  const broken: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const high = h.highestIn(i);
    // Each bucket starts right after the previous one ends, and its own highest value maps back to it.
    if (h.indexOf(prevHigh + 1) !== i || h.indexOf(high) !== i || high <= prevHigh) broken.push(i);
    prevHigh = high;
  }
  t.same(broken, [], 'buckets 0..1999 are contiguous');
});

t.test('a skewed distribution: 99 fast, 1 slow', async (t) => {
  const h = new Histogram();
  h.record(1000, 99);
  h.record(250_000);
  t.ok(h.percentile(99) >= 1000 && h.percentile(99) <= 1008, 'p99 is the fast group');
  t.ok(h.percentile(99.9) >= 250_000 && h.percentile(99.9) <= 250_000 * 1.008);
  t.equal(h.max, 250_000);
});

t.test('merge and JSON round-trip keep the distribution', async (t) => {
  const a = new Histogram();
  const b = new Histogram();
  for (let v = 1; v <= 500; v++) a.record(v * 10);
  for (let v = 501; v <= 1000; v++) b.record(v * 10);
  const whole = new Histogram();
  for (let v = 1; v <= 1000; v++) whole.record(v * 10);
  a.merge(b);
  t.equal(a.count, 1000);
  t.equal(a.percentile(50), whole.percentile(50));
  t.equal(a.percentile(99), whole.percentile(99));
  t.equal(a.min, 10);
  t.equal(a.max, 10_000);
  const round = Histogram.fromJSON(JSON.parse(JSON.stringify(a)));
  t.same(round.toJSON(), a.toJSON());
  t.throws(() => a.merge(new Histogram(10)), RangeError);
});

t.test('empty and out-of-range values', async (t) => {
  const h = new Histogram();
  t.equal(h.percentile(50), 0);
  t.equal(h.mean, 0);
  h.record(-5);
  h.record(Number.NaN);
  h.record(1e12);
  t.equal(h.count, 2, 'NaN ignored');
  t.ok(h.percentile(100) > 0);
});
