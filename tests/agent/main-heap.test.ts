// agent/main-heap.ts: which V8 flags the main thread is missing (table), and the re-execution
// itself on a real node process: same pid, the flag in effect (V8's own heap statistics), the
// original arguments and environment kept.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mainHeapFlags, reexecWithFlags } from '../../agent/main-heap.ts';

t.test('mainHeapFlags', async (t) => {
  const rows: Array<[string, number, string[], string, string[]]> = [
    ['16 MiB young generation: semi-spaces of a third', 16, [], '', ['--max-semi-space-size=5']],
    ['rounds to a whole MiB, at least 1', 2, [], '', ['--max-semi-space-size=1']],
    ['0 turns the cap off', 0, [], '', []],
    ['the operator\'s command-line flag wins', 16, ['--max-semi-space-size=32'], '', []],
    ['underscores are the same flag to V8', 16, ['--max_semi_space_size=32'], '', []],
    ['so does NODE_OPTIONS', 16, [], '--enable-source-maps --max-semi-space-size=8', []],
    ['other flags do not count', 16, ['--max-old-space-size=512'], '--max-semi-space', ['--max-semi-space-size=5']],
  ];
  for (const [name, mb, argv, opts, want] of rows) t.same(mainHeapFlags(mb, argv, opts), want, name);
});

t.test('nothing to add, or no execve: returns without a word or with a warning', async (t) => {
  const warned: string[] = [];
  const p = { execPath: '/bin/false', execArgv: [], argv: ['node', 'x'], env: {} };
  reexecWithFlags([], { ...p, execve: () => { throw new Error('must not run'); } }, (m) => warned.push(m));
  t.same(warned, []);
  reexecWithFlags(['--max-semi-space-size=5'], p, (m) => warned.push(m));
  t.equal(warned.length, 1, 'no execve: warned, and the caller goes on');
  reexecWithFlags(['--max-semi-space-size=5'], { ...p, execve: () => { throw new Error('EPERM'); } }, (m) => warned.push(m));
  t.equal(warned.length, 2, 'a failing execve: warned, and the caller goes on');
});

t.test('re-executes the same process with the flag in effect', async (t) => {
  const mod = fileURLToPath(new URL('../../agent/main-heap.ts', import.meta.url));
  // The child churns short-lived objects and prints its pid and new-space size, before and after:
  // a young generation that may not grow past the cap shows in V8's own new_space statistics.
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { mainHeapFlags, reexecWithFlags } from ${JSON.stringify(mod)};
    const churn = () => { let keep = []; for (let r = 0; r < 150; r++) { const a = []; for (let i = 0; i < 20000; i++) a.push({ i }); keep.push(a); if (keep.length > 5) keep.shift(); } };
    churn();
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    console.log(JSON.stringify({ pid: process.pid, newSpace, execArgv: process.execArgv, arg: process.argv[2], env: process.env.MAIN_HEAP_TEST }));
    reexecWithFlags(mainHeapFlags(6, process.execArgv, process.env.NODE_OPTIONS ?? ''), { execPath: process.execPath, execArgv: process.execArgv, argv: process.argv, env: process.env, execve: process.execve?.bind(process) }, (m) => console.log(JSON.stringify({ warn: m })));
  `;
  // A script file, as the agent is: argv[1] is the script, argv[2] its first argument.
  const file = join(t.testdir(), 'child.mjs');
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file, 'an-argument'], { encoding: 'utf8', env: { ...process.env, MAIN_HEAP_TEST: 'kept', NODE_OPTIONS: '' } });
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { pid: number; newSpace: number; execArgv: string[]; arg: string; env: string; warn?: string });
  t.equal(lines.length, 2, 'ran twice: before and after the re-execution, and not a third time');
  const [before, after] = lines;
  t.equal(after.pid, before.pid, 'the same process');
  t.ok(after.execArgv.includes('--max-semi-space-size=2'), 'with the flag');
  t.equal(after.arg, 'an-argument', 'its arguments');
  t.equal(after.env, 'kept', 'and its environment');
  t.ok(after.newSpace <= 2 * 2 * 1024 * 1024, `new space within two 2 MiB semi-spaces (${after.newSpace})`);
  t.ok(before.newSpace > after.newSpace, `uncapped, the same churn grew it further (${before.newSpace})`);
});
