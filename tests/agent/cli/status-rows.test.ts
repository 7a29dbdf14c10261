// `weft status`'s control row and `weft check`'s redirection row (issue 20, part 3): the status
// printed "disconnected ([object Object])" because the last error is an object; check said
// redirection was "OK" while /ready said "redirection not installed". Both rows now come from one
// function each, and the check's from the same function /ready's reason does.
import t from 'tap';
import { controlSummary } from '../../../agent/cli/commands.ts';
import { redirectCheck, redirectNotReady, type RedirectStatus } from '../../../agent/redirect/redirect-status.ts';

t.test('the control row prints the last error\'s code and message', async (t) => {
  t.equal(controlSummary({ connected: true, synced: true, lastError: null }), 'connected, synced');
  t.equal(controlSummary({ connected: true, synced: false, lastError: { code: 'X', message: 'y' } }), 'connected, syncing');
  t.equal(controlSummary({ connected: false, synced: false, lastError: null }), 'disconnected');
  const down = controlSummary({ connected: false, synced: false, lastError: { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND weft-control', at: '2026-01-01T00:00:00Z' } });
  t.equal(down, 'disconnected (ENOTFOUND: getaddrinfo ENOTFOUND weft-control)');
});

t.test('redirection: /ready\'s reason and the check row agree in every state', async (t) => {
  const states: Array<[RedirectStatus, 'ok' | 'fail']> = [
    [{ state: 'installed' }, 'ok'],
    [{ state: 'pending' }, 'fail'],
    [{ state: 'failed', error: 'WEFT_ERR_REDIRECT_FAILED: iptables-restore exited 1' }, 'fail'],
  ];
  for (const [s, status] of states) {
    const reason = redirectNotReady(s);
    const row = redirectCheck('iptables', s);
    t.equal(row.status, status, `${s.state}: check says ${status}`);
    t.equal(reason === null, status === 'ok', `${s.state}: /ready holds back exactly when the check fails`);
    if (reason !== null) t.ok(row.detail.includes(reason), `${s.state}: the check shows /ready's reason (${row.detail})`);
  }
  t.match(redirectCheck('iptables', { state: 'failed', error: 'E: boom' }).detail, /boom/, 'a failure says why');
  t.equal(redirectCheck('none', { state: 'none' }).status, 'warn', 'mode none is a warning');
  t.equal(redirectNotReady({ state: 'none' }), null, 'and does not hold readiness back');
  t.equal(redirectCheck('ebpf', undefined).status, 'warn', 'an older agent without a status is not called OK');
});

t.test('redirection in pod scope: the check counts captured pods and warns about ones not found', async (t) => {
  t.same(redirectCheck('iptables', { state: 'installed', pods: { captured: 3, missing: 0 } }), { status: 'ok', detail: 'iptables in-pod: 3 pods captured' });
  t.same(redirectCheck('iptables', { state: 'installed', pods: { captured: 1, missing: 0 } }), { status: 'ok', detail: 'iptables in-pod: 1 pod captured' });
  const missing = redirectCheck('iptables', { state: 'installed', pods: { captured: 2, missing: 1 } });
  t.equal(missing.status, 'warn');
  t.match(missing.detail, /2 pods captured; 1 meshed pod of this node not found/);
  t.equal(redirectNotReady({ state: 'installed', pods: { captured: 0, missing: 4 } }), null, 'pods not found yet do not hold readiness back (they may not have started)');
});
