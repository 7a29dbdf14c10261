// The agent's memory reclaim (agent/memory-reclaim.ts): when the memory-reducing collection runs
// (a table: quiet and grown, nothing else), a tick's order and counts with counting stubs in place
// of V8 and glibc, the interval, and — in a child process, on real V8 — that the collection it
// obtains without exposing gc() shrinks a heap a burst left grown (the young generation back to its
// minimum), the oracle being V8's own heap statistics and the kernel's RssAnon.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { MIN_GROWTH, QUIET_ELU, reclaimTick, shouldCollect, startMemoryReclaim, type ReclaimStats } from '../../agent/memory-reclaim.ts';

const MiB = 1024 * 1024;

t.test('the collection runs only when the last interval was quiet and the heap grew enough since the last one', async (t) => {
  const rows: Array<[string, number, number, number, boolean]> = [
    ['idle after start (never collected), heap 18 MiB', 0.001, 18 * MiB, 0, true],
    ['busy interval', 0.5, 60 * MiB, 10 * MiB, false],
    ['just over quiet', QUIET_ELU, 60 * MiB, 10 * MiB, false],
    ['just quiet', QUIET_ELU - 0.001, 60 * MiB, 10 * MiB, true],
    ['quiet, grown less than the minimum', 0.001, 10 * MiB + MIN_GROWTH - 1, 10 * MiB, false],
    ['quiet, grown exactly the minimum', 0.001, 10 * MiB + MIN_GROWTH, 10 * MiB, true],
    ['quiet, smaller than after the last one', 0.001, 8 * MiB, 10 * MiB, false],
  ];
  for (const [name, elu, heapTotal, heapAfterLast, want] of rows) t.equal(shouldCollect({ elu, heapTotal, heapAfterLast }), want, name);
});

t.test('external memory that grew by the minimum makes a collection due too (a burst\'s closed sessions leave buffers to the next GC)', async (t) => {
  const base = { heapTotal: 12 * MiB, heapAfterLast: 12 * MiB };
  t.equal(shouldCollect({ elu: 0.001, ...base, external: 3 * MiB + MIN_GROWTH, externalAfterLast: 3 * MiB }), true, 'quiet, external grown by the minimum, heap not');
  t.equal(shouldCollect({ elu: 0.001, ...base, external: 3 * MiB + MIN_GROWTH - 1, externalAfterLast: 3 * MiB }), false, 'quiet, external grown less');
  t.equal(shouldCollect({ elu: 0.5, ...base, external: 30 * MiB, externalAfterLast: 3 * MiB }), false, 'busy: never');
  const stats: ReclaimStats = { ticks: 0, collections: 0, lastCollectionMs: 0, trimsReleased: 0, lastTrimMs: 0 };
  let external = 9 * MiB;
  const state = { heapAfterLast: 12 * MiB, externalAfterLast: 3 * MiB };
  reclaimTick({ trim: () => false, collect: () => { external = 3 * MiB; }, heapTotal: () => 12 * MiB, external: () => external, elu: () => 0.001 }, state, stats);
  t.equal(stats.collections, 1, 'a tick collects');
  t.equal(state.externalAfterLast, 3 * MiB, 'the next baseline is the external memory right after it');
});

t.test('a tick: collection (when due) before the trim, counted, both only on a quiet interval; the next baseline is the heap after it', async (t) => {
  const calls: string[] = [];
  let heap = 30 * MiB;
  let elu = 0.001;
  const stats: ReclaimStats = { ticks: 0, collections: 0, lastCollectionMs: 0, trimsReleased: 0, lastTrimMs: 0 };
  const state = { heapAfterLast: 0 };
  const deps = {
    trim: () => { calls.push('trim'); return true; },
    collect: () => { calls.push('collect'); heap = 12 * MiB; },
    heapTotal: () => heap,
    elu: () => elu,
  };
  reclaimTick(deps, state, stats);
  t.same(calls, ['collect', 'trim']);
  t.equal(state.heapAfterLast, 12 * MiB, 'the heap right after the collection');
  calls.length = 0;
  reclaimTick(deps, state, stats);
  t.same(calls, ['trim'], 'idle again, nothing grew: no second collection');
  heap = 40 * MiB;
  elu = 0.3;
  calls.length = 0;
  reclaimTick(deps, state, stats);
  t.same(calls, [], 'grown but busy: neither (a pause under load would land in the latency tail)');
  elu = 0.001;
  calls.length = 0;
  reclaimTick(deps, state, stats);
  t.same(calls, ['collect', 'trim'], 'quiet again after growing: collected');
  t.equal(stats.ticks, 4);
  t.equal(stats.collections, 2);
  t.equal(stats.trimsReleased, 3);
  calls.length = 0;
  reclaimTick({ ...deps, collect: undefined, heapTotal: () => 99 * MiB }, state, stats);
  t.same(calls, ['trim'], 'no collection to be had: the trim still runs');
});

