// In-pod capture (WEFT_CAPTURE_SCOPE=pod, iptables mode) end to end on the routed testbed: the
// agents open their listeners inside each meshed pod's namespace and capture there. Proves VIP,
// same-node and cross-node traffic (mTLS: only TLS on the HBONE port between nodes), an L7 DENY,
// STRICT refusing plaintext, an agent killed and restarted re-adopting every pod once, a pod the
// model learns late captured through the real weft-cni plugin before it sends a byte, and nothing
// left in any pod namespace after the agents uninstall. Oracles: the kernel (iptables-save and ss
// inside the pods), the wire (tcpdump) and the apps' own answers.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { parsePcap, tlsRecordTypes } from '../common/pcap.ts';
import { patternBytes } from '../apps/tcp-modes.ts';
import { proxyStats, tcpClient } from './helpers.ts';
import { weftCniAdd } from './weft-cni-run.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEFT_CNI = join(ROOT, 'agent/native/build/weft-cni');
const VIP = '10.96.0.10';

const tb = await withTestbed(t, {
  name: 'inpod-mesh',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'near', namespace: 'demo' }, { name: 'late', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }, { name: 'web', namespace: 'demo' }] },
  ],
});
const base: ClusterSpec = {
  meshedNamespaces: ['demo'],
  services: [{ name: 'server', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'server' }],
  // `late` exists (its namespace is up) but the model has not learned it yet.
  absentPods: ['late'],
};
const mesh = await Mesh.start(tb, {
  redirectMode: 'iptables',
  captureScope: 'pod',
  cluster: base,
  // A CNI ADD for a pod the model does not know yet waits this long for it. Two proxy workers (not
  // the 2-core default, inline): the in-pod listeners are then one per worker (SO_REUSEPORT), which
  // the re-adoption check below counts; ebpf-inpod-mesh runs the inline default.
  agentEnv: { WEFT_CNI_WAIT_MS: '60000', WEFT_WORKERS: '2' },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);
await mesh.startApp('near', 'tcp-server.ts', ['--port', '8080']);
await mesh.startApp('web', 'http-server.ts', ['--port', '8080', '--name', 'web']);

interface RedirectDump { mode: string; scope: string; status: { state: string; pods?: { captured: number } }; pods: { captured: number; pods: Array<{ key: string; state: string; inode: number }> } }
async function redirect(node: string): Promise<RedirectDump> {
  return ((await mesh.admin(node, '/config_dump/redirect')).body as { redirect: RedirectDump }).redirect;
}
const capturedKeys = async (node: string): Promise<string[]> => (await redirect(node)).pods.pods.filter((p) => p.state === 'captured').map((p) => p.key).sort();
async function natIn(pod: string): Promise<string> {
  return (await tb.exec(tb.pod(pod).netns, 'iptables-save', ['-t', 'nat'])).stdout;
}
async function listenersIn(pod: string): Promise<string> {
  return (await tb.exec(tb.pod(pod).netns, 'ss', ['-ltnH'])).stdout;
}
async function curl(from: string, url: string): Promise<{ status: number; deniedBy?: string }> {
  const r = await tb.exec(tb.pod(from).netns, 'curl', ['-s', '-o', '/dev/null', '-D', '-', '--max-time', '20', url]);
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1] ?? 0), deniedBy: /^weft-denied-by: (\S+)/im.exec(r.stdout)?.[1] };
}
async function refused(pod: string, host: string, port = 8080): Promise<boolean> {
  try {
    const r = await tcpClient(mesh, pod, host, port, 'echo', ['--bytes', '2000'], 30_000);
    return !r.ok && r.errors.length > 0;
  } catch (err) {
    return /ECONNRESET|ECONNREFUSED|EPIPE/.test((err as Error).message);
  }
}

t.test('every meshed pod is captured once, inside its own namespace; unmeshed ones are untouched', async (t) => {
  await mesh.waitUntil(async () => (await capturedKeys('n1')).length === 2 && (await capturedKeys('n2')).length === 2, 30_000, 'both agents to capture their pods');
  t.same(await capturedKeys('n1'), ['demo/client', 'demo/near']);
  t.same(await capturedKeys('n2'), ['demo/server', 'demo/web']);
  const r = await redirect('n1');
  t.equal(r.scope, 'pod');
  t.match(r.status, { state: 'installed', pods: { captured: 2 } });
  for (const pod of ['client', 'near']) {
    const nat = await natIn(pod);
    t.equal(nat.match(/-j WEFT-INPOD-OUT/g)?.length, 1, `${pod}: one OUTPUT jump`);
    t.equal(nat.match(/-j WEFT-INPOD-IN/g)?.length, 1, `${pod}: one PREROUTING jump`);
    t.match(await listenersIn(pod), /127\.0\.0\.1:15001\b/, `${pod}: the outbound listener lives in the pod`);
  }
  t.notMatch(await natIn('legacy'), /WEFT/, 'the unmeshed pod has no capture');
  t.notMatch(await natIn('late'), /WEFT/, 'nor the pod the model does not know');
  t.notMatch((await tb.exec(tb.node('n1').netns, 'iptables-save', [])).stdout, /WEFT/, 'and the node itself has no Weft rule at all');
});

