// The "ready" log line follows readiness exactly (agent/readiness-log.ts): "ready" only when
// /ready would answer 200, "not ready" with /ready's own reasons otherwise, no line per sample,
// a reminder every NOT_READY_REPEAT_MS. The agent end to end: tests/e2e/agent-startup.test.ts.
import t from 'tap';
import { NOT_READY_REPEAT_MS, readinessLine, remember, type Readiness, type ReadinessMemory } from '../../agent/readiness-log.ts';

/** Feeds samples [at, readiness] through the decision and returns the lines logged. */
function run(samples: Array<[number, Readiness]>): Array<[number, string, string, string[]?]> {
  let mem: ReadinessMemory = { last: null, loggedAt: 0, notReadySince: 0 };
  const out: Array<[number, string, string, string[]?]> = [];
  for (const [at, r] of samples) {
    const line = readinessLine(mem, r, at);
    if (line !== null) out.push(line.msg === 'ready' ? [at, line.level, line.msg] : [at, line.level, line.msg, line.waitingFor]);
    mem = remember(mem, r, line, at);
  }
  return out;
}

const NO_SNAPSHOT: Readiness = { ready: false, reasons: ['no config snapshot from control yet'] };
const READY: Readiness = { ready: true, reasons: [] };

t.test('start-up: what it waits for, then ready once', async (t) => {
  t.same(run([[0, NO_SNAPSHOT], [500, NO_SNAPSHOT], [1000, READY], [1500, READY]]), [
    [0, 'info', 'not ready', ['no config snapshot from control yet']],
    [1000, 'info', 'ready'],
  ]);
});

t.test('ready straight away: one line', async (t) => {
  t.same(run([[0, READY], [500, READY]]), [[0, 'info', 'ready']]);
});

t.test('new reasons are logged; the same ones are repeated only after the interval, then as warnings', async (t) => {
  const two: Readiness = { ready: false, reasons: ['no config snapshot from control yet', 'redirection not installed yet'] };
  t.same(run([[0, NO_SNAPSHOT], [100, two], [200, two], [100 + NOT_READY_REPEAT_MS, two]]), [
    [0, 'info', 'not ready', NO_SNAPSHOT.reasons],
    [100, 'info', 'not ready', two.reasons],
    [100 + NOT_READY_REPEAT_MS, 'warn', 'not ready', two.reasons],
  ]);
});

t.test('a ready agent that becomes not ready warns at once, and says when it is ready again', async (t) => {
  const failed: Readiness = { ready: false, reasons: ['redirection not installed: boom'] };
  t.same(run([[0, READY], [1000, failed], [1500, failed], [2000, READY]]), [
    [0, 'info', 'ready'],
    [1000, 'warn', 'not ready', failed.reasons],
    [2000, 'info', 'ready'],
  ]);
});
