// What the agent tells an operator when it cannot reach control (agent/state/control-failure.ts):
// each cause names what to check. The agent logs it with WEFT_ERR_CONTROL_UNREACHABLE
// (tests/e2e/agent-startup.test.ts shows the real ENOTFOUND path end to end).
import t from 'tap';
import { explainControlFailure } from '../../../agent/state/control-failure.ts';

const tcp = { address: 'weft-control.weft-system.svc:15012' };
const unix = { address: 'weft-control.weft-system.svc:15012', socketPath: '/run/weft/control.sock' };

t.test('each cause says what to check', async (t) => {
  const cases: Array<[string, { address: string; socketPath?: string }, RegExp[]]> = [
    ['ENOTFOUND', tcp, [/name weft-control\.weft-system\.svc does not resolve/, /WEFT_CONTROL_ADDRESS/, /DNS/, /ClusterFirstWithHostNet/]],
    ['EAI_AGAIN', tcp, [/does not resolve \(EAI_AGAIN\)/]],
    ['ECONNREFUSED', tcp, [/ECONNREFUSED/, /is control running/]],
    ['ETIMEDOUT', tcp, [/timed out/, /NetworkPolicy or firewall/]],
    ['EHOSTUNREACH', tcp, [/no route/]],
    ['ENOENT', unix, [/\/run\/weft\/control\.sock does not exist/, /WEFT_CONTROL_SOCKET/]],
    ['ECONNREFUSED', unix, [/unix socket/, /is control running/]],
    ['EACCES', unix, [/owner and mode/]],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', tcp, [/not trusted/, /WEFT_CONTROL_CA_FILE/]],
    ['ERR_TLS_CERT_ALTNAME_INVALID', unix, [/WEFT_CONTROL_SERVER_NAME/]],
    ['ECONNRESET', tcp, [/cannot reach control at weft-control\.weft-system\.svc:15012 \(ECONNRESET\)/]],
  ];
  for (const [cause, target, want] of cases) {
    const msg = explainControlFailure(cause, target);
    for (const re of want) t.match(msg, re, `${cause}${target.socketPath === undefined ? '' : ' (unix)'}: ${re}`);
  }
});

t.test('an IPv6 address keeps its brackets out of the name', async (t) => {
  t.match(explainControlFailure('ENOTFOUND', { address: '[fd00::1]:15012' }), /name fd00::1 does not resolve/);
});
