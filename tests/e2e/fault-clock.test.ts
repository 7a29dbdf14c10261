// Faults: clock skew between control and the nodes. The system clock cannot be changed safely
// here, so control runs with a shifted JavaScript clock (tests/testbed/fixtures/shift-clock.ts):
// everything it dates follows the shift while the agents' TLS judges by the real clock — a node
// whose clock is off by the same amount the other way.
// Promises: a skew inside control's 5 min backdate is tolerated (traffic flows, nothing lost) and
// reported (`weft check` warns, /metrics has the offset); a skew beyond it is named plainly in the
// log (WEFT_ERR_CLOCK_SKEW) and in `weft check`, while the agents keep serving from what they have.
import t, { type Test } from 'tap';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { assertNothingLost, figures, metric, metrics, startSteady, weftCheck } from './fault-load.ts';

const SHIFT = fileURLToPath(new URL('../testbed/fixtures/shift-clock.ts', import.meta.url));
const shifted = (offsetMs: number): Record<string, string> => ({
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${SHIFT}`.trim(),
  WEFT_TEST_CLOCK_OFFSET_MS: String(offsetMs),
});

const tb = await withTestbed(t, {
  name: 'fault-clock',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, agentEnv: { WEFT_WORKERS: '1', WEFT_DRAIN_MS: '1000' }, controlEnv: shifted(120_000) });
t.teardown(() => mesh.stop());
await mesh.startApp('web', 'l7-server.ts', ['--port', '8080', '--name', 'web']);
const url = `http://${tb.pod('web').ip}:8080/`;

/** A few seconds of checked GETs from client (n1) to web (n2): across nodes, so over mTLS. */
async function traffic(t: Test, what: string): Promise<string> {
  const s = await startSteady(mesh, 'client', ['--urls', url, '--method', 'GET', '--bytes', '2048', '--concurrency', '2', '--duration', '3000', '--timeout', '10000']);
  await s.app.exited;
  const r = await s.finish();
  assertNothingLost(t, r, what);
  return figures(r);
}

const row = async (node: string, group: string, name: string) => (await weftCheck(mesh, node)).checks.find((c) => c.group === group && c.name === name);

t.test('control 2 min ahead: tolerated, and reported', async (t) => {
  const f = await traffic(t, 'GET with control 2 min ahead');
  t.match(await row('n1', 'control', 'clock skew'), { status: 'warn', detail: /control's clock is 1[12]\d s ahead of this node's/ }, 'weft check warns');
  const offset = metric(await metrics(mesh, 'n1'), 'weft_control_clock_offset_seconds');
  t.ok(Math.abs(offset - 120) < 5, `weft_control_clock_offset_seconds ≈ 120 (${offset})`);
  t.match(await row('n1', 'identity', 'spiffe://cluster.local/ns/demo/sa/client'), { status: 'ok' }, 'the certificate is valid here: the backdate covers the skew');
  t.notMatch(mesh.agentLog('n1'), /WEFT_ERR_CLOCK_SKEW/, 'no clock error logged');
  t.comment(`+120 s: ${f}`);
});

t.test('control 2 min behind: tolerated, and reported', async (t) => {
  await mesh.stopControl();
  await mesh.startControl(shifted(-120_000));
  // A new agent asks for new certificates, dated by the slow control.
  await mesh.restartAgent('n1');
  const f = await traffic(t, 'GET with control 2 min behind');
  t.match(await row('n1', 'control', 'clock skew'), { status: 'warn', detail: /1[12]\d s behind this node's/ });
  t.notMatch(mesh.agentLog('n1'), /WEFT_ERR_CLOCK_SKEW/, 'no clock error logged');
  t.comment(`-120 s: ${f}`);
});

t.test('control 10 min ahead: the agents say it is the clock, and keep serving', async (t) => {
  await mesh.stopControl();
  await mesh.startControl(shifted(600_000));
  // Control's own serving certificate now starts 5 min in the nodes' future.
  await mesh.waitUntil(() => /"code":"WEFT_ERR_CLOCK_SKEW"/.test(mesh.agentLog('n1')), 30_000, 'n1 to report the clock');
  t.match(mesh.agentLog('n1'), /"level":"error"[^\n]*clocks of this node and control in sync \(NTP\)[^\n]*"cause":"CERT_NOT_YET_VALID"/, 'a log line that names the clocks');
  const reachable = await row('n1', 'control', 'reachable');
  t.match(reachable, { status: 'fail', detail: /CERT_NOT_YET_VALID/ }, 'weft check fails with the reason');
  t.equal(metric(await metrics(mesh, 'n1'), 'weft_control_connected'), 0);
  const f = await traffic(t, 'GET while control is unusable');
  t.comment(`+600 s: control unreachable for the agents (${String(reachable?.detail)}); ${f}`);
});
