// The agent's "ready" log line, tied to the one readiness check /ready answers from (app.ts
// `readiness()`), so the log and the probe cannot disagree: "ready" is logged when /ready would
// answer 200, "not ready" with what it waits for (exactly /ready's reasons) when it would answer
// 503. A pure decision (which line, if any) and a thin watcher that samples readiness.
import type { Logger } from '../common/log.ts';

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

export type ReadinessLine =
  | { level: 'info'; msg: 'ready' }
  | { level: 'info' | 'warn'; msg: 'not ready'; waitingFor: string[]; forMs: number };

/** While not ready, the same reasons are repeated this often, so a tail of the log shows them. */
export const NOT_READY_REPEAT_MS = 30_000;

export interface ReadinessMemory {
  /** What was last logged (null: nothing yet). */
  last: Readiness | null;
  /** When it was logged, and since when the agent has been not ready (ms clock). */
  loggedAt: number;
  notReadySince: number;
}

const sameReasons = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((r, i) => r === b[i]);

/**
 * The line to log for readiness `now` at time `at`, given what was logged before; null for none.
 * Starting up, "not ready" is info (expected); a ready agent becoming not ready, or one still not
 * ready after NOT_READY_REPEAT_MS, is a warning.
 */
export function readinessLine(mem: ReadinessMemory, now: Readiness, at: number): ReadinessLine | null {
  const last = mem.last;
  if (now.ready) return last !== null && last.ready ? null : { level: 'info', msg: 'ready' };
  const changed = last === null || last.ready || !sameReasons(last.reasons, now.reasons);
  const due = !changed && at - mem.loggedAt >= NOT_READY_REPEAT_MS;
  if (!changed && !due) return null;
  const since = last === null || last.ready ? at : mem.notReadySince;
  const wasReady = last !== null && last.ready;
  return { level: wasReady || at - since >= NOT_READY_REPEAT_MS ? 'warn' : 'info', msg: 'not ready', waitingFor: [...now.reasons], forMs: at - since };
}

/** Applies a logged line to the memory. */
export function remember(mem: ReadinessMemory, now: Readiness, line: ReadinessLine | null, at: number): ReadinessMemory {
  if (line === null) return mem;
  const becameNotReady = !now.ready && (mem.last === null || mem.last.ready);
  return { last: { ready: now.ready, reasons: [...now.reasons] }, loggedAt: at, notReadySince: becameNotReady ? at : mem.notReadySince };
}

/** Samples `readiness` every `intervalMs` (and at once) and logs what readinessLine decides. */
export function watchReadiness(readiness: () => Readiness, log: Logger, intervalMs = 500): { check(): void; stop(): void } {
  let mem: ReadinessMemory = { last: null, loggedAt: 0, notReadySince: 0 };
  const check = (): void => {
    const now = readiness();
    const at = Date.now();
    const line = readinessLine(mem, now, at);
    if (line !== null) {
      if (line.msg === 'ready') log.info('ready');
      else log[line.level]('not ready', { waitingFor: line.waitingFor, forMs: line.forMs });
    }
    mem = remember(mem, now, line, at);
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  check();
  return { check, stop: () => clearInterval(timer) };
}
