// bench/agent-quiet.ts: the suite's idle readings wait for the agents' quiet interval, read from
// their reclaim tick counters. A stand-in for the Mesh answers /config_dump/memory with counters
// the test advances (the real agents' ticks are 10 s apart; the waiting logic is what is tested).
import t from 'tap';
import type { Mesh } from '../../tests/testbed/mesh.ts';
import { reclaimTicks, waitForQuietTicks } from '../../bench/agent-quiet.ts';

function fakeMesh(ticks: Record<string, number | undefined>): Mesh {
  return {
    admin: async (node: string, path: string) => {
      if (path !== '/config_dump/memory') throw new Error(`unexpected ${path}`);
      const n = ticks[node];
      return { status: 200, body: { memory: n === undefined ? {} : { reclaim: { ticks: n } } } };
    },
  } as unknown as Mesh;
}

t.test('waits until every node has ticked twice more', async (t) => {
  const ticks: Record<string, number | undefined> = { n1: 5, n2: 9 };
  const mesh = fakeMesh(ticks);
  let done = false;
  const waited = waitForQuietTicks(mesh, { timeoutMs: 10_000 }).then((s) => { done = true; return s; });
  await new Promise((r) => setTimeout(r, 700));
  ticks.n1 = 7;
  ticks.n2 = 10;
  await new Promise((r) => setTimeout(r, 700));
  t.equal(done, false, 'n2 has ticked once: still waiting');
  ticks.n2 = 11;
  const s = await waited;
  t.ok(s >= 1 && s < 5, `resolved once both had ticked twice (${s} s)`);
});

t.test('an agent without the counter (reclaim off, older build) is waited for only up to the timeout', async (t) => {
  const mesh = fakeMesh({ n1: undefined, n2: 3 });
  t.equal(await reclaimTicks(mesh, 'n1'), undefined);
  const s = await waitForQuietTicks(mesh, { timeoutMs: 1200 });
  t.ok(s >= 1.2 && s < 3, `gave up at the timeout (${s} s)`);
});
