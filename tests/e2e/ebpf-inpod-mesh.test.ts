// The mesh end to end with pod-scope capture in eBPF mode (WEFT_CAPTURE_SCOPE=pod,
// WEFT_REDIRECT_MODE=ebpf): the agents open their listeners inside each meshed pod's namespace and
// attach the tc programs there (agent/redirect/ebpf-pod-capture.ts). Real agents, control, curl,
// HTTP servers in pods. What is checked, each from outside the agent: the programs sit in the pods'
// namespaces and nothing of the node-scope eBPF mode in the nodes'; a pod the model learns late is
// captured through the real weft-cni plugin before its ADD returns; a Service VIP, a pod on the
// same node and one across nodes answer through the mesh (the pods' own decision counters move,
// an L7 DENY on /admin is enforced on each path); plaintext from an unmeshed pod is captured at
// the destination pod, on the same node too (traffic a node-level capture on a bridge never saw),
// delivered under PERMISSIVE and refused under STRICT while mTLS flows; a killed agent's successor
// adopts the pinned programs; an agent stopped with SIGTERM leaves nothing in its pods.
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { testbedName } from '../ebpf/mode.ts';
import { rejectedInput } from './sec-helpers.ts';

const VIP = '10.96.0.10';
const WEFT_CNI = fileURLToPath(new URL('../../agent/native/build/weft-cni', import.meta.url));
const tb = await withTestbed(t, {
  name: testbedName('inpod', 'ebpf'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'near', namespace: 'demo' }, { name: 'late', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }] },
    { name: 'n2', pods: [{ name: 'far', namespace: 'demo' }, { name: 'outsider', namespace: 'legacy' }] },
  ],
});
const DENY = {
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-admin', namespace: 'demo' },
  spec: { selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['near', 'far'] }] }, action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }] },
};
const STRICT = { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'mtls', namespace: 'demo' }, spec: { mtls: { mode: 'STRICT' } } };
const cluster: ClusterSpec = {
  meshedNamespaces: ['demo'],
  services: [{ name: 'far', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'far' }],
  extraObjects: [DENY],
  // `late`'s namespace is up but the model does not know it yet (learned through weft-cni below).
  absentPods: ['late'],
};
const mesh = await Mesh.start(tb, {
  redirectMode: 'ebpf',
  captureScope: 'pod',
  cluster,
  controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
  // A CNI ADD for a pod the model does not know yet waits for it (the default is not to wait).
  agentEnv: { WEFT_CNI_WAIT_MS: '60000' },
});
t.teardown(() => mesh.stop());
for (const pod of ['near', 'far']) await mesh.startApp(pod, 'http-server.ts', ['--port', '8080', '--name', pod]);
await mesh.startApp('outsider', 'http-server.ts', ['--port', '8080', '--name', 'outsider']);

/** Our tc programs in a pod's namespace, as "dev hook name". */
async function podPrograms(pod: string): Promise<string[]> {
  const netns = tb.pod(pod).netns;
  const out: string[] = [];
  for (const [dev, hook] of [['eth0', 'egress'], ['eth0', 'ingress'], ['lo', 'ingress']]) {
    const rows = JSON.parse((await tb.exec(netns, 'tc', ['-j', 'filter', 'show', 'dev', dev, hook])).stdout || '[]') as Array<{ options?: { prog?: { name?: string } } }>;
    for (const r of rows) if (r.options?.prog?.name !== undefined) out.push(`${dev} ${hook} ${r.options.prog.name}`);
  }
  return out;
}
const CAPTURED = ['eth0 egress weft_pod_out', 'eth0 ingress weft_pod_in', 'lo ingress weft_pod_lo'];

