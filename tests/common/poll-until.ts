// Polls a condition every 10 ms: true once it holds, false after `ms` (the caller asserts, so a
// timeout reads as the failed expectation rather than a thrown error).
export async function pollUntil(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
