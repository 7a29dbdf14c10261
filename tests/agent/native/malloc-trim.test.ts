// mallocTrim (agent/native/malloc-trim.c) gives the C heap's free pages back: on a real
// fragmented heap in a child process: 4000 × 32 KiB Buffers (malloc'd, below glibc's mmap
// threshold) interleaved with small ones that stay alive, the large ones then freed, so their pages
// sit in holes free() cannot return; the oracle is the kernel's RssAnon of that process before and
// after. No fakes. (When the agent calls it: tests/agent/memory-reclaim.test.ts.)
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
