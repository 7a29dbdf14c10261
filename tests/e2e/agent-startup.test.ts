// What a user sees when the agent starts without control (issue 20, part 3): the agent must say
// so in its log with a stable code and what to check, it must not log "ready" while /ready
// answers 503 (it logs what it is waiting for instead, and "ready" once /ready answers 200), and
// `weft status` / `weft check` must agree with /ready.
// Real parts: a testbed node namespace, the agent bundle in iptables mode, control over its unix
// socket, the `weft` CLI bundle. Name resolution is made to fail for real: `ip netns exec` bind-
// mounts /etc/netns/<netns>/nsswitch.conf over /etc/nsswitch.conf, and with `hosts: files` an
// unknown name gets getaddrinfo's EAI_NONAME (Node's ENOTFOUND) without any DNS packet leaving.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';

const WEFT = fileURLToPath(new URL('../../dist/weft.mjs', import.meta.url));
const tb = await withTestbed(t, { name: 'agent-startup', nodes: [{ name: 'n1', pods: [{ name: 'web', namespace: 'demo' }] }] });
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] } });
t.teardown(() => mesh.stop());
const netns = tb.node('n1').netns;
const etcDir = `/etc/netns/${netns}`;
t.teardown(() => rm(etcDir, { recursive: true, force: true }));

interface LogLine { level: string; msg: string; [k: string]: unknown }
const lines = (): LogLine[] => mesh.agentLog('n1').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);

function weft(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [WEFT, '--socket', mesh.adminSocket('n1'), ...args], { timeout: 30_000 }, (err, stdout) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('with control reachable, "ready" is logged and /ready answers 200', async (t) => {
  await mesh.waitUntil(() => lines().some((l) => l.msg === 'ready'), 20_000, 'the agent to log ready');
  t.equal((await mesh.admin('n1', '/ready')).status, 200);
});

t.test('control\'s name does not resolve: a warning with a code and what to check; no "ready" while /ready is 503', async (t) => {
  await mesh.stopAgent('n1');
  await mkdir(etcDir, { recursive: true });
  await writeFile(`${etcDir}/nsswitch.conf`, 'hosts: files\n');
  // TCP to control by name, as in a cluster (no unix socket).
  await mesh.startAgent('n1', { WEFT_CONTROL_SOCKET: '', WEFT_CONTROL_ADDRESS: 'weft-control.example.invalid:15012' });
  await mesh.waitUntil(async () => (await mesh.admin('n1', '/ready').catch(() => ({ status: 0 }))).status !== 0, 20_000, 'the admin socket');
  await mesh.waitUntil(() => lines().some((l) => l.code === 'WEFT_ERR_CONTROL_UNREACHABLE'), 20_000, 'a WEFT_ERR_CONTROL_UNREACHABLE line');
  const warn = lines().find((l) => l.code === 'WEFT_ERR_CONTROL_UNREACHABLE');
  t.equal(warn?.level, 'warn', 'logged at warn (the default log level shows it)');
  t.equal(warn?.cause, 'ENOTFOUND', 'the cause is the resolver\'s ENOTFOUND');
  t.match(warn?.msg, /weft-control\.example\.invalid/, 'names the name that did not resolve');
  t.match(warn?.msg, /WEFT_CONTROL_ADDRESS/, 'says which setting to check');
  t.match(warn?.msg, /DNS/, 'and to check DNS');
  // It keeps retrying (every few seconds at most); the line must not repeat for every attempt.
  await sleep(6000);
  const repeats = lines().filter((l) => l.code === 'WEFT_ERR_CONTROL_UNREACHABLE').length;
  t.ok(repeats <= 2, `not logged per retry (${repeats} lines in ~8 s)`);

  const ready = await mesh.admin('n1', '/ready');
  t.equal(ready.status, 503, '/ready answers 503');
  t.notOk(lines().some((l) => l.msg === 'ready'), 'and "ready" was never logged');
  const waiting = lines().find((l) => l.msg === 'not ready');
  t.ok(waiting !== undefined, 'the agent logged that it is not ready');
  t.same(waiting?.waitingFor, (ready.body as { reasons: string[] }).reasons, 'with what it waits for: exactly /ready\'s reasons');

  const status = await weft(['status']);
  t.notMatch(status.stdout, /object Object/, '`weft status` prints no [object Object]');
  t.match(status.stdout, /disconnected \(ENOTFOUND/, '`weft status` shows the cause of the disconnection');
  const check = await weft(['-o', 'json', 'check']);
  const checks = (JSON.parse(check.stdout) as { checks: Array<{ group: string; name: string; status: string; detail: string }> }).checks;
  const redirection = checks.find((c) => c.name === 'redirection');
  t.not(redirection?.status, 'ok', `\`weft check\` does not call redirection OK while /ready says it is not installed (${redirection?.detail})`);
  t.equal(checks.filter((c) => c.name === 'redirection').length, 1, 'one redirection row');
  const reachable = checks.find((c) => c.group === 'control' && c.name === 'reachable');
  t.match(reachable?.detail, /ENOTFOUND/, 'and the control check names the cause');
});

t.test('when control comes back, "ready" is logged once /ready answers 200', async (t) => {
  await mesh.stopAgent('n1');
  await rm(etcDir, { recursive: true, force: true });
  await mesh.startAgent('n1');
  await mesh.waitUntil(() => lines().some((l) => l.msg === 'ready'), 30_000, 'the agent to log ready');
  t.equal((await mesh.admin('n1', '/ready')).status, 200, '/ready answers 200 once "ready" is logged');
  const i = lines().findIndex((l) => l.msg === 'ready');
  t.ok(lines().slice(0, i).some((l) => l.msg === 'snapshot applied'), 'and it came after the snapshot, not before');
});
