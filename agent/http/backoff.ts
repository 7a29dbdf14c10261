// Retry backoff: exponential from `baseMs`, capped at `maxMs`, with "equal jitter" (half fixed,
// half random) so retries from many clients spread out but never come back instantly.
export function backoffMs(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  if (baseMs <= 0) return 0;
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return exp / 2 + (exp / 2) * random();
}