/** A pod's decision counters from its pinned weft_pod_stats (read with bpftool, by index). */
async function podCounter(pod: string, reasonIndex: number): Promise<number> {
  const root = mesh.pinRoot ?? '';
  const p = tb.pod(pod);
  const found = await tb.exec(tb.node(p.node).netns, 'find', [root, '-path', `*-pods/${p.namespace}_${pod}-*/maps/weft_pod_stats`]);
  let n = 0;
  for (const map of found.stdout.split('\n').filter((l) => l !== '')) {
    const rows = JSON.parse((await tb.exec(tb.node(p.node).netns, 'bpftool', ['-j', 'map', 'dump', 'pinned', map])).stdout || '[]') as Array<{ key: string[]; value: string[] }>;
    for (const r of rows) {
      if (parseInt(r.key[0], 16) !== reasonIndex) continue;
      n += r.value.reduceRight((acc, h) => acc * 256 + parseInt(h, 16), 0);
    }
  }
  return n;
}
// enum weft_pod_reason (ebpf/include/weft-podns.h).
const OUTBOUND = 10;
const INBOUND = 11;

async function curl(pod: string, url: string): Promise<{ status: number; body: string }> {
  const r = await tb.exec(tb.pod(pod).netns, 'curl', ['-s', '-m', '10', '-o', '-', '-w', '\n%{http_code}', url]);
  const lines = r.stdout.split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n') };
}

await mesh.waitUntil(async () => {
  for (const pod of ['client', 'near', 'far']) if ((await podPrograms(pod)).length !== CAPTURED.length) return false;
  return true;
}, 60_000, 'every meshed pod captured in its namespace');

