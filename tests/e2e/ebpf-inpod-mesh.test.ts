// The mesh end to end with pod-scope capture in eBPF mode (WEFT_CAPTURE_SCOPE=pod,
// WEFT_REDIRECT_MODE=ebpf): the agents open their listeners inside each meshed pod's namespace and
// attach the tc programs there (agent/redirect/ebpf-pod-capture.ts). Real agents, control, curl,
// HTTP servers in pods. What is checked, each from outside the agent: the programs sit in the pods'
// namespaces and nothing of the node-scope eBPF mode in the nodes'; a Service VIP, a pod on the
// same node and one across nodes answer through the mesh (the pods' own decision counters move,
// an L7 DENY on /admin is enforced on each path); STRICT refuses plaintext from an unmeshed pod on
// the same node (traffic a node-level capture on a bridge never saw) and from another node, while
// mTLS traffic flows; an agent stopped with SIGTERM leaves nothing in the pods.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { testbedName } from '../ebpf/mode.ts';

const VIP = '10.96.0.10';
const tb = await withTestbed(t, {
  name: testbedName('inpod', 'ebpf'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'near', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }] },
    { name: 'n2', pods: [{ name: 'far', namespace: 'demo' }, { name: 'outsider', namespace: 'legacy' }] },
  ],
});
const DENY = {
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-admin', namespace: 'demo' },
  spec: { selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['near', 'far'] }] }, action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }] },
};
const STRICT = { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name: 'mtls', namespace: 'demo' }, spec: { mtls: { mode: 'STRICT' } } };
const cluster = {
  meshedNamespaces: ['demo'],
  services: [{ name: 'far', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'far' }],
  extraObjects: [DENY],
};
const mesh = await Mesh.start(tb, {
  redirectMode: 'ebpf',
  captureScope: 'pod',
  cluster,
  controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' },
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
  t.equal((await curl('legacy', `http://${tb.pod('near').ip}:8080/admin/x`)).status, 403, 'plaintext from an unmeshed pod on the same node is captured in near and refused too');
});

t.test('STRICT refuses plaintext, same node and across nodes; mTLS flows', async (t) => {
  await mesh.writeCluster({ ...cluster, extraObjects: [DENY, STRICT] });
  await mesh.waitUntil(async () => {
    for (const node of ['n1', 'n2']) {
      const b = (await mesh.admin(node, '/config_dump/policies')).body as { policies: { workloads: Record<string, { mtls: string }> } };
      const w = node === 'n1' ? 'demo/near' : 'demo/far';
      if (b.policies.workloads[w]?.mtls !== 'STRICT') return false;
    }
    return true;
  }, 30_000, 'both agents to enforce STRICT');
  const nearIn = await podCounter('near', INBOUND);
  t.not((await curl('legacy', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'unmeshed pod → near (same node): refused');
  t.ok((await podCounter('near', INBOUND)) > nearIn, 'it was near\'s ingress program that captured it');
  t.not((await curl('outsider', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'unmeshed pod on n2 → near: refused');
  t.equal((await curl('client', `http://${tb.pod('near').ip}:8080/`)).status, 200, 'meshed client → near still flows');
  t.equal((await curl('client', `http://${VIP}/`)).status, 200, 'meshed client → VIP still flows');
  t.equal((await curl('legacy', `http://${tb.pod('outsider').ip}:8080/`)).status, 200, 'unmeshed → unmeshed is untouched');
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
  t.equal((await curl('client', `http://${tb.pod('far').ip}:8080/admin/x`)).status, 403, 'policy still enforced');
});

t.test('an agent stopped with SIGTERM leaves nothing in its pods', async (t) => {
  await mesh.stopAgent('n2');
  t.same(await podPrograms('far'), [], 'far: no program');
  const rules = (await tb.exec(tb.pod('far').netns, 'ip', ['rule', 'show'])).stdout;
  t.notMatch(rules, /0x53a/, 'far: no capture rule');
  const pins = await tb.exec(tb.node('n2').netns, 'find', [mesh.pinRoot ?? '', '-path', '*-pods/*']);
  t.equal(pins.stdout.trim(), '', 'n2: no pod pins');
});
