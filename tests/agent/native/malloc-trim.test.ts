// mallocTrim (agent/native/malloc-trim.c) gives the C heap's free pages back, and the agent's
// periodic trim (agent/malloc-trim.ts) runs it on its interval and counts. The first on a real
// fragmented heap in a child process: 4000 × 32 KiB Buffers (malloc'd, below glibc's mmap
// threshold) interleaved with small ones that stay alive, the large ones then freed, so their pages
// sit in holes free() cannot return; the oracle is the kernel's RssAnon of that process before and
// after. No fakes there; the interval test uses a counting function in place of the native call.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMallocTrim, type MallocTrimStats } from '../../../agent/malloc-trim.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
execFileSync('bash', ['scripts/build-native.sh'], { cwd: root, stdio: 'inherit' });

const CHILD = `
import { readFileSync } from 'node:fs';
import { mallocTrim } from ${JSON.stringify(new URL('../../../agent/native/index.ts', import.meta.url).href)};
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const keep = [];
let big = [];
for (let i = 0; i < 4000; i++) {
  const b = Buffer.allocUnsafeSlow(32 * 1024);
  b.fill(1); // touched: resident
  big.push(b);
  keep.push(Buffer.allocUnsafeSlow(512));
}
const held = anon();
big = [];
globalThis.gc();
globalThis.gc();
const freed = anon();
const released = mallocTrim();
const trimmed = anon();
process.stdout.write(JSON.stringify({ held, freed, trimmed, released, kept: keep.length }));
`;

t.test('a fragmented C heap: free() keeps the pages, mallocTrim gives them back', async (t) => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD], { cwd: root, encoding: 'utf8' });
  const r = JSON.parse(out) as { held: number; freed: number; trimmed: number; released: boolean; kept: number };
  t.comment(`RssAnon MiB: holding ${r.held.toFixed(1)}, after free ${r.freed.toFixed(1)}, after trim ${r.trimmed.toFixed(1)}`);
  t.ok(r.freed - r.trimmed > 60, `the trim gave back most of the 125 MiB freed (${(r.freed - r.trimmed).toFixed(1)} MiB)`);
  t.equal(r.released, true, 'and says so');
  t.equal(r.kept, 4000, 'the small buffers between the holes stayed alive');
});

t.test('the periodic trim: runs on its interval, counts, stops; 0 never runs', async (t) => {
  let calls = 0;
  const stats: MallocTrimStats = { runs: 0, released: 0, lastMs: 0 };
  const trim = startMallocTrim(40, () => ++calls % 2 === 0, stats);
  await new Promise((r) => setTimeout(r, 230));
  trim.stop();
  const after = calls;
  t.ok(after >= 3, `ran on its interval (${after} times in 230 ms)`);
  t.equal(stats.runs, after);
  t.equal(stats.released, Math.floor(after / 2), 'counted the runs that released memory');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(calls, after, 'no run after stop');
  const off = startMallocTrim(0, () => { calls++; return true; }, stats);
  await new Promise((r) => setTimeout(r, 100));
  off.stop();
  t.equal(calls, after, '0: never');
});
