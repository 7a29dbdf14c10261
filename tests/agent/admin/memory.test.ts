// /config_dump/memory: the process's RSS and every V8 heap, workers included.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { memoryDump, workerHeap } from '../../../agent/admin/memory.ts';

t.test('reports the main heap and each live worker\'s; an exited worker is null', async (t) => {
  const live = new Worker('setInterval(() => {}, 1000)', { eval: true });
  const gone = new Worker('', { eval: true });
  // Both listeners now: the empty worker may exit while we wait for the other to come online.
  await Promise.all([once(live, 'online'), once(gone, 'exit')]);
  t.teardown(() => live.terminate());
  const inline = { heap: () => Promise.resolve(null) };
  const d = await memoryDump([live, gone, inline].map((w) => (w instanceof Worker ? { heap: (ms: number) => workerHeap(w, ms) } : w)));
  t.ok(d.rssBytes > 0);
  t.ok(d.main.usedBytes > 0 && d.main.totalBytes >= d.main.usedBytes);
  t.ok(d.workers[0] !== null && d.workers[0].usedBytes > 0, 'the live worker has a heap');
  t.equal(d.workers[1], null, 'the exited one has none');
  t.equal(d.workers[2], null, 'nor an inline proxy (its heap is the main one)');
  t.equal(d.heapUsedBytes, d.main.usedBytes + (d.workers[0]?.usedBytes ?? 0), 'the total is the sum');
  t.equal(d.externalBytes, d.main.externalBytes + (d.workers[0]?.externalBytes ?? 0), 'external memory too');
});

t.test('splits the resident set into anonymous and file-backed pages, and the main heap by space', async (t) => {
  const d = await memoryDump([]);
  if (process.platform === 'linux') {
    t.ok(d.rssAnonBytes !== null && d.rssAnonBytes > 0, 'anonymous pages (the heaps) are resident');
    t.ok(d.rssFileBytes !== null && d.rssFileBytes > 0, 'so are pages of the node binary');
    // Read at another moment than rssBytes, so only roughly equal: the two parts make the whole.
    const sum = (d.rssAnonBytes ?? 0) + (d.rssFileBytes ?? 0);
    t.ok(Math.abs(sum - d.rssBytes) < 16 * 1024 * 1024, `anon + file (${sum}) ≈ rss (${d.rssBytes})`);
  }
  // V8's young and old generations and its code space are always there.
  for (const space of ['new_space', 'old_space', 'code_space']) {
    t.ok(d.mainSpaces[space] !== undefined, space);
    t.ok(d.mainSpaces[space].sizeBytes >= d.mainSpaces[space].usedBytes, `${space}: used within its size`);
  }
  const used = Object.values(d.mainSpaces).reduce((n, s) => n + s.usedBytes, 0);
  t.ok(Math.abs(used - d.main.usedBytes) < 4 * 1024 * 1024, 'the spaces add up to the heap');
});