t.test('the capture lives in the meshed pods, not in the nodes', async (t) => {
  for (const pod of ['client', 'near', 'far']) t.same(await podPrograms(pod), CAPTURED, `${pod}: the three pod programs`);
  for (const pod of ['legacy', 'outsider']) t.same(await podPrograms(pod), [], `${pod} (not meshed): nothing`);
  t.same(await podPrograms('late'), [], 'late (meshed namespace, not in the model yet): nothing');
  for (const node of ['n1', 'n2']) {
    const links = JSON.parse((await tb.exec(tb.node(node).netns, 'ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
    const node_: string[] = [];
    for (const l of links) {
      const f = (await tb.exec(tb.node(node).netns, 'tc', ['filter', 'show', 'dev', l.ifname, 'ingress'])).stdout;
      if (f.includes('weft_')) node_.push(l.ifname);
    }
    t.same(node_, [], `${node}: no node-scope program on any interface`);
  }
});

t.test('a pod the model learns late is captured through weft-cni before its ADD returns', async (t) => {
  const late = tb.pod('late');
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'testbed', type: 'weft-cni', prevResult: { cniVersion: '1.0.0', ips: [{ address: `${late.ip}/32` }] } });
  // The runtime runs the chained plugin with the CNI environment and the configuration on stdin.
  const plugin = spawn(WEFT_CNI, [], {
    env: {
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'ebpf0', CNI_NETNS: `/run/netns/${late.netns}`, CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=late', CNI_PATH: '/opt/cni/bin',
      WEFT_CNI_SOCKET: mesh.cniSocket('n1'),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => { plugin.kill('SIGKILL'); });
  let out = '';
  plugin.stdout.on('data', (d: Buffer) => (out += d.toString()));
  plugin.stdin.end(conf);
  let done = false;
  const exited = new Promise<number | null>((res) => plugin.once('close', (code) => { done = true; res(code); }));
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(done, 'ADD waits while the model does not know the pod');
  cluster.absentPods = [];
  await mesh.writeCluster(cluster);
  t.equal(await exited, 0, 'the plugin succeeded');
  t.same(JSON.parse(out), { cniVersion: '1.0.0', ips: [{ address: `${late.ip}/32` }] }, 'it printed the previous result');
  // Read right as ADD returned, before the pod sent anything.
  t.same(await podPrograms('late'), CAPTURED, 'the programs were in the pod when ADD returned');
  const before = await podCounter('late', OUTBOUND);
  t.equal((await curl('late', `http://${VIP}/`)).status, 200, 'its first connection answers');
  t.ok((await podCounter('late', OUTBOUND)) > before, 'through its in-pod outbound listener');
});

t.test('VIP, same node and cross node answer through the mesh', async (t) => {
  const before = await podCounter('client', OUTBOUND);
  const nearIn = await podCounter('near', INBOUND);
  const vip = await curl('client', `http://${VIP}/`);
  t.equal(vip.status, 200, 'Service VIP');
  t.match(vip.body, /"name":"far"/, 'answered by far');
  const same = await curl('client', `http://${tb.pod('near').ip}:8080/`);
  t.equal(same.status, 200, 'pod on the same node');
  t.match(same.body, /"name":"near"/);
  const cross = await curl('client', `http://${tb.pod('far').ip}:8080/`);
  t.equal(cross.status, 200, 'pod on another node');
  t.ok((await podCounter('client', OUTBOUND)) >= before + 3, 'client\'s egress program sent all three to its in-pod outbound listener');
  t.equal(await podCounter('near', INBOUND), nearIn, 'same-node meshed traffic is delivered by the agent, not re-captured at near');
});

t.test('an L7 DENY is enforced on every path', async (t) => {
  for (const [what, url] of [['VIP', `http://${VIP}/admin/x`], ['same node', `http://${tb.pod('near').ip}:8080/admin/x`], ['cross node', `http://${tb.pod('far').ip}:8080/admin/x`]]) {
    t.equal((await curl('client', url)).status, 403, `${what}: /admin/x refused`);
  }
  t.equal((await curl('client', `http://${tb.pod('far').ip}:8080/ok`)).status, 404, 'another path reaches the app (its own 404)');
  // Plaintext to 15006 is opaque: a DENY with paths matches it on its other conditions and the
  // connection is reset (docs/policy.md), whatever path it would have asked for.
  const nearIn = await podCounter('near', INBOUND);
  t.equal((await curl('legacy', `http://${tb.pod('near').ip}:8080/admin/x`)).status, 0, 'plaintext from an unmeshed pod on the same node is captured in near and reset');
  t.equal((await curl('legacy', `http://${tb.pod('near').ip}:8080/`)).status, 0, 'whatever its path');
  t.ok((await podCounter('near', INBOUND)) >= nearIn + 2, 'by near\'s ingress program');
});

async function mtlsOf(node: string, w: string): Promise<{ mtls?: string; deny: number }> {
  const b = (await mesh.admin(node, '/config_dump/policies')).body as { policies: { workloads: Record<string, { mtls: string; deny: unknown[] }> } };
  const x = b.policies.workloads[w];
  return { mtls: x?.mtls, deny: x?.deny.length ?? 0 };
}

t.test('PERMISSIVE delivers captured plaintext, same node and across nodes', async (t) => {
  cluster.extraObjects = [];
  await mesh.writeCluster(cluster);
  await mesh.waitUntil(async () => (await mtlsOf('n1', 'demo/near')).deny === 0 && (await mtlsOf('n2', 'demo/far')).deny === 0, 30_000, 'the DENY to be lifted');
  const nearIn = await podCounter('near', INBOUND);
  const same = await curl('legacy', `http://${tb.pod('near').ip}:8080/`);
  t.equal(same.status, 200, 'unmeshed pod → near (same node)');
  t.match(same.body, /"name":"near"/);
  t.ok((await podCounter('near', INBOUND)) > nearIn, 'captured by near\'s ingress program on the way');
  t.equal((await curl('outsider', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'unmeshed pod on n2 → near');
});

t.test('STRICT refuses plaintext, same node and across nodes; mTLS flows', async (t) => {
  cluster.extraObjects = [STRICT];
  await mesh.writeCluster(cluster);
  await mesh.waitUntil(async () => (await mtlsOf('n1', 'demo/near')).mtls === 'STRICT' && (await mtlsOf('n2', 'demo/far')).mtls === 'STRICT', 30_000, 'both agents to enforce STRICT');
  const nearIn = await podCounter('near', INBOUND);
  t.not((await curl('legacy', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'unmeshed pod → near (same node): refused');
  t.ok((await podCounter('near', INBOUND)) > nearIn, 'it was near\'s ingress program that captured it');
  t.not((await curl('outsider', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'unmeshed pod on n2 → near: refused');
  t.equal((await curl('client', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'meshed client → near still flows');
  t.equal((await curl('client', `http://${VIP}/`)).status, 200, 'meshed client → VIP still flows');
  t.equal((await curl('legacy', `http://${tb.pod('outsider').ip}:8080/`)).status, 200, 'unmeshed → unmeshed is untouched');
  // A kubelet probe comes from the node's own address: not captured (as in node scope), so STRICT
  // does not fail every readiness probe.
  const probe = await tb.exec(tb.node('n1').netns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '10', `http://${tb.pod('near').ip}:8080/`]);
  t.equal(probe.stdout, '200', 'an HTTP probe from the node reaches the STRICT pod');
});

t.test('a pod dialling the agent\'s in-pod listeners itself is refused, never looped', async (t) => {
  const before = (await rejectedInput(mesh, 'n1')).get('agent_listener') ?? 0;
  const ip = tb.pod('client').ip;
  for (const url of ['http://127.0.0.1:15001/', 'http://127.0.0.1:15006/', `http://${ip}:15001/`, `http://${ip}:15006/`]) {
    const started = Date.now();
    t.equal((await curl('client', url)).status, 0, `${url}: no answer`);
    t.ok(Date.now() - started < 9000, `${url}: refused at once, not held`);
  }
  const after = (await rejectedInput(mesh, 'n1')).get('agent_listener') ?? 0;
  t.equal(after - before, 2, 'the two loopback dials reached the listeners and were refused as agent_listener; on the pod address nothing listens');
  t.equal((await curl('client', `http://${VIP}/`)).status, 200, 'the agent still serves');
});

t.test('an agent killed and started again adopts its pods: same programs, nothing doubled, traffic flows', async (t) => {
  const ids = async (pod: string) => (await tb.exec(tb.pod(pod).netns, 'tc', ['-j', 'filter', 'show', 'dev', 'eth0', 'egress'])).stdout.match(/"id":\d+/g) ?? [];
  const before = await ids('client');
  await mesh.stopAgent('n1', 'SIGKILL');
  t.same(await podPrograms('client'), CAPTURED, 'a killed agent leaves the capture in place (pinned)');
  await mesh.startAgent('n1');
  await mesh.waitReady('n1', 60_000);
  t.same(await ids('client'), before, 'the new agent runs the very same programs (adopted, not reloaded)');
  await mesh.waitUntil(async () => (await curl('client', `http://${tb.pod('near').ip}:8080/`)).status === 200, 60_000, 'client → near after the restart');
  for (const pod of ['client', 'near']) t.same(await podPrograms(pod), CAPTURED, `${pod}: still exactly one program per hook`);
  const rules = (await tb.exec(tb.pod('client').netns, 'ip', ['rule', 'show'])).stdout.split('\n').filter((l) => l.includes('0x53a'));
  t.equal(rules.length, 1, 'one capture rule');
  t.equal((await curl('client', `http://${VIP}/`)).status, 200, 'VIP');
  t.equal((await curl('client', `http://${tb.pod('far').ip}:8080/`)).status, 200, 'cross node');
});

t.test('a pod unmeshed while its agent was down loses its programs when the agent is back', async (t) => {
  await mesh.stopAgent('n1', 'SIGKILL');
  t.same(await podPrograms('near'), CAPTURED, 'the killed agent left near captured');
  await mesh.writeCluster({ ...cluster, absentPods: ['late', 'near'] });
  await mesh.startAgent('n1');
  await mesh.waitReady('n1', 60_000);
  await mesh.waitUntil(async () => (await podPrograms('near')).length === 0, 60_000, "the new agent to remove near's stale programs");
  t.same(await podPrograms('client'), CAPTURED, 'the pod still meshed keeps its capture');
  t.equal((await curl('client', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'near answers (nothing steers it at a dead listener)');
  await mesh.writeCluster(cluster);
  await mesh.waitUntil(async () => (await podPrograms('near')).length === CAPTURED.length, 60_000, 'near to be captured again once meshed');
});

t.test('an agent stopped with SIGTERM leaves nothing in its pods', async (t) => {
  await mesh.stopAgent('n2');
  t.same(await podPrograms('far'), [], 'far: no program');
  const rules = (await tb.exec(tb.pod('far').netns, 'ip', ['rule', 'show'])).stdout;
  t.notMatch(rules, /0x53a/, 'far: no capture rule');
  const pins = await tb.exec(tb.node('n2').netns, 'find', [mesh.pinRoot ?? '', '-path', '*/weft-n2-*']);
  t.equal(pins.stdout.trim(), '', 'n2: no pod pins');
});
