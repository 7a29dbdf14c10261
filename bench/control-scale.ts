// Control at cluster scale: control (dist/control.mjs, a child process) watches the API server
// fixture holding P pods over N nodes (Kubernetes discovery source, real list/watch), and A
// simulated agents (WebSocket clients in this process, over control's unix socket, TLS as the real
// agent dials it) hold the config stream. Then C changes are made one at a time — a pod's
// readiness flips in the fixture — and for each, the time until every agent has the delta carrying
// it is recorded. Measures what a cluster feels: change → all agents.
//
// Prints one JSON line: propagation p50/p99/max (ms, over all agents × changes), control RSS after
// the agents synced and after the changes, this process's memory per simulated agent, and how long
// the initial sync took; saved as bench/results/control-scale-<date>.json too (the suite's targets
// table reads the newest). Not a test: it asserts nothing.
//   node bench/control-scale.ts [--pods 50000] [--nodes 1000] [--agents 1000] [--changes 20] [--concurrency 4]
// Needs dist/ (node scripts/build.ts).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate, checkServerIdentity } from 'node:tls';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { ApiServerFixture, type KubeObject } from '../tests/k8s-fixture/api-server.ts';
import { endpointSlice, namespace, node, pod, service, type PodSpec } from '../tests/k8s-fixture/objects.ts';
import { saveSideResult } from './lib/side-results.ts';

const { values } = parseArgs({
  options: { pods: { type: 'string' }, nodes: { type: 'string' }, agents: { type: 'string' }, changes: { type: 'string' }, concurrency: { type: 'string' } },
});
const PODS = Number(values.pods ?? 50_000);
const NODES = Number(values.nodes ?? 1000);
const AGENTS = Math.min(Number(values.agents ?? 1000), NODES);
const CHANGES = Number(values.changes ?? 20);
const CONCURRENCY = Number(values.concurrency ?? 4);
const NAMESPACES = 100;
const PODS_PER_SERVICE = 50;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SERVERNAME = 'weft-control.weft-system.svc';

