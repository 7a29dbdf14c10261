// The deadline queue the HTTP/1 connections' header and idle timeouts and the L7 requests' idle
// timeout wait in (agent/deadline-queue.ts), on Node's real timers: entries expire once each, never before
// their bound (measured on this test's own clock), in the order they were armed; re-arming pushes
// an entry back, disarming takes it out, arming in another queue moves it there. No fakes.
import t from 'tap';
import { DeadlineQueue, deadlineQueue, type DeadlineEntry } from '../../agent/deadline-queue.ts';

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

t.test('activity keeps an entry alive (re-armed as the newest, as the body chunks of a request are); it expires a bound after the last', async (t) => {
  fired.length = 0;
  const q = new DeadlineQueue(100);
  const busy = probe('busy');
  const quiet = probe('quiet');
  arm(q, busy);
  arm(q, quiet);
  for (let i = 0; i < 8; i++) {
    await sleep(40);
    arm(q, busy); // the tail after the first re-arm: its deadline moves, its place stays last
  }
  t.same(fired, ['quiet'], 'the quiet one expired, the busy one did not (320 ms of activity against a 100 ms bound)');
  t.ok(quiet.expiredAt[0] - quiet.armedAt >= 100, 'quiet not early');
  await sleep(500);
  t.same(fired, ['quiet', 'busy']);
  t.ok(busy.expiredAt[0] - busy.armedAt >= 100, `busy: ${(busy.expiredAt[0] - busy.armedAt).toFixed(1)} ms after its last arm`);
  t.equal(q.size, 0);
});

t.test('the timer outlives an empty queue: entries armed after it emptied still expire on time, never early', async (t) => {
  fired.length = 0;
  const q = new DeadlineQueue(150);
  // One entry at a time, each gone before the next (a request at a time at an open-loop rate):
  // the queue empties between them and keeps its timer.
  for (let i = 0; i < 5; i++) {
    const p = probe(`done-${i}`);
    arm(q, p);
    await sleep(20);
    q.disarm(p);
  }
  t.equal(q.size, 0);
  const last = probe('last');
  arm(q, last);
  await sleep(60); // the timer set for done-0 fires about now, on an empty-then-refilled queue
  t.same(fired, [], 'nothing expires early');
  await sleep(600);
  t.same(fired, ['last'], 'only the one left armed expires');
  t.ok(last.expiredAt[0] - last.armedAt >= 150, 'not before its bound');
  // Once more after the queue emptied by expiry (the timer fired on nothing and stopped).
  await sleep(300);
  const again = probe('again');
  arm(q, again);
  await sleep(600);
  t.same(fired, ['last', 'again']);
  t.ok(again.expiredAt[0] - again.armedAt >= 150, 'not before its bound');
});

t.test('one queue per bound on this thread', async (t) => {
  t.equal(deadlineQueue(1234), deadlineQueue(1234));
  t.not(deadlineQueue(1234), deadlineQueue(1235));
});
