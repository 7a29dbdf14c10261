// The agent's readiness as a table: each input alone, and together, against the reasons a user
// reads in /ready and `weft check` (written out here, not taken from the code).
import t from 'tap';
import { readinessOf, type ReadinessInput } from '../../agent/readiness.ts';

const ok: ReadinessInput = { stopping: false, modelVersion: 3, listening: true, redirect: { state: 'installed' }, fatal: null };

const cases: { name: string; input: Partial<ReadinessInput>; ready: boolean; reasons: string[] }[] = [
  { name: 'all in place', input: {}, ready: true, reasons: [] },
  { name: 'no redirection asked for (WEFT_REDIRECT_MODE=none)', input: { redirect: { state: 'none' } }, ready: true, reasons: [] },
  { name: 'pod scope, captured', input: { redirect: { state: 'installed', pods: { captured: 2, missing: 1 } } }, ready: true, reasons: [] },
  { name: 'draining', input: { stopping: true }, ready: false, reasons: ['draining'] },
  { name: 'no snapshot yet', input: { modelVersion: null }, ready: false, reasons: ['no config snapshot from control yet'] },
  { name: 'listeners not up', input: { listening: false }, ready: false, reasons: ['proxy listeners not up'] },
  {
    name: 'redirection pending',
    input: { redirect: { state: 'pending' } },
    ready: false,
    reasons: ["redirection not installed yet (it is installed once control's first config snapshot arrives)"],
  },
  { name: 'redirection failed', input: { redirect: { state: 'failed', error: 'EPERM: iptables-restore' } }, ready: false, reasons: ['redirection not installed: EPERM: iptables-restore'] },
  { name: 'a proxy crashed', input: { fatal: new Error('out of memory') }, ready: false, reasons: ['worker failed: out of memory'] },
  {
    name: 'at start: everything at once, in this order',
    input: { stopping: true, modelVersion: null, listening: false, redirect: { state: 'pending' }, fatal: new Error('boom') },
    ready: false,
    reasons: ['draining', 'no config snapshot from control yet', 'proxy listeners not up', "redirection not installed yet (it is installed once control's first config snapshot arrives)", 'worker failed: boom'],
  },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(readinessOf({ ...ok, ...c.input }), { ready: c.ready, reasons: c.reasons });
  });
}
