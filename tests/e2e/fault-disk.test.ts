// Faults: the disk under the agent's writes fills up. The agent writes no state to disk (its
// certificates, keys and config live in memory; redirection lives in the kernel), so what it
// writes are its log lines and, with WEFT_ACCESS_LOG, one line per connection. Here both go to a
// file on a tiny tmpfs that is then filled (ENOSPC on every write).
// Promise: the agent keeps serving (nothing lost), counts what it could not write
// (weft_log_write_failures_total, `weft check`), keeps its state, and once space returns its
// first line says how many lines were lost and why (WEFT_ERR_LOG_WRITE).
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { run } from '../testbed/run.ts';
import { tcpClient } from './helpers.ts';
import { assertNothingLost, figures, metric, metrics, startSteady, weftCheck } from './fault-load.ts';

const tb = await withTestbed(t, {
  name: 'fault-disk',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, agentEnv: { WEFT_WORKERS: '1', WEFT_DRAIN_MS: '1000' } });
t.teardown(() => mesh.stop());
await mesh.startApp('web', 'l7-server.ts', ['--port', '8080', '--name', 'web']);
await mesh.startApp('web', 'tcp-server.ts', ['--port', '9000']);

// A 256 KiB disk for n1's log, unmounted even when the test fails.
const disk = await mkdtemp(join(tmpdir(), 'weft-fault-disk-'));
const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', disk]);
if (mounted.code !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
t.teardown(async () => {
  await mesh.stopAgent('n1');
  await run('umount', ['-l', disk]);
  await rm(disk, { recursive: true, force: true });
});
const logFile = join(disk, 'agent-n1.log');
await mesh.stopAgent('n1');
await mesh.startAgent('n1', { WEFT_ACCESS_LOG: 'true' }, { logFile });
await mesh.waitReady('n1');

/** Fills the disk: writes until ENOSPC. */
async function fill(): Promise<void> {
  const err = await writeFile(join(disk, 'filler'), Buffer.alloc(512 * 1024, 1)).then(() => null, (e: NodeJS.ErrnoException) => e.code);
  if (err !== 'ENOSPC') throw new Error(`expected ENOSPC filling the disk, got ${String(err)}`);
}

async function traffic(t: Parameters<typeof assertNothingLost>[0], what: string): Promise<string> {
  const s = await startSteady(mesh, 'client', ['--urls', `http://${tb.pod('web').ip}:8080/`, '--method', 'PUT', '--bytes', '4096', '--concurrency', '2', '--duration', '3000', '--timeout', '10000']);
  await s.app.exited;
  const r = await s.finish();
  assertNothingLost(t, r, what);
  // A fresh connection per request too: each one is an access-log line.
  const tcp = await tcpClient(mesh, 'client', tb.pod('web').ip, 9000, 'echo', ['--bytes', '20000', '--connections', '20']);
  t.ok(tcp.ok && tcp.sha256Received === tcp.sha256Sent, `20 opaque connections, every byte back (${tcp.bytesReceived})`);
  return figures(r);
}

interface StateDump { state: { version: number; records: number } }

t.test('the log disk full: the agent serves on, counts the lost lines, keeps its state, and tells once it can', async (t) => {
  const pid = mesh.agentPid('n1');
  const before = ((await mesh.admin('n1', '/config_dump/state')).body as StateDump).state;
  await fill();
  const during = await traffic(t, 'PUT with the log disk full');
  const m = await metrics(mesh, 'n1');
  const lost = metric(m, 'weft_log_write_failures_total', { stream: 'stdout' });
  t.ok(lost > 0, `access-log lines that could not be written are counted (${lost})`);
  t.equal(mesh.agentPid('n1'), pid, 'the same agent process: it did not crash');
  const after = ((await mesh.admin('n1', '/config_dump/state')).body as StateDump).state;
  t.same(after, before, 'its state is intact');
  const check = await weftCheck(mesh, 'n1');
  t.match(check.checks.find((c) => c.name === 'log stdout'), { status: 'warn', detail: /could not be written \(ENOSPC, still failing\).*log disk full/ }, 'weft check says so');
  t.match(check.checks.find((c) => c.name === 'ready'), { status: 'ok' }, 'and the agent is ready');
  const certs = ((await mesh.admin('n1', '/config_dump/certs')).body as { certs: { state: string }[] }).certs;
  t.ok(certs.length > 0 && certs.every((c) => c.state === 'valid'), 'certificates intact');

  await rm(join(disk, 'filler'));
  const again = await traffic(t, 'PUT after space returned');
  const text = await readFile(logFile, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  const at = lines.findIndex((l) => l.includes('"code":"WEFT_ERR_LOG_WRITE"'));
  t.match(lines[at], /"msg":"\d+ log line\(s\) to stdout were lost: ENOSPC — is the log disk full\?"/, 'the first line through says how many were lost and why');
  const parses = (l: string): boolean => {
    try {
      JSON.parse(l);
      return true;
    } catch {
      return false;
    }
  };
  // The second run writes more than the disk holds, so it fills again: the last line may be cut.
  const whole = lines.slice(at, -1);
  t.ok(at >= 0 && whole.length > 0 && whole.every(parses), `from there on the log is whole JSON lines, the notice on its own line (${whole.length} checked)`);
  t.comment(`log disk full: ${lost} lines lost, ${during}; after: ${again}`);
});