t.test('cross node: mTLS over HBONE, byte-exact, only TLS on the wire', async (t) => {
  const pcap = join(mesh.dir, 'inpod-n1.pcap');
  const dump = tb.spawn(tb.node('n1').netns, 'tcpdump', ['-i', 'eth0', '-U', '-s', '0', '-w', pcap, 'tcp']);
  let err = '';
  dump.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await mesh.waitUntil(() => err.includes('listening on'), 10_000, 'tcpdump to start');
  const before = (await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened;
  const seed = 777;
  const r = await tcpClient(mesh, 'client', tb.pod('server').ip, 8080, 'echo', ['--bytes', String(256 * 1024), '--seed', String(seed)]);
  dump.kill('SIGINT');
  await new Promise((res) => dump.once('close', res));
  t.ok(r.ok, 'echo is byte-exact');
  t.ok((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened > before, 'carried by the HBONE path');
  const flows = parsePcap(await readFile(pcap));
  const hbone = flows.filter((f) => f.dport === 15008 || f.sport === 15008);
  t.ok(hbone.some((f) => f.payload.length > 0), 'bytes crossed on the HBONE port');
  t.notOk(flows.some((f) => f.dport === 8080 || f.sport === 8080), 'never on the app port');
  for (const f of flows) t.notOk(f.payload.includes(patternBytes(seed, 1000, 32)), `no plaintext in ${f.src}:${f.sport} → ${f.dst}:${f.dport}`);
  t.ok(hbone.filter((f) => f.payload.length > 0).every((f) => tlsRecordTypes(f.payload).length > 0), 'only TLS records');
});

t.test('a Service VIP resolves through the in-pod listener', async (t) => {
  const r = await tcpClient(mesh, 'client', VIP, 80, 'echo', ['--bytes', '5000']);
  t.ok(r.ok);
});

t.test('same node, pod IP: captured at the source pod (not bridged past the agent)', async (t) => {
  const before = (await proxyStats(mesh, 'n1')).paths.outbound_local.opened;
  const r = await tcpClient(mesh, 'client', tb.pod('near').ip, 8080, 'echo', ['--bytes', '70000']);
  t.ok(r.ok);
  t.ok((await proxyStats(mesh, 'n1')).paths.outbound_local.opened > before, 'the agent carried it (outbound_local)');
});

t.test("a pod dialling the agent's own listeners in it is refused, not looped", async (t) => {
  const before = (await proxyStats(mesh, 'n1')).rejected;
  for (const [host, port] of [[tb.pod('client').ip, 15006], ['127.0.0.1', 15001], [tb.pod('client').ip, 15001]] as const) {
    t.ok(await refused('client', host, port), `${host}:${port} is refused`);
  }
  // pod-ip:15001 has no listener at all (the outbound one binds 127.0.0.1): the kernel refuses it.
  t.ok((await proxyStats(mesh, 'n1')).rejected >= before + 2, 'the two that reached a listener are counted as rejected');
  t.ok((await tcpClient(mesh, 'client', tb.pod('server').ip, 8080, 'echo', ['--bytes', '1000'])).ok, 'and the agent serves on');
});

t.test('L7 policy DENY and STRICT', async (t) => {
  const deny = { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'no-admin', namespace: 'demo' }, spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }] } };
  const strict = { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'mtls', namespace: 'demo' }, spec: { mtls: { mode: 'STRICT' } } };
  t.ok(!(await refused('legacy', tb.pod('server').ip)), 'PERMISSIVE: plaintext from an unmeshed pod is delivered');
  await mesh.writeCluster({ ...base, extraObjects: [deny, strict] });
  await mesh.waitUntil(async () => (await curl('client', `http://${tb.pod('web').ip}:8080/admin/x`)).status === 403, 30_000, 'the DENY to apply');
  t.same(await curl('client', `http://${tb.pod('web').ip}:8080/admin/x`), { status: 403, deniedBy: 'demo/no-admin' });
  t.equal((await curl('client', `http://${tb.pod('web').ip}:8080/`)).status, 200, 'other paths pass');
  await mesh.waitUntil(() => refused('legacy', tb.pod('server').ip), 30_000, 'STRICT to refuse plaintext');
  t.ok((await tcpClient(mesh, 'client', tb.pod('server').ip, 8080, 'echo', ['--bytes', '2000'])).ok, 'mTLS from a meshed pod still passes');
  // A kubelet probe comes from the node's own address: never captured (as in node scope), so
  // STRICT does not fail every readiness probe.
  const probe = await tb.exec(tb.node('n2').netns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://${tb.pod('web').ip}:8080/`]);
  t.equal(probe.stdout, '200', 'an HTTP probe from the node reaches the STRICT pod');
  await mesh.writeCluster(base);
  await mesh.waitUntil(async () => !(await refused('legacy', tb.pod('server').ip)), 30_000, 'PERMISSIVE again');
});

