// The header-list helpers (agent/http/header-list.ts): a table of lists and the exact results,
// written out by hand.
import t from 'tap';
import { listDelete, listGet, listGetOnce, listSet } from '../../../agent/http/header-list.ts';

t.test('listGet: the first value of a name, or undefined', async (t) => {
  const l = ['a', '1', 'b', '2', 'a', '3'];
  t.equal(listGet(l, 'a'), '1');
  t.equal(listGet(l, 'b'), '2');
  t.equal(listGet(l, 'c'), undefined);
  t.equal(listGet(l, '1'), undefined, 'values are never taken for names');
  t.equal(listGet([], 'a'), undefined);
});

t.test('listGetOnce: the value of a name found once; undefined when absent or repeated', async (t) => {
  const l = ['a', '1', 'b', '2', 'a', '3'];
  t.equal(listGetOnce(l, 'b'), '2');
  t.equal(listGetOnce(l, 'a'), undefined);
  t.equal(listGetOnce(l, 'c'), undefined);
  t.equal(listGetOnce(['x', 'y'], 'y'), undefined, 'values are never taken for names');
});

const deletes: { list: string[]; name: string; want: string[] }[] = [
  { list: ['a', '1', 'b', '2', 'a', '3'], name: 'a', want: ['b', '2'] },
  { list: ['a', '1', 'b', '2'], name: 'b', want: ['a', '1'] },
  { list: ['a', '1'], name: 'z', want: ['a', '1'] },
  { list: ['x', 'x', 'x', 'x'], name: 'x', want: [] },
  { list: ['k', 'a', 'a', 'k'], name: 'a', want: ['k', 'a'] },
];
for (const c of deletes) {
  t.test(`listDelete ${JSON.stringify(c.list)} ${c.name}`, async (t) => {
    const l = c.list.slice();
    listDelete(l, c.name);
    t.same(l, c.want);
  });
}

const sets: { list: string[]; name: string; value: string; want: string[] }[] = [
  { list: [], name: 'a', value: '1', want: ['a', '1'] },
  { list: ['b', '2'], name: 'a', value: '1', want: ['b', '2', 'a', '1'] },
  { list: ['a', 'old', 'b', '2'], name: 'a', value: 'new', want: ['a', 'new', 'b', '2'] },
  { list: ['c', '0', 'a', 'x', 'b', '2', 'a', 'y', 'd', '4'], name: 'a', value: 'z', want: ['c', '0', 'a', 'z', 'b', '2', 'd', '4'] },
];
for (const c of sets) {
  t.test(`listSet ${JSON.stringify(c.list)} ${c.name}=${c.value}`, async (t) => {
    const l = c.list.slice();
    listSet(l, c.name, c.value);
    t.same(l, c.want);
  });
}
