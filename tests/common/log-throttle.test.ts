// Unit: a throttled log line per key per interval, with the count of the ones left out.
import t from 'tap';
import { LogThrottle } from '../../common/log-throttle.ts';
import { memoryLogger } from '../../common/log.ts';

t.test('one line per key per interval; the next says how many were left out', async (t) => {
  const log = memoryLogger();
  let now = 1000;
  const th = new LogThrottle(log, { intervalMs: 10_000, now: () => now });
  for (let i = 0; i < 5; i++) th.warn('a', 'over', () => ({ who: 'a' }));
  th.warn('b', 'over', () => ({ who: 'b' }));
  t.equal(log.lines.length, 2, 'a once, b once');
  t.same(log.lines.map((l) => l.who), ['a', 'b']);
  t.notOk('suppressedSinceLast' in log.lines[0], 'the first line has nothing to report');
  now += 10_000;
  th.warn('a', 'over', () => ({ who: 'a' }));
  t.equal(log.lines.length, 3);
  t.equal(log.lines[2].suppressedSinceLast, 4, 'the four left out are counted on the next line');
  t.equal(log.lines[2].level, 'warn');
});

t.test('fields are only built for lines that are written', async (t) => {
  const log = memoryLogger();
  const th = new LogThrottle(log, { intervalMs: 60_000, now: () => 0 });
  let built = 0;
  for (let i = 0; i < 100; i++) th.warn('k', 'x', () => ({ n: ++built }));
  t.equal(built, 1);
});

t.test('keys are bounded: the stalest is forgotten', async (t) => {
  const log = memoryLogger();
  const th = new LogThrottle(log, { intervalMs: 60_000, maxKeys: 2, now: () => 0 });
  th.warn('a', 'x', () => ({}));
  th.warn('b', 'x', () => ({}));
  th.warn('c', 'x', () => ({}));
  t.equal(log.lines.length, 3);
  th.warn('a', 'x', () => ({}));
  t.equal(log.lines.length, 4, 'a was forgotten, so it logs again at once');
  th.warn('c', 'x', () => ({}));
  t.equal(log.lines.length, 4, 'c is still remembered');
});
