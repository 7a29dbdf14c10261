// The README's main command, run as a user would (bounded): it comes up, every traffic loop gets
// answers, and it leaves no namespace behind; the same with --kubernetes (below).
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../testbed/run.ts';
import { kubeBinaries } from '../kube/kube-binaries.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

t.test('the sandbox runs traffic through the mesh and cleans up', async (t) => {
  const child = spawn(process.execPath, ['scripts/sandbox.ts', '--duration', '8', '--interval', '300'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGINT');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0, `exit 0 (output tail: ${out.slice(-1500)})`);
  t.match(out, /weft sandbox is running/);
  t.match(out, /curl -s --unix-socket \S+admin-node-1\.sock/, 'prints how to look at it');
  const last = out.slice(out.lastIndexOf('['));
  for (const loop of ['Service VIP', 'same node', 'passthrough', 'plaintext into the mesh']) {
    t.match(last, new RegExp(`[1-9]\\d* ok / 0 failed\\s+\\S.*${loop}`), `traffic flows: ${loop}`);
  }
  t.match(out, /everything is gone/);
  const ns = await run('ip', ['netns', 'list']);
  t.notMatch(ns.stdout, /weft-sandbox-/, 'no sandbox namespace left');
});

// `--kubernetes`: the same sandbox on a real kube-apiserver; the test does what the printed
// instructions tell a user: applies the DENY policy with the printed kubectl command, sees the
// client's loops refused while the plaintext loop is untouched, deletes it and sees them recover.
interface LoopRow { ok: number; failed: number; error: string }
/** Every summary the sandbox printed so far, each as loop name → counters. */
function summaries(out: string): Array<Map<string, LoopRow>> {
  const all: Array<Map<string, LoopRow>> = [];
  for (const block of out.split(/^\[\d\d:\d\d:\d\d\]$/m).slice(1)) {
    const rows = new Map<string, LoopRow>();
    for (const line of block.split('\n')) {
      const m = /^\s+(\d+) ok \/ (\d+) failed(?: \((.*?)\))?\s+(\S.*)$/.exec(line);
      if (m !== null) rows.set(m[4], { ok: Number(m[1]), failed: Number(m[2]), error: m[3] ?? '' });
    }
    if (rows.size > 0) all.push(rows);
  }
  return all;
}
const row = (s: Map<string, LoopRow>, part: string): LoopRow => [...s].find(([name]) => name.includes(part))?.[1] ?? { ok: 0, failed: 0, error: '' };

const bins = await kubeBinaries();
t.test('sandbox --kubernetes: a real API server, and a policy applied with the printed kubectl command takes effect', typeof bins === 'string' ? { skip: `no real API server: ${bins}` } : {}, async (t) => {
  const child = spawn(process.execPath, ['scripts/sandbox.ts', '--kubernetes', '--duration', '180', '--interval', '300', '--summary', '2'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGINT');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const until = async (what: string, pred: () => boolean, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: not seen (exit ${child.exitCode}); output tail: ${out.slice(-2500)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await until('the sandbox to run', () => /weft sandbox is running/.test(out) && summaries(out).length > 0, 120_000);
  t.match(out, /real kube-apiserver v1\.28\.7/, 'says it runs on a real API server');
  const apply = /^\s+(\S+\/kubectl) --kubeconfig (\S+) apply -f (\S+deny-client\.yaml)/m.exec(out);
  t.ok(apply !== null, 'prints the kubectl command that applies the DENY policy');
  if (apply === null) return;
  const kubectl = (verb: string) => run(apply[1], ['--kubeconfig', apply[2], verb, '-f', apply[3]]);
  const first = summaries(out).at(-1)!;
  for (const loop of ['Service VIP', 'same node', 'passthrough', 'plaintext into the mesh']) {
    t.ok(row(first, loop).ok > 0 && row(first, loop).failed === 0, `traffic flows before the policy: ${loop} ${JSON.stringify(row(first, loop))}`);
  }
  const applied = await kubectl('apply');
  t.equal(applied.code, 0, `kubectl apply: ${applied.stdout}${applied.stderr}`);
  const atApply = summaries(out).length;
  await until('the client loops to be refused', () => {
    const s = summaries(out).slice(atApply);
    return s.length >= 2 && row(s.at(-1)!, 'Service VIP').failed > row(s.at(-2)!, 'Service VIP').failed && row(s.at(-1)!, 'Service VIP').ok === row(s.at(-2)!, 'Service VIP').ok;
  });
  const denied = summaries(out).at(-1)!;
  t.match(row(denied, 'Service VIP').error, /HTTP 403/, 'the Service VIP loop is answered 403');
  t.ok(row(denied, 'same node').failed > 0, 'the same-node loop is refused too');
  t.equal(row(denied, 'plaintext into the mesh').failed, 0, 'the legacy client\'s loop (not demo/client) is untouched');
  const deleted = await kubectl('delete');
  t.equal(deleted.code, 0, `kubectl delete: ${deleted.stderr}`);
  const atDelete = summaries(out).length;
  await until('the client loops to recover', () => {
    const s = summaries(out).slice(atDelete);
    return s.length >= 2 && row(s.at(-1)!, 'Service VIP').ok > row(s.at(-2)!, 'Service VIP').ok && row(s.at(-1)!, 'Service VIP').failed === row(s.at(-2)!, 'Service VIP').failed;
  });
  t.pass('deleting the policy lifts it');
  // Ctrl-C, as a user stops it (--duration is only a safety net here).
  child.kill('SIGINT');
  const code = await closed;
  t.equal(code, 0, `exit 0 (output tail: ${out.slice(-1500)})`);
  t.match(out, /everything is gone/);
  const ns = await run('ip', ['netns', 'list']);
  t.notMatch(ns.stdout, /weft-sandbox-/, 'no sandbox namespace left');
  const ps = await run('ps', ['-eo', 'args']);
  t.notMatch(ps.stdout, /weft-kube-sandbox-/, 'no API server, etcd or controller-manager left');
});
