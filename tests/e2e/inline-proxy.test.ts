// The proxy inline on the agent's main thread (WEFT_PROXY_INLINE: `auto` with one worker, as on a
// one-core node): one V8 isolate runs the config stream, the secret manager, redirection and the
// proxy. The mesh must behave exactly as with worker threads: L7 across nodes, an L7 DENY,
// byte-exact TCP through HBONE, proxy stats and memory in the admin dump, and a SIGTERM drain that
// leaves no rule behind. Oracles: the apps' answers, iptables-save, and the admin API's own report
// of where the proxy runs. Memory figures live in bench/idle-rss.ts, not here.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { proxyStats, tcpClient } from './helpers.ts';

const tb = await withTestbed(t, {
  name: 'inline-proxy',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web', namespace: 'demo' }, { name: 'echo', namespace: 'demo' }] },
  ],
});
const base: ClusterSpec = { meshedNamespaces: ['demo'], services: [] };
// One worker and the default WEFT_PROXY_INLINE=auto: the proxy runs on the main thread.
const mesh = await Mesh.start(tb, { cluster: base, agentEnv: { WEFT_WORKERS: '1' } });
t.teardown(() => mesh.stop());
await mesh.startApp('web', 'http-server.ts', ['--port', '8080', '--name', 'web']);
await mesh.startApp('echo', 'tcp-server.ts', ['--port', '9000']);

interface AgentDump { agent: { workers: number; proxyInline: boolean } }
interface MemoryDumpBody { memory: { workers: (object | null)[]; main: { usedBytes: number } } }
async function curl(url: string): Promise<{ status: number; deniedBy?: string }> {
  const r = await tb.exec(tb.pod('client').netns, 'curl', ['-s', '-o', '/dev/null', '-D', '-', '--max-time', '20', url]);
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1] ?? 0), deniedBy: /^weft-denied-by: (\S+)/im.exec(r.stdout)?.[1] };
}
const web = `http://${tb.pod('web').ip}:8080`;

t.test('the agent says where its proxy runs', async (t) => {
  for (const n of ['n1', 'n2']) {
    t.match((await mesh.admin(n, '/config_dump/agent')).body as AgentDump, { agent: { workers: 1, proxyInline: true } }, `${n}: one proxy, inline`);
    const mem = ((await mesh.admin(n, '/config_dump/memory')).body as MemoryDumpBody).memory;
    t.same(mem.workers, [null], `${n}: no heap but the main one`);
    t.ok(mem.main.usedBytes > 0);
  }
});

t.test('L7 across nodes, and an L7 DENY', async (t) => {
  t.equal((await curl(`${web}/`)).status, 200);
  const deny = { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'no-admin', namespace: 'demo' }, spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }] } };
  await mesh.writeCluster({ ...base, extraObjects: [deny] });
  await mesh.waitUntil(async () => (await curl(`${web}/admin/x`)).status === 403, 30_000, 'the DENY to apply');
  t.same(await curl(`${web}/admin/x`), { status: 403, deniedBy: 'demo/no-admin' });
  t.equal((await curl(`${web}/`)).status, 200, 'other paths pass');
  await mesh.writeCluster(base);
});

t.test('opaque TCP over HBONE is byte-exact, and the stats count it', async (t) => {
  const before = (await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened;
  const r = await tcpClient(mesh, 'client', tb.pod('echo').ip, 9000, 'echo', ['--bytes', String(512 * 1024), '--seed', '31']);
  t.ok(r.ok, 'echo is byte-exact');
  t.ok((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened > before, 'carried by the HBONE path');
});

t.test('WEFT_PROXY_INLINE=never keeps a worker thread even for one proxy', async (t) => {
  await mesh.stopAgent('n1');
  await mesh.startAgent('n1', { WEFT_PROXY_INLINE: 'never' });
  await mesh.waitReady('n1');
  t.match((await mesh.admin('n1', '/config_dump/agent')).body as AgentDump, { agent: { workers: 1, proxyInline: false } });
  const mem = ((await mesh.admin('n1', '/config_dump/memory')).body as MemoryDumpBody).memory;
  t.ok(mem.workers[0] !== null, 'the worker reports a heap of its own');
  t.equal((await curl(`${web}/`)).status, 200);
  await mesh.stopAgent('n1');
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
});

t.test('SIGTERM drains the inline proxy and removes the redirection', async (t) => {
  t.match((await tb.exec(tb.node('n2').netns, 'iptables-save', ['-t', 'mangle'])).stdout, /WEFT/, 'installed while running');
  t.equal(await mesh.stopAgent('n2'), 0, 'the agent exits 0');
  t.notMatch((await tb.exec(tb.node('n2').netns, 'iptables-save', [])).stdout, /WEFT/, 'no rule left');
});
