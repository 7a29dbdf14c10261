// The `weft` CLI (dist/weft.mjs) against a running testbed agent: every command, as tables and
// as -o json, and its errors (no agent, a socket that refuses, permission denied).
import t from 'tap';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { tcpClient } from './helpers.ts';

const WEFT = fileURLToPath(new URL('../../dist/weft.mjs', import.meta.url));

interface Run { code: number; stdout: string; stderr: string }
function weft(args: string[], opts: { uid?: number } = {}): Promise<Run> {
  const [cmd, argv] = opts.uid === undefined ? [process.execPath, [WEFT, ...args]] : ['setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, WEFT, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

const tb = await withTestbed(t, {
  name: 'obs-cli',
  nodes: [{ name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web', namespace: 'demo' }] }],
});
const mesh = await Mesh.start(tb, {
  cluster: { meshedNamespaces: ['demo'], services: [{ name: 'web', namespace: 'demo', clusterIP: '10.96.0.20', port: 80, targetPort: 8080, selector: 'web' }] },
  // Windowed views (top, rates) count from the oldest rate sample inside the window; with the
  // default (60 s, a sample every 10 s) a slow run could take its first sample after the traffic
  // below and show nothing. A long window keeps every sample out of this file's lifetime.
  agentEnv: { WEFT_STATS_WINDOW_SECONDS: '600' },
});
t.teardown(() => mesh.stop());
await mesh.startApp('web', 'tcp-server.ts', ['--port', '8080']);
const sock = mesh.adminSocket('n1');
const on = (...a: string[]): string[] => ['--socket', sock, ...a];
const r = await tcpClient(mesh, 'client', '10.96.0.20', 80, 'echo', ['--bytes', '500', '--connections', '2']);
t.ok(r.ok, 'traffic for the views');

t.test('status, workloads, services', async (t) => {
  const s = await weft(on('status', '-o', 'json'));
  t.equal(s.code, 0, s.stderr);
  const j = JSON.parse(s.stdout) as { ready: boolean; agent: { node: string }; control: { connected: boolean } };
  t.equal(j.ready, true);
  t.equal(j.agent.node, 'n1');
  t.equal(j.control.connected, true);
  t.match((await weft(on('status'))).stdout, /ready\s+yes/);
  const w = JSON.parse((await weft(on('workloads', '-o', 'json'))).stdout) as Array<{ key: string; identity: string }>;
  t.ok(w.some((x) => x.key === 'demo/web' && x.identity === 'spiffe://cluster.local/ns/demo/sa/web'));
  t.match((await weft(on('workloads'))).stdout, /demo\/web\s+\S+\s+yes\s+spiffe:/);
  const sv = JSON.parse((await weft(on('services', '-o', 'json'))).stdout) as Array<{ key: string }>;
  t.ok(sv.some((x) => x.key === 'demo/web'));
  t.match((await weft(on('services'))).stdout, /demo\/web\s+10\.96\.0\.20\s+80→8080/);
});

t.test('certs, policies, config-dump', async (t) => {
  const c = JSON.parse((await weft(on('certs', '-o', 'json'))).stdout) as Array<{ identity: string; state: string; notAfter: string }>;
  const web = c.find((x) => x.identity.endsWith('/sa/web'));
  t.equal(web?.state, 'valid');
  t.ok(Date.parse(web?.notAfter ?? '') > Date.now());
  t.match((await weft(on('certs'))).stdout, /NEXT ROTATION/);
  const p = await weft(on('policies'));
  t.equal(p.code, 0);
  t.match(p.stdout, /WORKLOAD\s+MTLS\s+DEFAULT\s+DENY\s+ALLOW\s+AUDIT/, 'a table of local workloads');
  t.match(p.stdout, /demo\/web\s+PERMISSIVE \(weft:default\)\s+allow \(weft:default\)/, 'with the mesh defaults when no policy selects them');
  const pj = JSON.parse((await weft(on('policies', '-o', 'json'))).stdout) as { workloads: Array<{ workload: string; allow: unknown[] }>; counters: { denied: number } };
  t.ok(pj.workloads.some((w) => w.workload === 'demo/web' && w.allow.length === 0));
  t.equal(pj.counters.denied, 0);
  const d = JSON.parse((await weft(on('config-dump'))).stdout) as Record<string, unknown>;
  for (const k of ['agent', 'control', 'certs', 'proxy', 'telemetry']) t.ok(k in d, `config dump has ${k}`);
  const one = await weft(on('config-dump', 'nope'));
  t.equal(one.code, 1);
  t.match(one.stderr, /WEFT_ERR_CLI_AGENT_ERROR/);
});

t.test('stat, top, edges', async (t) => {
  const s = JSON.parse((await weft(on('stat', 'service', '-o', 'json'))).stdout) as { rows: Array<{ key: { service: string }; tcp: { connectionsOpened: number } }> };
  t.equal(s.rows.find((x) => x.key.service === 'demo/web')?.tcp.connectionsOpened, 2);
  t.match((await weft(on('stat'))).stdout, /NAMESPACE\s+WORKLOAD\s+CONN\/S[\s\S]*demo\s+web/);
  t.match((await weft(on('stat', 'edge'))).stdout, /demo\/client\s+demo\/web\s+none/);
  const bad = await weft(on('stat', 'pods'));
  t.equal(bad.code, 1);
  t.match(bad.stderr, /by must be one of/);
  const top = JSON.parse((await weft(on('top', '-o', 'json'))).stdout) as { destinations: Array<{ destination: string }> };
  t.ok(top.destinations.some((x) => x.destination === 'demo/web'));
  t.match((await weft(on('top'))).stdout, /demo\/web\s+service/);
  const e = JSON.parse((await weft(on('edges', '-o', 'json'))).stdout) as Array<{ source: { workload: string }; destination: { workload: string; identity: string } }>;
  t.ok(e.some((x) => x.source.workload === 'client' && x.destination.identity === 'spiffe://cluster.local/ns/demo/sa/web'));
  t.match((await weft(on('edges'))).stdout, /demo\/client\s+spiffe:\/\/cluster.local\/ns\/demo\/sa\/client\s+demo\/web/);
});

t.test('tap: live events with filters, table and json', async (t) => {
  const tapRun = weft(on('tap', '--workload', 'web', '--count', '1', '--duration', '20', '-o', 'json'));
  await new Promise((res) => setTimeout(res, 1000));
  await tcpClient(mesh, 'client', '10.96.0.20', 80, 'echo', ['--bytes', '42']);
  const out = await tapRun;
  t.equal(out.code, 0, out.stderr);
  const ev = JSON.parse(out.stdout.trim().split('\n')[0]) as { type: string; destination: { workload: string }; bytesReceived: number };
  t.equal(ev.type, 'connection');
  t.equal(ev.destination.workload, 'web');
  t.equal(ev.bytesReceived, 42);
  const human = weft(on('tap', '--namespace', 'demo', '--count', '1', '--duration', '20'));
  await new Promise((res) => setTimeout(res, 1000));
  await tcpClient(mesh, 'client', '10.96.0.20', 80, 'echo', ['--bytes', '7']);
  t.match((await human).stdout, /outbound\s+demo\/client\(.*\) -> demo\/web\(.*\) svc=demo\/web tls=none sent=12 recv=7/);
  const badFilter = await weft(on('tap', '--status-class', '7xx', '--count', '1'));
  t.equal(badFilter.code, 1);
  t.match(badFilter.stderr, /WEFT_ERR_TAP_FILTER/);
});

t.test('check: kernel, agent, control, certificates', async (t) => {
  const c = await weft(on('check', '-o', 'json'));
  const j = JSON.parse(c.stdout) as { ok: boolean; checks: Array<{ group: string; name: string; status: string }> };
  t.ok(j.checks.some((x) => x.group === 'kernel' && x.name === 'iptables'), 'iptables checked');
  t.ok(j.checks.some((x) => x.name === 'BTF (eBPF mode)'));
  t.equal(j.checks.find((x) => x.name === 'ready')?.status, 'ok');
  t.equal(j.checks.find((x) => x.group === 'control' && x.name === 'reachable')?.status, 'ok');
  t.ok(j.checks.some((x) => x.group === 'identity' && x.name.endsWith('/sa/web') && x.status === 'ok'), 'certificate valid');
  t.equal(j.checks.find((x) => x.name === 'clock skew')?.status, 'ok', 'clocks agree (measured from control\'s CSR answers)');
  t.equal(j.checks.find((x) => x.name === 'log stderr')?.status, 'ok', 'every log line written');
  t.match((await weft(on('check'))).stdout, /GROUP\s+CHECK\s+STATUS/);
  const noAgent = await weft(['--socket', '/nonexistent/agent.sock', 'check', '-o', 'json']);
  t.equal(noAgent.code, 1, 'a missing agent fails the check');
  t.match(noAgent.stdout, /WEFT_ERR_CLI_AGENT_UNREACHABLE/);
});

t.test('errors: no agent, refusing socket, permission denied, usage; completion', async (t) => {
  const none = await weft(['--socket', '/nonexistent/agent.sock', 'status']);
  t.equal(none.code, 1);
  t.match(none.stderr, 'is the weft agent running on this node? (WEFT_ERR_CLI_AGENT_UNREACHABLE)');
  const dir = await mkdtemp(join(tmpdir(), 'obs-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Not a listening socket: connect() is refused (ECONNREFUSED), as with a dead agent's stale socket.
  const stale = join(dir, 'stale.sock');
  await writeFile(stale, '');
  const refused = await weft(['--socket', stale, 'workloads', '-o', 'json']);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /ECONNREFUSED.*WEFT_ERR_CLI_AGENT_UNREACHABLE/);
  t.match(JSON.parse(refused.stdout), { error: { code: 'WEFT_ERR_CLI_AGENT_UNREACHABLE' } }, '-o json prints the error as JSON too');
  // Permission denied: root bypasses file modes, so run the CLI as nobody against the real socket.
  await chmod(sock, 0o000);
  t.teardown(() => chmod(sock, 0o660));
  const denied = await weft(['--socket', sock, 'status'], { uid: 65534 });
  t.equal(denied.code, 1, denied.stderr);
  t.match(denied.stderr, /permission denied.*WEFT_ERR_CLI_PERMISSION/);
  const usage = await weft(['frobnicate', '--socket', sock]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /unknown command "frobnicate"/);
  const badAgent = await weft(['--agent', 'nohost', 'status']);
  t.equal(badAgent.code, 2);
  const comp = await weft(['completion', 'bash']);
  t.equal(comp.code, 0);
  t.match(comp.stdout, /complete -F _weft weft/);
  t.match(comp.stdout, /status workloads services certs policies config-dump stat top edges tap check/);
});

t.test('--agent host:port reaches the admin TCP port (inside the node namespace, on its loopback)', async (t) => {
  const n = tb.node('n1');
  const child = tb.spawn(n.netns, process.execPath, [WEFT, '--agent', '127.0.0.1:15020', 'status', '-o', 'json']);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('close', res));
  t.equal(code, 0);
  t.equal((JSON.parse(out) as { agent: { node: string } }).agent.node, 'n1');
});
