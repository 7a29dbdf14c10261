// One cell of the CNI matrix (tests/e2e/cni-*.test.ts): a testbed of one CNI shape (routed /32
// veths, or the bridge plugin's cni0 with br_netfilter and the real kube-proxy in iptables mode)
// run as a real cluster (tests/kube), one mesh in one redirect mode and capture scope, and the
// five things a user expects of a mesh, checked inside that one start:
//
//   vip        a meshed pod's request to a ClusterIP is carried by the agents (and, with
//              kube-proxy there, never DNATed by it: its KUBE-SEP counters stay still)
//   same node  a request to a pod IP on the same node goes through the agent
//   cross node a request to a pod on the other node crosses the wire as TLS 1.3 on the HBONE
//              port, the payload never visible, the server side naming the client's identity
//   L7 deny    an AuthorizationPolicy denying a path (kubectl apply) answers 403 on both nodes
//              and through the VIP, the app never reached
//   strict     a STRICT MeshPolicy refuses plaintext from an unmeshed pod, same node and across
//
// Each check is a function of the running cell, so the node-scope defect test (issue 20) runs the
// very same checks and shows which of them node-level capture fails on a bridge CNI.
import { readFile } from 'node:fs/promises';
import { podCaptureNames } from '../../agent/redirect/index.ts';
import { join } from 'node:path';
import type { Test } from 'tap';
import { withTestbed, type CniShape, type Testbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { startTestbedKube, type TestbedKube } from '../kube/testbed-kube.ts';
import { startKubeProxies, type KubeProxies } from '../kube/testbed-kube-proxy.ts';
import { sepPackets } from '../kube/kube-proxy-rules.ts';
import { parsePcap, selectsTls13, tlsRecordTypes } from '../common/pcap.ts';
import type { RunningApp } from '../apps/spawn-app.ts';
import { testbedName, type RedirectMode } from '../ebpf/mode.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';
import { proxyStats, type ProxyDump } from './helpers.ts';

export type CaptureScope = 'node' | 'pod';

export interface CellSpec {
  cni: CniShape;
  mode: RedirectMode;
  scope: CaptureScope;
}

export const VIP = '10.96.0.20';
const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';

export interface Cell {
  spec: CellSpec;
  tb: Testbed;
  mesh: Mesh;
  kube: TestbedKube;
  /** Present in the bridge shape (kube-proxy runs there). */
  proxies: KubeProxies | undefined;
  servers: Map<string, RunningApp>;
  /** Milliseconds from the start of setup until the mesh and apps were up. */
  setupMs: number;
}

export function cellName(s: CellSpec): string {
  // eBPF meshes mount a private bpffs named after the testbed, which must start with ebpf-.
  return testbedName(`cni-${s.cni === 'bridge' ? 'br' : 'rt'}-${s.scope}`, s.mode);
}

export interface GetResult { ok: boolean; status?: number; headers?: Record<string, string>; body?: Record<string, unknown>; error?: string }

/**
 * Builds the cell; null (after a skipped test naming why) when the Kubernetes binaries are
 * missing. Everything is torn down with `t`.
 */
export async function startCell(t: Test, spec: CellSpec): Promise<Cell | null> {
  const t0 = Date.now();
  const name = cellName(spec);
  const tb = await withTestbed(t, {
    name,
    cni: spec.cni,
    nodes: [
      { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web-1', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }] },
      { name: 'n2', pods: [{ name: 'web-2', namespace: 'demo' }] },
    ],
  });
  const cluster: ClusterSpec = {
    meshedNamespaces: ['demo'],
    services: [{ name: 'web', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'web' }],
  };
  const kube = await startTestbedKube(t, name, tb.model, cluster);
  if (kube === null) return null;
  let proxies: KubeProxies | undefined;
  if (spec.cni === 'bridge') {
    const p = await startKubeProxies(t, tb, kube);
    if (typeof p === 'string') {
      t.test(`${name}: kube-proxy`, { skip: p }, () => undefined);
      return null;
    }
    proxies = p;
    await proxies.waitProgrammed(VIP, 80, [`${tb.pod('web-1').ip}:8080`, `${tb.pod('web-2').ip}:8080`]);
  }
  const mesh = await Mesh.start(tb, {
    cluster,
    redirectMode: spec.mode,
    controlEnv: kube.controlEnv,
    tokens: kube.tokens,
    captureScope: spec.scope,
  });
  t.teardown(() => mesh.stop());
  const servers = new Map<string, RunningApp>();
  for (const pod of ['web-1', 'web-2']) servers.set(pod, await mesh.startApp(pod, 'l7-server.ts', ['--port', '8080', '--name', pod, '--log']));
  return { spec, tb, mesh, kube, proxies, servers, setupMs: Date.now() - t0 };
}

async function l7(cell: Cell, pod: string, args: string[], timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const r = await cell.mesh.runApp(pod, 'l7-client.ts', args, timeoutMs);
  const last = r.stdout[r.stdout.length - 1];
  if (last === undefined) throw new Error(`l7-client printed nothing (exit ${r.code}): ${r.stderr}`);
  return last;
}

export function get(cell: Cell, pod: string, url: string, timeoutMs = 30_000): Promise<GetResult> {
  return l7(cell, pod, ['get', '--url', url], timeoutMs) as Promise<unknown> as Promise<GetResult>;
}

/** Requests the app logged (with --log) whose path is `path`. */
export function served(cell: Cell, pod: string, path: string): number {
  return cell.servers.get(pod)!.lines.filter((l) => l.path === path).length;
}

export function opened(s: ProxyDump): number {
  return Object.values(s.paths).reduce((n, c) => n + c.opened, 0);
}

/** KUBE-SEP DNAT packet counts for the VIP on a node (empty without kube-proxy). */
export async function dnatPackets(cell: Cell, node: string): Promise<number[]> {
  if (cell.proxies === undefined) return [];
  const svc = (await cell.proxies.services(node)).get(`${VIP}:80`);
  const save = (await cell.tb.exec(cell.tb.node(node).netns, 'iptables-save', ['-c', '-t', 'nat'])).stdout;
  return (svc?.endpointChains ?? []).map((c) => sepPackets(save, c));
}

/** The agent's records of connections from demo/client to `workload` since `before` (newest last). */
export function recordsTo(after: ProxyDump, before: ProxyDump, workload: string): ProxyDump['recent'] {
  const seen = new Set(before.recent.map((r) => `${r.at} ${r.sourceAddress} ${r.destination}`));
  return after.recent.filter((r) => !seen.has(`${r.at} ${r.sourceAddress} ${r.destination}`) && r.destinationWorkload === workload);
}

export async function checkVip(t: Test, cell: Cell): Promise<void> {
  const before = await proxyStats(cell.mesh, 'n1');
  const dnatBefore = await dnatPackets(cell, 'n1');
  const path = `/vip-${cell.spec.cni}-${cell.spec.mode}`;
  const results: GetResult[] = [];
  for (let i = 0; i < 4; i++) results.push(await get(cell, 'client', `http://${VIP}${path}`));
  t.same(results.map((r) => r.status ?? r.error), [200, 200, 200, 200], 'every request to the ClusterIP is answered');
  const after = await proxyStats(cell.mesh, 'n1');
  const carried = [...recordsTo(after, before, 'demo/web-1'), ...recordsTo(after, before, 'demo/web-2')].filter((r) => r.path.startsWith('outbound'));
  t.ok(carried.length >= 1, `n1's agent carried them out of demo/client (${carried.map((r) => `${r.path}→${r.destinationWorkload}`).join(', ') || 'no record'})`);
  t.equal(served(cell, 'web-1', path) + served(cell, 'web-2', path), 4, 'the endpoints served each once');
  if (cell.proxies !== undefined) {
    t.same(await dnatPackets(cell, 'n1'), dnatBefore, 'kube-proxy never DNATed them: the mesh chose the endpoint');
  }
}

export async function checkSameNode(t: Test, cell: Cell): Promise<void> {
  const before = await proxyStats(cell.mesh, 'n1');
  const path = `/same-${cell.spec.cni}-${cell.spec.mode}`;
  const r = await get(cell, 'client', `http://${cell.tb.pod('web-1').ip}:8080${path}`);
  t.equal(r.status ?? r.error, 200, 'the same-node request is answered');
  t.equal(r.body?.name, 'web-1');
  const after = await proxyStats(cell.mesh, 'n1');
  const out = recordsTo(after, before, 'demo/web-1').filter((x) => x.path.startsWith('outbound'));
  t.ok(out.length >= 1, `n1's agent carried it (${out.map((x) => x.path).join(', ') || `no record; ${opened(after) - opened(before)} connections opened`})`);
  t.equal(served(cell, 'web-1', path), 1, 'web-1 served it once');
}

export async function checkCrossNode(t: Test, cell: Cell): Promise<void> {
  const { tb, mesh } = cell;
  const pcap = join(mesh.dir, 'n1-eth0.pcap');
  const dump = tb.spawn(tb.node('n1').netns, 'tcpdump', ['-i', 'eth0', '--immediate-mode', '-U', '-s', '0', '-w', pcap, 'tcp']);
  let err = '';
  dump.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await mesh.waitUntil(() => err.includes('listening on'), 10_000, 'tcpdump to start');
  const before = await inboundMutual(cell, 'n2');
  const marker = `/cross-plaintext-marker-${cell.spec.cni}-${cell.spec.mode}`;
  const r = await get(cell, 'client', `http://${tb.pod('web-2').ip}:8080${marker}`);
  dump.kill('SIGINT');
  await new Promise((res) => dump.once('close', res));
  t.equal(r.status ?? r.error, 200, 'the cross-node request is answered');
  t.equal(r.body?.name, 'web-2');
  const raw = await readFile(pcap);
  const flows = parsePcap(raw);
  const toHbone = flows.filter((f) => f.dport === 15008 && f.payload.length > 0);
  const fromHbone = flows.filter((f) => f.sport === 15008 && f.payload.length > 0);
  t.ok(toHbone.length >= 1 && fromHbone.length >= 1, `it crossed n1's uplink on the HBONE port (${flows.map((f) => `${f.src}:${f.sport}>${f.dst}:${f.dport}`).join(' ')})`);
  t.ok(toHbone.every((f) => tlsRecordTypes(f.payload).length > 0) && fromHbone.every((f) => tlsRecordTypes(f.payload).length > 0), 'only TLS records on it');
  // The session may be pooled from an earlier request; when its handshake is in this capture, it chose 1.3.
  const hello = fromHbone.filter((f) => f.payload[0] === 0x16 && f.payload[5] === 0x02);
  t.ok(hello.every((f) => selectsTls13(f.payload)), `every ServerHello seen selects TLS 1.3 (${hello.length} seen)`);
  t.notOk(flows.some((f) => f.payload.includes(Buffer.from(marker))), 'the request line never crossed in plaintext');
  t.notOk(flows.some((f) => f.dport === 8080 && f.payload.length > 0), 'nothing went to the app port directly');
  t.equal(await inboundMutual(cell, 'n2') - before, 1, `n2's agent counted one mutual-TLS request from ${CLIENT_ID} (weft_http_requests_total)`);
}

/** weft_http_requests_total on a node's agent: inbound over mutual TLS from demo/client. */
async function inboundMutual(cell: Cell, node: string): Promise<number> {
  const a = await cell.mesh.admin(node, '/metrics');
  return sumOf(parseProm(a.body as string), 'weft_http_requests_total', { direction: 'inbound', source_identity: CLIENT_ID, tls: 'mutual' });
}

interface PoliciesDump {
  version: number | null;
  workerVersions: (number | null)[];
  workloads: Record<string, { mtls: string; deny: { policy: string }[] }>;
}

async function policies(cell: Cell, node: string): Promise<PoliciesDump | null> {
  const p = ((await cell.mesh.admin(node, '/config_dump/policies')).body as { policies: PoliciesDump }).policies;
  return p.workerVersions.every((v) => v === p.version) ? p : null;
}

async function enforced(cell: Cell, what: string, pred: (p: PoliciesDump, workload: string) => boolean): Promise<void> {
  await cell.mesh.waitUntil(async () => {
    const [a, b] = await Promise.all([policies(cell, 'n1'), policies(cell, 'n2')]);
    return a !== null && b !== null && pred(a, 'demo/web-1') && pred(b, 'demo/web-2');
  }, 30_000, what);
}

const DENY_ADMIN = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: cni-deny-admin
  namespace: demo
spec:
  selector:
    matchLabels:
      app: web
  action: DENY
  rules:
    - to:
        - paths:
            - prefix: /admin
`;

export async function checkL7Deny(t: Test, cell: Cell): Promise<void> {
  const { kube, tb } = cell;
  const applied = await kube.kube.kubectl(['apply', '-f', '-'], { input: DENY_ADMIN });
  t.equal(applied.code, 0, `kubectl apply: ${applied.stdout}${applied.stderr}`);
  await enforced(cell, 'both agents to enforce demo/cni-deny-admin', (p, w) => (p.workloads[w]?.deny ?? []).some((d) => d.policy === 'demo/cni-deny-admin'));
  const targets = [['same node', `http://${tb.pod('web-1').ip}:8080`], ['cross node', `http://${tb.pod('web-2').ip}:8080`], ['VIP', `http://${VIP}`]] as const;
  for (const [what, base] of targets) {
    const denied = await get(cell, 'client', `${base}/admin/x`);
    t.equal(denied.status ?? denied.error, 403, `${what}: /admin answered 403 by the mesh`);
    t.match(String(denied.headers?.['weft-denied-by'] ?? ''), /cni-deny-admin/, `${what}: the answer names the policy`);
    const allowed = await get(cell, 'client', `${base}/open`);
    t.equal(allowed.status ?? allowed.error, 200, `${what}: another path still passes`);
  }
  t.equal(served(cell, 'web-1', '/admin/x') + served(cell, 'web-2', '/admin/x'), 0, 'no app saw a denied request');
  const deleted = await kube.kube.kubectl(['delete', 'authorizationpolicy', '-n', 'demo', 'cni-deny-admin']);
  t.equal(deleted.code, 0, deleted.stderr);
  await enforced(cell, 'both agents to drop demo/cni-deny-admin', (p, w) => !(p.workloads[w]?.deny ?? []).some((d) => d.policy === 'demo/cni-deny-admin'));
}

const STRICT = `apiVersion: weft.dev/v1alpha1
kind: MeshPolicy
metadata:
  name: cni-strict
  namespace: demo
spec:
  mtls:
    mode: STRICT
`;

export async function checkStrict(t: Test, cell: Cell): Promise<void> {
  const { kube, tb } = cell;
  const applied = await kube.kube.kubectl(['apply', '-f', '-'], { input: STRICT });
  t.equal(applied.code, 0, `kubectl apply: ${applied.stdout}${applied.stderr}`);
  await enforced(cell, 'both agents to enforce STRICT', (p, w) => p.workloads[w]?.mtls === 'STRICT');
  for (const [what, pod] of [['same node', 'web-1'], ['cross node', 'web-2']] as const) {
    const path = `/strict-plain-${what.replace(' ', '-')}`;
    const r = await get(cell, 'legacy', `http://${tb.pod(pod).ip}:8080${path}`);
    t.ok(!r.ok || r.status === undefined, `${what}: plaintext from the unmeshed legacy pod is refused (${JSON.stringify({ status: r.status, error: r.error })})`);
    t.equal(served(cell, pod, path), 0, `${what}: ${pod} never saw it`);
    const m = await get(cell, 'client', `http://${tb.pod(pod).ip}:8080${path}-meshed`);
    t.equal(m.status ?? m.error, 200, `${what}: the meshed client still passes`);
  }
  const deleted = await kube.kube.kubectl(['delete', 'meshpolicy', '-n', 'demo', 'cni-strict']);
  t.equal(deleted.code, 0, deleted.stderr);
}

/** Names of the BPF programs attached with tc to a namespace's links (both hooks). */
async function tcPrograms(tb: Testbed, netns: string): Promise<string[]> {
  const links = JSON.parse((await tb.exec(netns, 'ip', ['-j', 'link', 'show'])).stdout || '[]') as Array<{ ifname: string }>;
  const names: string[] = [];
  for (const l of links) {
    for (const hook of ['ingress', 'egress']) {
      const rows = JSON.parse((await tb.exec(netns, 'tc', ['-j', 'filter', 'show', 'dev', l.ifname, hook])).stdout || '[]') as Array<{ options?: { prog?: { name?: string } } }>;
      for (const r of rows) if (r.options?.prog?.name !== undefined) names.push(`${l.ifname} ${hook} ${r.options.prog.name}`);
    }
  }
  return names;
}

/** What of the redirector is in a namespace: iptables rules (mangle and nat) or tc programs. */
async function captureIn(cell: Cell, netns: string): Promise<string[]> {
  if (cell.spec.mode === 'ebpf') return (await tcPrograms(cell.tb, netns)).filter((l) => / weft/.test(l));
  const save = (await cell.tb.exec(netns, 'iptables-save')).stdout;
  return save.split('\n').filter((l) => l.startsWith('-A ') && /WEFT-/.test(l));
}

/**
 * Pod scope: capture lives in each meshed pod's namespace, none in the node's (so nothing the
 * node's bridge or kube-proxy do can come first), and none in an unmeshed pod.
 */
export async function checkCaptureInPods(t: Test, cell: Cell): Promise<void> {
  const { tb } = cell;
  for (const pod of ['client', 'web-1', 'web-2']) {
    const lines = await captureIn(cell, tb.pod(pod).netns);
    t.ok(lines.length > 0, `${pod}: captured inside its own namespace (${lines.length} ${cell.spec.mode === 'ebpf' ? 'tc programs' : 'rules'})`);
  }
  t.same(await captureIn(cell, tb.pod('legacy').netns), [], 'the unmeshed pod: nothing');
  for (const n of tb.nodes) t.same(await captureIn(cell, n.netns), [], `${n.name}: no node-level capture`);
}

/** The five checks, in order, each a subtest. */
export const CHECKS: ReadonlyArray<readonly [string, (t: Test, cell: Cell) => Promise<void>]> = [
  ['a ClusterIP request goes through the mesh', checkVip],
  ['a same-node pod-IP request goes through the agent', checkSameNode],
  ['a cross-node request is mTLS (HBONE) on the wire', checkCrossNode],
  ['an L7 DENY policy answers 403 on both nodes and the VIP', checkL7Deny],
  ['STRICT refuses plaintext from an unmeshed pod', checkStrict],
];

/**
 * Why a cell cannot run in this tree (undefined when it can): pod scope needs an in-pod capture
 * for the redirect mode (iptables from in-pod redirection; ebpf from the pod-scope eBPF work).
 */
export function cellSkip(spec: CellSpec): string | undefined {
  if (spec.scope === 'node' || podCaptureNames().includes(spec.mode)) return undefined;
  return `redirect mode ${spec.mode} has no in-pod capture in this agent yet (pod scope; known: ${podCaptureNames().join(', ') || 'none'})`;
}

/** Runs a whole cell: one mesh start, the five checks, and the time each part took. */
export async function runCell(t: Test, spec: CellSpec): Promise<void> {
  const skip = cellSkip(spec);
  if (skip !== undefined) {
    t.test(`${cellName(spec)}: the mesh e2e on ${spec.cni} in ${spec.mode} mode, ${spec.scope} scope`, { skip }, () => undefined);
    return;
  }
  const t0 = Date.now();
  const cell = await startCell(t, spec);
  if (cell === null) return;
  const times: string[] = [`setup ${cell.setupMs} ms`];
  if (spec.scope === 'pod') {
    const c0 = Date.now();
    await t.test('capture lives in the meshed pods, not the nodes', (tt) => checkCaptureInPods(tt, cell));
    times.push(`capture in pods ${Date.now() - c0} ms`);
  }
  for (const [name, check] of CHECKS) {
    const c0 = Date.now();
    await t.test(name, (tt) => check(tt, cell));
    times.push(`${name.split(' ').slice(0, 3).join(' ')} ${Date.now() - c0} ms`);
  }
  t.comment(`${cellName(spec)}: ${Date.now() - t0} ms in all (${times.join('; ')})`);
}
