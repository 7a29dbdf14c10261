// The held-bytes budget's bookkeeping on its own (agent/h2/held-bytes-budget.ts): throttle past
// the budget, restore at half (not before), no restore sooner than MIN_THROTTLE_MS, a connection
// attached to a throttled key told at once, the account forgotten with its last connection. The
// connections are recorders of what they were told (the codec's side is held-bytes-budget.test.ts,
// against node:http2); the clock is the test's.
import t from 'tap';
import { HeldBytesBudget, MIN_THROTTLE_MS, THROTTLED_STREAM_WINDOW } from '../../../agent/h2/held-bytes-budget.ts';

class Told {
  readonly windows: Array<number | null> = [];
  limitStreamWindow(w: number | null): void {
    this.windows.push(w);
  }
}

t.test('throttle past the budget, restore below half, with a least throttle time', async (t) => {
  let now = 1000;
  const throttled: string[] = [];
  const budget = new HeldBytesBudget({ limit: 1000, now: () => now, onThrottle: (k) => throttled.push(k) });
  const a = budget.account('a');
  const c1 = new Told();
  const c2 = new Told();
  a.attach(c1);
  a.attach(c2);
  a.add(1000);
  t.same(c1.windows, [], 'at the budget: nothing');
  a.add(1);
  t.same([c1.windows, c2.windows], [[THROTTLED_STREAM_WINDOW], [THROTTLED_STREAM_WINDOW]], 'past it: every connection throttled');
  t.same(throttled, ['a']);
  a.add(200);
  a.add(-300);
  t.same(c1.windows, [THROTTLED_STREAM_WINDOW], 'above half: still throttled');
  now += MIN_THROTTLE_MS;
  a.add(-400);
  t.equal(a.held, 501);
  t.same(c1.windows, [THROTTLED_STREAM_WINDOW], '501 > 500: still throttled');
  a.add(-1);
  t.same([c1.windows, c2.windows], [[THROTTLED_STREAM_WINDOW, null], [THROTTLED_STREAM_WINDOW, null]], 'at half: full windows back');
  const late = new Told();
  a.add(600);
  a.attach(late);
  t.same(late.windows, [THROTTLED_STREAM_WINDOW], 'a connection attached while throttled is told at once');
  t.equal(a.throttles, 2);
});

t.test('a restore within MIN_THROTTLE_MS waits for it', async (t) => {
  const budget = new HeldBytesBudget({ limit: 1000 });
  const a = budget.account('a');
  const c = new Told();
  a.attach(c);
  a.add(2000);
  a.add(-2000); // drained at once
  t.same(c.windows, [THROTTLED_STREAM_WINDOW], 'not restored within the least throttle time');
  await new Promise((r) => setTimeout(r, MIN_THROTTLE_MS + 30));
  t.same(c.windows, [THROTTLED_STREAM_WINDOW, null], 'restored once it passed, with no further bytes');
});

t.test('keys are apart; an account goes with its last connection', async (t) => {
  const budget = new HeldBytesBudget({ limit: 1000 });
  const a = budget.account('a');
  const b = budget.account('b');
  const ca = new Told();
  const cb = new Told();
  a.attach(ca);
  b.attach(cb);
  a.add(5000);
  t.same(cb.windows, [], 'b untouched by a\'s throttle');
  t.same([...budget.accounts()].map((x) => x.key), ['a', 'b']);
  b.detach(cb);
  t.same([...budget.accounts()].map((x) => x.key), ['a'], 'b forgotten');
  t.not(budget.account('b'), b, 'a new account for b next time');
  t.equal(new HeldBytesBudget({ limit: 0 }).limit, Infinity, '0: no budget');
});
