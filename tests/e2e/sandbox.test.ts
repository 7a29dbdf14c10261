// The README's main command, run as a user would (bounded): it comes up, every traffic loop gets
// answers, and it leaves no namespace behind.
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { run } from '../testbed/run.ts';

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
