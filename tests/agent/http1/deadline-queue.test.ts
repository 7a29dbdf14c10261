// The deadline queue the HTTP/1 connections' header and idle timeouts wait in
// (agent/http1/deadline-queue.ts), on Node's real timers: entries expire once each, never before
// their bound (measured on this test's own clock), in the order they were armed; re-arming pushes
// an entry back, disarming takes it out, arming in another queue moves it there. No fakes.
import t from 'tap';
import { DeadlineQueue, type DeadlineEntry } from '../../../agent/http1/deadline-queue.ts';

interface Probe extends DeadlineEntry {
  name: string;
  armedAt: number;
  expiredAt: number[];
}

const fired: string[] = [];
function probe(name: string, onExpired?: () => void): Probe {
  const p: Probe = {
    name, armedAt: 0, expiredAt: [], dqQueue: null, dqPrev: null, dqNext: null, dqAt: 0,
    deadlineExpired() {
      p.expiredAt.push(performance.now());
      fired.push(name);
      onExpired?.();
    },
  };
  return p;
}
const arm = (q: DeadlineQueue, p: Probe): void => {
  p.armedAt = performance.now();
  q.arm(p);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('entries expire once each, in the order armed, none before its bound', async (t) => {
  fired.length = 0;
  const q = new DeadlineQueue(250);
  const ps = ['a', 'b', 'c', 'd'].map((n) => probe(n));
  for (const p of ps) {
    if (p !== ps[0]) await sleep(30);
    arm(q, p);
  }
  t.equal(q.size, 4);
  await sleep(600);
  t.same(fired, ['a', 'b', 'c', 'd']);
  for (const p of ps) {
    t.equal(p.expiredAt.length, 1, `${p.name} once`);
    t.ok(p.expiredAt[0] - p.armedAt >= 250, `${p.name} not before its bound (${(p.expiredAt[0] - p.armedAt).toFixed(1)} ms)`);
  }
  t.equal(q.size, 0, 'expired entries left the queue');
});

t.test('re-arming pushes the deadline back; disarming cancels it', async (t) => {
  fired.length = 0;
  const q = new DeadlineQueue(120);
  const busy = probe('busy');
  const gone = probe('gone');
  arm(q, gone);
  q.disarm(gone);
  q.disarm(gone); // twice: nothing
  for (let i = 0; i < 8; i++) {
    arm(q, busy); // every 40 ms, for 320 ms: longer than the bound, never idle that long
    await sleep(40);
  }
  t.same(fired, [], 'neither expired while re-armed in time or disarmed');
  await sleep(400);
  t.same(fired, ['busy'], 'the busy one expires after its last arming; the disarmed one never');
  t.ok(busy.expiredAt[0] - busy.armedAt >= 120, 'counted from its last arming');
  t.equal(gone.dqQueue, null);
});

t.test('one entry, two bounds: arming it in the other queue moves it (one deadline at a time)', async (t) => {
  fired.length = 0;
  const long = new DeadlineQueue(400);
  const short = new DeadlineQueue(100);
  const p = probe('p');
  arm(long, p);
  await sleep(50);
  arm(short, p);
  t.equal(long.size, 0, 'out of the first queue');
  t.equal(short.size, 1);
  await sleep(700);
  t.same(fired, ['p'], 'expired once: by the queue it was in last');
  t.ok(p.expiredAt[0] - p.armedAt >= 100, 'not before the short bound from its second arming');
  t.ok(p.expiredAt[0] - p.armedAt < 400 - 50, 'and not at the long bound it left');
  // Back the other way: the short one's deadline no longer applies.
  fired.length = 0;
  arm(short, p);
  arm(long, p);
  await sleep(250);
  t.same(fired, [], 'the short bound it left does not fire');
  await sleep(450);
  t.same(fired, ['p']);
  t.ok(p.expiredAt[1] - p.armedAt >= 400);
});

t.test('an expiry that arms another entry does not delay the next front', async (t) => {
  fired.length = 0;
  const q = new DeadlineQueue(300);
  const c = probe('c');
  const a = probe('a', () => arm(q, c)); // at a's expiry: c, due 300 ms later
  const b = probe('b');
  arm(q, a);
  await sleep(100);
  arm(q, b); // due ~200 ms after a's expiry, before c
  await sleep(900);
  t.same(fired, ['a', 'b', 'c']);
  t.ok(b.expiredAt[0] - b.armedAt >= 300, 'b not early');
  t.ok(b.expiredAt[0] < c.armedAt + 300, 'b expired at its own deadline, not at the wake-up armed for c');
});

t.test('an expiry callback may re-arm or disarm itself', async (t) => {
  fired.length = 0;
  const q = new DeadlineQueue(80);
  let n = 0;
  const again: Probe = probe('again', () => {
    if (++n < 3) arm(q, again);
  });
  arm(q, again);
  await sleep(600);
  t.same(fired, ['again', 'again', 'again'], 're-armed twice from its own expiry, then left');
  for (let i = 1; i < 3; i++) t.ok(again.expiredAt[i] - again.expiredAt[i - 1] >= 80, 'each a whole bound after the one before');
  t.equal(q.size, 0);
});
