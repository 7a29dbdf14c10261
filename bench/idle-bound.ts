// A pooled peer session's idle bound, per request at an open-loop rate (where the session falls
// to no streams after almost every request): a setTimeout with its closure at release and a
// clearTimeout at the next acquire (before), against arming and disarming an entry of the
// thread's deadline queue for that bound (agent/deadline-queue.ts, what hbone/pool.ts does now).
// In-process, no sockets. Prints ns per request (one release and one acquire), the median of 7.
//   node bench/idle-bound.ts
import { deadlineQueue, type DeadlineEntry, type DeadlineQueue } from '../agent/deadline-queue.ts';

const IDLE_MS = 60_000;
const N = 100_000;
let retired = 0;

interface Timed { active: number; idleTimer: NodeJS.Timeout | undefined }
class Queued implements DeadlineEntry {
  active = 0;
  dqQueue: DeadlineQueue | null = null;
  dqPrev: DeadlineEntry | null = null;
  dqNext: DeadlineEntry | null = null;
  dqAt = 0;
  deadlineExpired(): void {
    retired++;
  }
}

function timers(): number {
  const e: Timed = { active: 0, idleTimer: undefined };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    e.active++;
    if (e.idleTimer !== undefined) {
      clearTimeout(e.idleTimer);
      e.idleTimer = undefined;
    }
    e.active--;
    e.idleTimer = setTimeout(() => { retired++; }, IDLE_MS);
    e.idleTimer.unref();
  }
  clearTimeout(e.idleTimer);
  return Number(process.hrtime.bigint() - t0) / N;
}

function queue(): number {
  const q = deadlineQueue(IDLE_MS);
  const e = new Queued();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    e.active++;
    e.dqQueue?.disarm(e);
    e.active--;
    q.arm(e);
  }
  e.dqQueue?.disarm(e);
  return Number(process.hrtime.bigint() - t0) / N;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
for (let w = 0; w < 3; w++) { timers(); queue(); }
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < 7; r++) { a.push(timers()); b.push(queue()); }
process.stdout.write(`idle bound per request: setTimeout/clearTimeout ${median(a).toFixed(0)} ns, deadline queue ${median(b).toFixed(0)} ns${retired < 0 ? '!' : ''}\n`);