t.test('an agent killed and restarted re-adopts every pod, once', async (t) => {
  const inodes = (await redirect('n1')).pods.pods.map((p) => p.inode).sort();
  await mesh.stopAgent('n1', 'SIGKILL');
  t.match(await natIn('client'), /WEFT-INPOD-OUT/, 'a killed agent leaves the rules (the pod fails closed, never around the mesh)');
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
  await mesh.waitUntil(async () => (await capturedKeys('n1')).length === 2, 30_000, 'n1 to re-adopt its pods');
  t.same((await redirect('n1')).pods.pods.map((p) => p.inode).sort(), inodes, 'the same namespaces');
  for (const pod of ['client', 'near']) {
    const nat = await natIn(pod);
    t.equal(nat.match(/-j WEFT-INPOD-OUT/g)?.length, 1, `${pod}: still one OUTPUT jump`);
    t.equal(nat.match(/-A WEFT-INPOD-OUT .*REDIRECT/g)?.length, 1, `${pod}: one REDIRECT rule`);
    // Two workers, one listener each on the outbound port: SO_REUSEPORT, not a second capture.
    t.equal((await listenersIn(pod)).match(/127\.0\.0\.1:15001\b/g)?.length, 2, `${pod}: one outbound listener per worker`);
  }
  t.ok((await tcpClient(mesh, 'client', tb.pod('server').ip, 8080, 'echo', ['--bytes', '3000'])).ok, 'traffic flows again');
});

t.test('a pod unmeshed while its agent was down loses its capture when the agent is back', async (t) => {
  await mesh.stopAgent('n1', 'SIGKILL');
  t.match(await natIn('near'), /WEFT-INPOD-OUT/, 'the killed agent left near captured');
  await mesh.writeCluster({ ...base, absentPods: ['late', 'near'] });
  await mesh.startAgent('n1');
  await mesh.waitReady('n1');
  await mesh.waitUntil(async () => !/WEFT/.test(await natIn('near')), 30_000, "the new agent to remove near's stale rules");
  t.same(await capturedKeys('n1'), ['demo/client'], 'only the pod still meshed is captured');
  t.ok((await tcpClient(mesh, 'client', tb.pod('near').ip, 8080, 'echo', ['--bytes', '1000'])).ok, 'near answers (nothing steers it at a dead listener)');
  await mesh.writeCluster(base);
  await mesh.waitUntil(async () => (await capturedKeys('n1')).length === 2, 30_000, 'near to be captured again once meshed');
});

t.test('a pod the model learns late is captured through weft-cni before it sends a byte', async (t) => {
  const late = tb.pod('late');
  const add = weftCniAdd({ socket: mesh.cniSocket('n1'), netnsPath: `/run/netns/${late.netns}`, namespace: 'demo', pod: 'late', ip: late.ip });
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(add.done(), 'ADD waits while the model does not know the pod');
  await mesh.writeCluster({ ...base, absentPods: [] });
  const { code, out } = await add.exited;
  t.equal(code, 0, 'the plugin succeeded');
  t.same(JSON.parse(out), { cniVersion: '1.0.0', ips: [{ address: `${late.ip}/32` }] }, 'it printed the previous result, as a chained plugin must');
  // Checked right as the plugin returned, before the pod sent anything:
  t.match(await natIn('late'), /-j WEFT-INPOD-OUT/, 'the rules were in when ADD returned');
  t.ok((await capturedKeys('n1')).includes('demo/late'), 'the agent reports it captured');
  const before = (await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened;
  t.ok((await tcpClient(mesh, 'late', tb.pod('server').ip, 8080, 'echo', ['--bytes', '1000'])).ok);
  t.ok((await proxyStats(mesh, 'n1')).paths.outbound_hbone.opened > before, 'its first connection went through the mesh');
});

t.test('bad relay input gets a CNI error, not a crash', async (t) => {
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const p = spawn(WEFT_CNI, [], { env: { CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/none', WEFT_CNI_SOCKET: mesh.cniSocket('n1') }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('close', (code) => resolve({ code, out }));
    p.stdin.end('{"cniVersion":"1.0.0","name":"x","type":"weft-cni"}');
  });
  t.equal(r.code, 1);
  t.match(JSON.parse(r.out), { code: 999, msg: /bad request/, details: /prevResult/ });
  await mesh.waitReady('n1');
});

t.test('uninstall leaves nothing in any pod namespace', async (t) => {
  await mesh.stopAgent('n1');
  await mesh.stopAgent('n2');
  for (const pod of ['client', 'near', 'late', 'server', 'web']) {
    t.notMatch(await natIn(pod), /WEFT|weft/, `${pod}: no rule left`);
    t.notMatch(await listenersIn(pod), /:1500[16]\b/, `${pod}: no listener left`);
  }
});
