// IdleWatch (agent/http/idle-watch.ts), with real timers: a request expires when `ms` passed since
// its last activity — never earlier — and only then; removed ones never fire; order and
// re-entrancy hold. The bounds are measured with performance.now() here, independently of the
// watch's own bookkeeping; the upper bounds are generous (a loaded 2-core machine).
import t from 'tap';
import { IdleWatch, idleWatch, type IdleWatched } from '../../../agent/http/idle-watch.ts';

class Req implements IdleWatched {
  idlePrev: IdleWatched | null = null;
  idleNext: IdleWatched | null = null;
  idleAt = -1;
  firedAt = -1;
  lastActive = 0;
  readonly name: string;
  readonly fired: string[];
  readonly then: (() => void) | undefined;
  constructor(name: string, fired: string[], then?: () => void) {
    this.name = name;
    this.fired = fired;
    this.then = then;
  }
  onIdle(): void {
    this.firedAt = performance.now();
    this.fired.push(this.name);
    this.then?.();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('untouched requests expire after ms, oldest first, never early', async (t) => {
  const w = new IdleWatch(80);
  const fired: string[] = [];
  const rs = ['a', 'b', 'c'].map((n) => new Req(n, fired));
  for (const r of rs) {
    r.lastActive = performance.now();
    w.add(r);
    await sleep(10);
  }
  t.equal(w.size, 3);
  await sleep(400);
  t.same(fired, ['a', 'b', 'c']);
  for (const r of rs) t.ok(r.firedAt - r.lastActive >= 79, `${r.name} not before its 80 ms (${(r.firedAt - r.lastActive).toFixed(1)})`);
  t.equal(w.size, 0);
});

t.test('activity keeps a request alive; it expires ms after the last touch', async (t) => {
  const w = new IdleWatch(100);
  const fired: string[] = [];
  const busy = new Req('busy', fired);
  const quiet = new Req('quiet', fired);
  w.add(busy);
  quiet.lastActive = performance.now();
  w.add(quiet);
  for (let i = 0; i < 8; i++) {
    await sleep(40);
    busy.lastActive = performance.now();
    w.touch(busy);
  }
  t.same(fired, ['quiet'], 'the quiet one expired, the busy one did not (320 ms of activity against a 100 ms bound)');
  t.ok(quiet.firedAt - quiet.lastActive >= 99);
  await sleep(400);
  t.same(fired, ['quiet', 'busy']);
  t.ok(busy.firedAt - busy.lastActive >= 99, `busy: ${(busy.firedAt - busy.lastActive).toFixed(1)} ms after its last touch`);
});

t.test('a removed request never fires; remove and touch on an unwatched one are no-ops', async (t) => {
  const w = new IdleWatch(50);
  const fired: string[] = [];
  const a = new Req('a', fired);
  const b = new Req('b', fired);
  w.add(a);
  w.add(b);
  w.remove(a);
  w.remove(a);
  w.touch(a);
  t.equal(w.size, 1);
  await sleep(250);
  t.same(fired, ['b']);
  w.remove(b);
  t.equal(w.size, 0);
});

t.test('re-entrant: a request added from onIdle gets its own full timeout', async (t) => {
  const w = new IdleWatch(60);
  const fired: string[] = [];
  const second = new Req('second', fired);
  const first = new Req('first', fired, () => { second.lastActive = performance.now(); w.add(second); });
  w.add(first);
  await sleep(30);
  t.same(fired, []);
  await sleep(400);
  t.same(fired, ['first', 'second']);
  t.ok(second.firedAt - second.lastActive >= 59);
});

t.test('one watch per duration', async (t) => {
  t.equal(idleWatch(1234), idleWatch(1234));
  t.not(idleWatch(1234), idleWatch(1235));
});
