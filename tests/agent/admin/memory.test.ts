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