const rssOf = async (pid: number): Promise<number> => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const mib = (b: number): number => Math.round((b / 1048576) * 10) / 10;
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// --- the cluster ------------------------------------------------------------------------------
const fixture = await ApiServerFixture.start({ bookmarkIntervalMs: 30_000 });
const dir = await mkdtemp(join(tmpdir(), 'k8s-scale-'));
const nodeName = (i: number): string => `node-${String(i).padStart(4, '0')}`;
const podSpec = (i: number, ready = true): PodSpec => ({
  name: `app-${i}`, namespace: `ns-${i % NAMESPACES}`, node: nodeName(i % NODES), ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  serviceAccount: `sa-${i % 7}`, labels: { app: `svc-${Math.floor(i / PODS_PER_SERVICE)}` }, uid: `uid-app-${i}`, ready,
});
const objects: KubeObject[] = [];
for (let i = 0; i < NAMESPACES; i++) objects.push(namespace(`ns-${i}`, true));
for (let i = 0; i < NODES; i++) objects.push(node(nodeName(i), `172.16.${i >> 8}.${i & 255}`));
for (let i = 0; i < PODS; i++) objects.push(pod(podSpec(i)));
// One Service per PODS_PER_SERVICE pods in one namespace is not how the builder spreads pods, so
// services are namespaced by their first pod; the selector still names the app label.
for (let s = 0; s * PODS_PER_SERVICE < PODS; s++) {
  const first = s * PODS_PER_SERVICE;
  const svc = { name: `svc-${s}`, namespace: `ns-${first % NAMESPACES}`, clusterIP: `10.96.${s >> 8}.${s & 255}`, selector: { app: `svc-${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] };
  objects.push(service(svc));
  const members: PodSpec[] = [];
  for (let i = first; i < Math.min(PODS, first + PODS_PER_SERVICE); i++) members.push(podSpec(i));
  objects.push(endpointSlice(svc, members));
}
fixture.apply(objects);
objects.length = 0;
const kubeconfig = join(dir, 'kubeconfig');
await writeFile(kubeconfig, fixture.kubeconfig());
const tokens = new Map<string, string>();
for (let i = 0; i < AGENTS; i++) tokens.set(nodeName(i), randomBytes(18).toString('hex'));
await writeFile(join(dir, 'tokens'), [...tokens].map(([n, tok]) => `${n} ${tok}`).join('\n') + '\n', { mode: 0o600 });

// --- control --------------------------------------------------------------------------------
const socketPath = join(dir, 'control.sock');
const control = spawn(process.execPath, [join(ROOT, 'dist/control.mjs')], {
  env: {
    PATH: process.env.PATH, WEFT_CA_DIR: join(dir, 'ca'), WEFT_LISTEN_ADDRESS: '127.0.0.1:0', WEFT_LISTEN_SOCKET: socketPath,
    WEFT_DISCOVERY: 'kubernetes', WEFT_KUBECONFIG: kubeconfig, WEFT_BOOTSTRAP_TOKENS_FILE: join(dir, 'tokens'), WEFT_LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let controlLog = '';
const keep = (d: Buffer): void => { controlLog = (controlLog + d.toString()).slice(-20_000); };
control.stdout.on('data', keep);
control.stderr.on('data', keep);
const cleanup = async (): Promise<void> => {
  control.kill('SIGKILL');
  await fixture.stop();
  await rm(dir, { recursive: true, force: true });
};
process.once('exit', () => control.kill('SIGKILL'));
const t0 = Date.now();
for (;;) {
  if (control.exitCode !== null) throw new Error(`control exited: ${controlLog}`);
  if (await readFile(join(dir, 'ca', 'ca.crt'), 'utf8').then(() => true, () => false)) {
    // The socket appears after the first list: control is ready to serve.
    if (await import('node:fs/promises').then((fs) => fs.stat(socketPath)).then(() => true, () => false)) break;
  }
  if (Date.now() - t0 > 600_000) throw new Error('control did not become ready');
  await new Promise((r) => setTimeout(r, 100));
}
const controlReadyMs = Date.now() - t0;
const caPem = await readFile(join(dir, 'ca', 'ca.crt'), 'utf8');

// --- simulated agents -----------------------------------------------------------------------
interface SimAgent { ws: WebSocket; synced: boolean; seen: Map<string, number> }
const agents: SimAgent[] = [];
const watchKeys = new Map<string, number>(); // "workload:ns/name" → time of change
const latencies: number[] = [];
let pendingForChange = 0;
let onAllSeen: (() => void) | null = null;

function typeOf(buf: Buffer): string {
  // Frames start with {"type":"…"; snapshots are megabytes and need not be parsed to be counted.
  const m = /^\{"type":"([a-z-]+)"/.exec(buf.subarray(0, 32).toString('latin1'));
  return m?.[1] ?? '';
}

function connectAgent(i: number): Promise<SimAgent> {
  const n = nodeName(i);
  return new Promise((resolve, reject) => {
    const dial = (): ReturnType<typeof tlsConnect> => tlsConnect({ path: socketPath, ca: [caPem], servername: SERVERNAME, checkServerIdentity: (_h: string, c: PeerCertificate) => checkServerIdentity(SERVERNAME, c) });
    const ws = new WebSocket(`wss://${SERVERNAME}/v1/stream`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, createConnection: dial as unknown as ClientOptions['createConnection'] });
    const a: SimAgent = { ws, synced: false, seen: new Map() };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: 1, node: n, agentVersion: 'bench', credential: tokens.get(n) })));
    ws.on('message', (data: RawData) => {
      const buf = data as Buffer;
      const type = typeOf(buf);
      if (type === 'snapshot') return;
      const msg = JSON.parse(buf.toString('utf8')) as { type: string; version: number; upserts?: Array<{ kind: string; key: string }>; message?: string };
      if (msg.type === 'snapshot-sent') {
        a.synced = true;
        ws.send(JSON.stringify({ type: 'ack', version: msg.version }));
        resolve(a);
      } else if (msg.type === 'delta') {
        const now = Date.now();
        for (const r of msg.upserts ?? []) {
          const at = watchKeys.get(`${r.kind}:${r.key}`);
          if (at === undefined || a.seen.has(r.key)) continue;
          a.seen.set(r.key, now);
          latencies.push(now - at);
          if (--pendingForChange === 0) onAllSeen?.();
        }
        ws.send(JSON.stringify({ type: 'ack', version: msg.version }));
      } else if (msg.type === 'error') {
        ws.terminate();
        reject(new Error(`${n}: ${msg.message}`));
      }
    });
    ws.on('error', (err) => { ws.terminate(); reject(err); });
    ws.on('close', () => { if (!a.synced) reject(new Error(`${n} closed before its snapshot`)); });
  });
}