t.test('the interval: ticks while running, none after stop, none at 0', async (t) => {
  let trims = 0;
  const stats: ReclaimStats = { ticks: 0, collections: 0, lastCollectionMs: 0, trimsReleased: 0, lastTrimMs: 0 };
  const stop = startMemoryReclaim(40, () => { trims++; return false; }, stats);
  // Ticks come on the interval; a tick trims only when the interval before it was quiet, which a
  // process that sleeps between ticks mostly is (on a loaded machine not every one: wait for both).
  const until = async (ok: () => boolean): Promise<void> => {
    for (const end = Date.now() + 5000; !ok() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  };
  await until(() => stats.ticks >= 3 && trims >= 1);
  stop();
  const after = stats.ticks;
  t.ok(after >= 3, `ticked on its interval (${after})`);
  t.ok(trims >= 1 && trims <= after, `trimmed on quiet ticks only (${trims} of ${after})`);
  const trimmed = trims;
  await new Promise((r) => setTimeout(r, 120));
  t.equal(stats.ticks, after, 'no tick after stop');
  t.equal(trims, trimmed, 'no trim after stop');
  const off = startMemoryReclaim(0, () => { trims++; return false; }, stats);
  await new Promise((r) => setTimeout(r, 100));
  off();
  t.equal(stats.ticks, after, '0: never');
});

const CHILD = `
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { readFileSync } from 'node:fs';
import { memoryReducingGc } from ${JSON.stringify(new URL('../../agent/memory-reclaim.ts', import.meta.url).href)};
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const keep = [];
for (let i = 0; i < 100000; i++) keep.push({ i, s: 'k' + i });
let burst = [];
for (let i = 0; i < 400000; i++) burst.push({ i, s: 'x' + i });
burst = [];
await new Promise((r) => setTimeout(r, 300));
const before = { total: getHeapStatistics().total_heap_size, newSpace: newSpace(), anon: anon() };
const gc = memoryReducingGc();
gc();
const after = { total: getHeapStatistics().total_heap_size, newSpace: newSpace(), anon: anon() };
process.stdout.write(JSON.stringify({ before, after, exposed: typeof globalThis.gc, kept: keep.length }));
`;

t.test('the collection it obtains shrinks a heap a burst grew, and gc() stays unexposed', async (t) => {
  const out = execFileSync(process.execPath, ['--max-semi-space-size=8', '--input-type=module', '-e', CHILD], { encoding: 'utf8' });
  const r = JSON.parse(out) as { before: { total: number; newSpace: number; anon: number }; after: { total: number; newSpace: number; anon: number }; exposed: string; kept: number };
  t.comment(`heap total ${(r.before.total / MiB).toFixed(1)} -> ${(r.after.total / MiB).toFixed(1)} MiB, new space ${(r.before.newSpace / MiB).toFixed(1)} -> ${(r.after.newSpace / MiB).toFixed(1)}, RssAnon ${r.before.anon.toFixed(1)} -> ${r.after.anon.toFixed(1)} MiB`);
  t.ok(r.after.newSpace < r.before.newSpace, 'the young generation shrank');
  t.ok(r.before.total - r.after.total > 8 * MiB, 'the heap gave back more than 8 MiB');
  t.ok(r.before.anon - r.after.anon > 8, 'and the process\'s anonymous RSS fell with it');
  t.equal(r.exposed, 'undefined', 'gc() is not left on globalThis');
  t.equal(r.kept, 100000, 'live objects survive');
});

// The same, in a worker thread (a proxy worker's isolate, agent/worker.ts): its reclaim, started
// there with no trim of its own, collects on a quiet interval and gives the burst's heap back.
const WORKER = `
const { getHeapSpaceStatistics, getHeapStatistics } = require('node:v8');
const { parentPort } = require('node:worker_threads');
const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
(async () => {
  const { startMemoryReclaim } = await import(${JSON.stringify(new URL('../../agent/memory-reclaim.ts', import.meta.url).href)});
  const keep = [];
  for (let i = 0; i < 100000; i++) keep.push({ i, s: 'k' + i });
  let burst = [];
  for (let i = 0; i < 400000; i++) burst.push({ i, s: 'x' + i });
  burst = [];
  const before = { total: getHeapStatistics().total_heap_size, newSpace: newSpace() };
  const stats = { ticks: 0, collections: 0, lastCollectionMs: 0, trimsReleased: 0, lastTrimMs: 0 };
  const stop = startMemoryReclaim(100, () => false, stats);
  // The timer is unref'd: this keeps the worker alive until the first collection (or 5 s).
  for (const end = Date.now() + 5000; stats.collections === 0 && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  stop();
  const after = { total: getHeapStatistics().total_heap_size, newSpace: newSpace() };
  parentPort.postMessage({ before, after, collections: stats.collections, trims: stats.trimsReleased, exposed: typeof globalThis.gc, kept: keep.length });
})();
`;

t.test('in a worker thread: its own reclaim collects on a quiet interval and shrinks the worker\'s heap', async (t) => {
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(WORKER, { eval: true });
  const r = await new Promise<{ before: { total: number; newSpace: number }; after: { total: number; newSpace: number }; collections: number; trims: number; exposed: string; kept: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  await w.terminate();
  t.comment(`worker heap total ${(r.before.total / MiB).toFixed(1)} -> ${(r.after.total / MiB).toFixed(1)} MiB, new space ${(r.before.newSpace / MiB).toFixed(1)} -> ${(r.after.newSpace / MiB).toFixed(1)}`);
  t.ok(r.collections >= 1, 'a quiet interval came and the collection ran');
  t.equal(r.trims, 0, 'no trim of its own');
  t.ok(r.after.newSpace < r.before.newSpace, 'the worker\'s young generation shrank');
  t.ok(r.before.total - r.after.total > 4 * MiB, 'its heap gave back more than 4 MiB');
  t.equal(r.exposed, 'undefined', 'gc() is not left on the worker\'s globalThis');
  t.equal(r.kept, 100000, 'live objects survive');
});
