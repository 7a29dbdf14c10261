// Fixed-bucket histograms: recording is a short scan over a constant boundary list (O(1), no
// allocation), merging is element-wise addition, and the same buckets serve Prometheus, OTLP
// and the percentile estimates of the golden metrics.

/** Seconds. Covers sub-millisecond local hops up to long-lived TCP connections. */
export const DURATION_BOUNDARIES: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

export interface HistogramJson {
  /** counts[i] for value <= boundaries[i]; the last entry is the +Inf bucket. */
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

export function newHistogram(): HistogramJson {
  return { counts: new Array<number>(DURATION_BOUNDARIES.length + 1).fill(0), sum: 0, count: 0, min: Infinity, max: -Infinity };
}

export function recordHistogram(h: HistogramJson, value: number): void {
  const b = DURATION_BOUNDARIES;
  let i = 0;
  while (i < b.length && value > b[i]) i++;
  h.counts[i]++;
  h.sum += value;
  h.count++;
  if (value < h.min) h.min = value;
  if (value > h.max) h.max = value;
}

export function addHistogram(into: HistogramJson, from: HistogramJson): void {
  for (let i = 0; i < into.counts.length; i++) into.counts[i] += from.counts[i] ?? 0;
  into.sum += from.sum;
  into.count += from.count;
  // JSON turns ±Infinity into null: treat a missing bound as "no observation".
  if (from.min !== null && from.min < into.min) into.min = from.min;
  if (from.max !== null && from.max > into.max) into.max = from.max;
}

/** into - base, for windows (rates and percentiles over the last minute). */
export function subtractHistogram(now: HistogramJson, base: HistogramJson | undefined): HistogramJson {
  if (base === undefined) return { ...now, counts: [...now.counts] };
  return {
    counts: now.counts.map((c, i) => c - (base.counts[i] ?? 0)),
    sum: now.sum - base.sum,
    count: now.count - base.count,
    min: now.min,
    max: now.max,
  };
}

/**
 * Estimates a quantile (0..1) by linear interpolation inside the bucket that holds it, the way
 * Prometheus' histogram_quantile does; the +Inf bucket answers with the observed maximum.
 */
export function quantile(h: HistogramJson, q: number): number | null {
  if (h.count <= 0) return null;
  const rank = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i];
    if (c > 0 && seen + c >= rank) {
      const lower = i === 0 ? 0 : DURATION_BOUNDARIES[i - 1];
      if (i >= DURATION_BOUNDARIES.length) return Number.isFinite(h.max) ? h.max : lower;
      const upper = DURATION_BOUNDARIES[i];
      return lower + ((upper - lower) * (rank - seen)) / c;
    }
    seen += c;
  }
  return Number.isFinite(h.max) ? h.max : null;
}