/** A busy control may time an agent out before reading its hello; the real agent retries too. */
async function connectWithRetry(i: number): Promise<SimAgent> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectAgent(i);
    } catch (err) {
      if (attempt >= 5) throw err;
      retries++;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
let retries = 0;

const memBefore = process.memoryUsage();
const t1 = Date.now();
for (let i = 0; i < AGENTS; i += CONCURRENCY) {
  const batch: Promise<SimAgent>[] = [];
  for (let j = i; j < Math.min(AGENTS, i + CONCURRENCY); j++) batch.push(connectWithRetry(j));
  agents.push(...(await Promise.all(batch)));
  if (agents.length % 100 < CONCURRENCY) process.stderr.write(`synced ${agents.length}/${AGENTS} agents; control RSS ${mib(await rssOf(control.pid as number))} MiB\n`);
}
const syncMs = Date.now() - t1;
(globalThis as { gc?: () => void }).gc?.();
const memAfter = process.memoryUsage();
const controlRssSynced = await rssOf(control.pid as number);

// --- changes ----------------------------------------------------------------------------------
for (let c = 0; c < CHANGES; c++) {
  const i = (c * 7919) % PODS;
  const spec = podSpec(i, c % 2 === 0 ? false : true);
  const key = `workload:${spec.namespace}/${spec.name}`;
  for (const a of agents) a.seen.delete(`${spec.namespace}/${spec.name}`);
  pendingForChange = agents.length;
  const all = new Promise<void>((r) => (onAllSeen = r));
  watchKeys.clear();
  watchKeys.set(key, Date.now());
  fixture.upsert(pod({ ...spec, ready: false }));
  await Promise.race([all, new Promise((_, rej) => setTimeout(() => rej(new Error(`change ${c} did not reach every agent (${pendingForChange} missing)`)), 120_000))]);
  // Put it back (not measured), so every change is a real difference.
  fixture.upsert(pod(podSpec(i)));
  await new Promise((r) => setTimeout(r, 300));
}
const controlRssAfter = await rssOf(control.pid as number);
latencies.sort((a, b) => a - b);
const result = {
  pods: PODS, nodes: NODES, agents: AGENTS, changes: CHANGES,
  propagationMs: { p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies[latencies.length - 1], samples: latencies.length },
  controlRssMiB: { synced: mib(controlRssSynced), afterChanges: mib(controlRssAfter) },
  agentSideKiBPerAgent: Math.round((memAfter.rss - memBefore.rss) / AGENTS / 1024),
  agentSideHeapKiBPerAgent: Math.round((memAfter.heapUsed - memBefore.heapUsed) / AGENTS / 1024),
  controlFirstListMs: controlReadyMs, allAgentsSyncedMs: syncMs, connectRetries: retries,
  node: process.version,
};
console.log(JSON.stringify(result));
await saveSideResult('control-scale', result);
for (const a of agents) a.ws.terminate();
await cleanup();
process.exit(0);
