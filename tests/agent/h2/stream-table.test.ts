// agent/h2/stream-table.ts: the open-stream table and the closed-stream ring behave as the Map
// they replace. Oracle: a plain Map driven by the same operations (the table's probing,
// backward-shift deletion and growth are checked against it, not against themselves), plus named
// cases for the probe-run edges (wrap-around, colliding homes) and the ring's eviction order.
import fc from 'fast-check';
import t from 'tap';
import { ClosedStreams, StreamTable } from '../../../agent/h2/stream-table.ts';

t.test('StreamTable: get/set/delete/size/values agree with a Map under random operations', async (t) => {
  // Ids drawn from a small range with both parities, so homes collide and probe runs wrap.
  const op = fc.oneof(
    fc.record({ k: fc.constant('set' as const), id: fc.integer({ min: 1, max: 200 }), v: fc.integer() }),
    fc.record({ k: fc.constant('delete' as const), id: fc.integer({ min: 1, max: 200 }) }),
    fc.record({ k: fc.constant('get' as const), id: fc.integer({ min: 0, max: 201 }) }),
  );
  fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), fc.array(op, { maxLength: 400 }), (cap, ops) => {
    const table = new StreamTable<number>(cap);
    const model = new Map<number, number>();
    for (const o of ops) {
      if (o.k === 'set') {
        table.set(o.id, o.v);
        model.set(o.id, o.v);
      } else if (o.k === 'delete') {
        if (table.delete(o.id) !== model.delete(o.id)) return false;
      } else if (table.get(o.id) !== model.get(o.id) || table.has(o.id) !== model.has(o.id)) return false;
      if (table.size !== model.size) return false;
    }
    const expected = [...model.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
    return JSON.stringify(table.values()) === JSON.stringify(expected);
  }), { numRuns: 300 });
  t.pass('300 random sequences agree with the Map');
});

t.test('StreamTable: a probe run that wraps the end, then a deletion in its middle', async (t) => {
  const table = new StreamTable<string>(8); // 8 slots, home = (id >>> 1) & 7
  // 15 → home 7, 31 → home 7 (wraps to 0), 47 → home 7 (slot 1), 1 → home 0 (slot 2).
  for (const id of [15, 31, 47, 1]) table.set(id, `s${id}`);
  t.same(table.values(), ['s1', 's15', 's31', 's47']);
  t.equal(table.delete(31), true);
  t.equal(table.get(47), 's47', 'the member after the hole is still found');
  t.equal(table.get(1), 's1');
  t.equal(table.get(31), undefined);
  t.equal(table.delete(31), false, 'deleting twice says it was not there');
  t.equal(table.size, 3);
});

t.test('StreamTable: grows past its capacity and keeps every stream; values() is a copy', async (t) => {
  const table = new StreamTable<number>(8);
  for (let id = 1; id < 400; id += 2) table.set(id, id);
  t.equal(table.size, 200);
  for (let id = 1; id < 400; id += 2) if (table.get(id) !== id) t.fail(`lost ${id}`);
  const vs = table.values();
  for (const v of vs) table.delete(v);
  t.equal(vs.length, 200, 'deleting while walking the copy');
  t.equal(table.size, 0);
  t.same(table.values(), []);
});

t.test('StreamTable: refuses what is not a stream id', async (t) => {
  const table = new StreamTable<number>();
  for (const bad of [0, -1, 2 ** 31, 1.5, Number.NaN]) t.throws(() => table.set(bad, 1), RangeError, String(bad));
  t.equal(table.get(0), undefined);
  t.equal(table.delete(-3), false);
});

t.test('ClosedStreams: keeps the last N, oldest forgotten first, updates in place', async (t) => {
  const ring = new ClosedStreams(3);
  t.equal(ring.get(1), undefined);
  t.equal(ring.get(0), undefined, 'id 0 is never a stream, even in an empty ring');
  ring.add(1, 0);
  ring.add(3, 1);
  ring.add(5, 2);
  t.same([ring.get(1), ring.get(3), ring.get(5)], [0, 1, 2]);
  ring.set(3, 2); // update: 3 keeps its age, nothing is evicted
  t.same([ring.get(1), ring.get(3), ring.get(5)], [0, 2, 2]);
  ring.set(7, 1); // a new id evicts the oldest (1)
  t.same([ring.get(1), ring.get(3), ring.get(5), ring.get(7)], [undefined, 2, 2, 1]);
});

t.test('ClosedStreams: agrees with the Map it replaced (set, evict the oldest past the limit)', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 2 })), { maxLength: 200 }), (limit, ops) => {
    const ring = new ClosedStreams(limit);
    const model = new Map<number, number>();
    for (const [id, by] of ops) {
      ring.set(id, by);
      model.set(id, by);
      if (model.size > limit) model.delete(model.keys().next().value as number);
    }
    for (let id = 0; id <= 61; id++) if (ring.get(id) !== model.get(id)) return false;
    return true;
  }), { numRuns: 300 });
  t.pass('300 random sequences agree with the Map');
});

t.test('StreamTable: grown by a burst, it goes back to its initial size once the burst has closed, and works on', async (t) => {
  const table = new StreamTable<number>();
  const initial = table.capacity;
  // 10 000 concurrent streams from one side (odd ids), as a burst of HBONE tunnels on one session.
  for (let k = 0; k < 10_000; k++) table.set(2 * k + 1, k);
  const grown = table.capacity;
  t.ok(grown >= 20_000, `grown to hold them (${grown} slots)`);
  for (let k = 0; k < 9_999; k++) table.delete(2 * k + 1);
  t.equal(table.capacity, grown, 'one stream still open: the table keeps its size');
  t.equal(table.get(19_999), 9_999, 'and finds that stream');
  table.delete(19_999);
  t.equal(table.size, 0);
  t.equal(table.capacity, initial, 'the last one closed: back to the initial size');
  table.set(20_001, 1);
  table.set(20_003, 2);
  t.same([table.get(20_001), table.get(20_003), table.size], [1, 2, 2], 'later streams are stored as before');
  t.same(table.values(), [1, 2]);
});

t.test('StreamTable: a few streams swinging around zero never reallocate', async (t) => {
  const table = new StreamTable<number>();
  const initial = table.capacity;
  for (let k = 0; k < 1000; k++) {
    table.set(2 * k + 1, k);
    table.delete(2 * k + 1);
  }
  t.equal(table.capacity, initial);
});
