// The README's main command (`npm run sandbox`): a 2-node mesh in network namespaces with sample
// apps and steady traffic, control and one agent per node. Prints what runs and how to look at it,
// a traffic summary every few seconds, and tears everything down on Ctrl-C (or after --duration).
// With --kubernetes the cluster is a real kube-apiserver on loopback (tests/kube/): control discovers
// it through informers as its own ServiceAccount, agents are attested by TokenReview, and the user
// applies policies and routes with the real kubectl (the commands are printed).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Testbed } from '../tests/testbed/index.ts';
import { Mesh } from '../tests/testbed/mesh.ts';
import type { ClusterSpec } from '../tests/testbed/cluster-objects.ts';
import type { RunningApp } from '../tests/apps/spawn-app.ts';
import type { KubeCluster } from '../tests/kube/kube-cluster.ts';
import { startTestbedKube } from '../tests/kube/testbed-kube.ts';
import { SANDBOX_DENY_POLICY, SANDBOX_HTTPROUTE } from './sandbox-kube-examples.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    interval: { type: 'string', default: '500' },
    verbose: { type: 'boolean', default: false },
    kubernetes: { type: 'boolean', default: false },
    summary: { type: 'string', default: '5' },
  },
});
const summaryS = Number(values.summary);
if (!Number.isFinite(summaryS) || summaryS < 1) {
  console.error(`sandbox: --summary must be seconds ≥ 1, got ${values.summary}`);
  process.exit(2);
}
const durationS = values.duration === undefined ? 0 : Number(values.duration);
if (!Number.isFinite(durationS) || durationS < 0) {
  console.error(`sandbox: --duration must be seconds ≥ 0, got ${values.duration}`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error('sandbox: needs root (network namespaces, iptables): run it as root');
  process.exit(1);
}

const WEB_VIP = '10.96.0.20';
const log = (s: string): void => console.log(s);

log('weft sandbox: building a 2-node cluster in network namespaces…');
const tb = await Testbed.create({
  name: 'sandbox',
  nodes: [
    { name: 'node-1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web-1', namespace: 'demo' }, { name: 'legacy-client', namespace: 'legacy' }] },
    { name: 'node-2', pods: [{ name: 'web-2', namespace: 'demo' }, { name: 'legacy-web', namespace: 'legacy' }] },
  ],
});

let mesh: Mesh | undefined;
let kube: KubeCluster | undefined;
/** What the Kubernetes fixture asked to run at teardown (stopping etcd, API server, controllers). */
const kubeTeardown: Array<() => unknown> = [];
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  log('\nweft sandbox: stopping apps, agents (which remove their rules) and control…');
  await mesh?.stop().catch((err: unknown) => console.error('sandbox: stop failed:', err));
  for (const fn of kubeTeardown.reverse()) await Promise.resolve(fn()).catch((err: unknown) => console.error('sandbox: stopping the API server failed:', err));
  await tb.teardown();
  log('weft sandbox: everything is gone (namespaces, rules, processes).');
  process.exit(code);
}
// The testbed's own signal hooks tear the namespaces down and exit at once (130/143): a fallback
// for tests. Here Ctrl-C must stop the mesh first (agents remove their rules), then the API
// server, then the testbed, and say so — so the sandbox's shutdown is the only handler.
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const cluster: ClusterSpec = {
  meshedNamespaces: ['demo'],
  services: [{ name: 'web', namespace: 'demo', clusterIP: WEB_VIP, port: 80, targetPort: 8080, selector: 'web' }],
};
let kubeEnv: { controlEnv: Record<string, string>; tokens: Record<string, string> } | undefined;
if (values.kubernetes) {
  log('weft sandbox: starting a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback…');
  try {
    // The fixture reports through a test host: teardown work is ours to run, a skip means no binaries.
    let missing = '';
    const host = { teardown: (fn: () => unknown) => void kubeTeardown.push(fn), test: (_name: string, opts: { skip: string }) => void (missing = opts.skip) };
    const started = await startTestbedKube(host, 'sandbox', tb.model, cluster);
    if (started === null) {
      console.error(`sandbox: --kubernetes needs the Kubernetes binaries (${missing})`);
      await shutdown(1);
    }
    kube = started!.kube;
    kubeEnv = started!;
  } catch (err) {
    console.error('sandbox: the API server did not come up:', err instanceof Error ? err.message : err);
    await shutdown(1);
  }
}

try {
  mesh = await Mesh.start(tb, {
    cluster,
    echoLogs: values.verbose,
    // The dashboard on its usual port; WEFT_DASHBOARD_ADDRESS=127.0.0.1:0 picks a free one if 8084 is taken.
    controlEnv: { ...kubeEnv?.controlEnv, WEFT_DASHBOARD_ADDRESS: process.env.WEFT_DASHBOARD_ADDRESS ?? '127.0.0.1:8084' },
    ...(kubeEnv === undefined ? {} : { tokens: kubeEnv.tokens }),
    agentEnv: { WEFT_SUMMARY_INTERVAL_MS: '2000' },
  });
} catch (err) {
  console.error('sandbox: the mesh did not come up:', err instanceof Error ? err.message : err);
  await shutdown(1);
}
const m = mesh as Mesh;

// web-1/web-2 answer /delay/<ms> and /fail-until/<n> too, for trying an HTTPRoute's timeout and retry.
for (const pod of ['web-1', 'web-2']) await m.startApp(pod, 'l7-server.ts', ['--port', '8080', '--name', pod]);
await m.startApp('legacy-web', 'http-server.ts', ['--port', '8080', '--name', 'legacy-web']);
const ip = (pod: string): string => tb.pod(pod).ip;
const loops: Array<{ name: string; app: RunningApp; ok: number; failed: number; lastError: string }> = [];
async function traffic(name: string, pod: string, targets: string[]): Promise<void> {
  const app = await m.startApp(pod, 'traffic.ts', [...targets.flatMap((t) => ['--target', t]), '--interval', values.interval]);
  const loop = { name, app, ok: 0, failed: 0, lastError: '' };
  app.child.stdout?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (line.trim() === '' || line.includes('"ready"')) continue;
      try {
        const r = JSON.parse(line) as { status?: number; error?: string };
        // A 4xx is a failure too: a request denied by policy is answered 403.
        if (r.status !== undefined && r.status < 400) loop.ok++;
        else {
          loop.failed++;
          loop.lastError = r.error ?? `HTTP ${r.status}`;
        }
      } catch {
        // a partial line; the next chunk completes it
      }
    }
  });
  loops.push(loop);
}
await traffic('demo/client → web (Service VIP, mTLS across nodes)', 'client', [`http://${WEB_VIP}/`]);
await traffic('demo/client → web-1 (same node, no TLS)', 'client', [`http://${ip('web-1')}:8080/`]);
await traffic('demo/client → legacy/legacy-web (passthrough)', 'client', [`http://${ip('legacy-web')}:8080/`]);
await traffic('legacy/legacy-client → web-2 (plaintext into the mesh)', 'legacy-client', [`http://${ip('web-2')}:8080/`]);

log('\nweft sandbox is running.\n');
log('  nodes and pods (each a network namespace):');
for (const n of tb.nodes) {
  log(`    ${n.name}  ${n.ip}  netns ${n.netns}`);
  for (const p of n.pods) log(`      ${p.namespace}/${p.name}  ${p.ip}  netns ${p.netns}${p.namespace === 'demo' ? '  (meshed)' : ''}`);
}
log(`  service demo/web  ${WEB_VIP}:80 → web-1, web-2 :8080`);
log(`  control: unix socket ${m.controlSocket} (CA in ${m.caDir})`);
log(`\n  dashboard: ${m.dashboardUrl() ?? '(not up: see control\'s log)'}   ← open it in a browser on this machine`);
log('\n  look at it:');
log(`    curl -s --unix-socket ${m.adminSocket('node-1')} http://agent/config_dump | less       # node-1 agent state, certs, rules, connections`);
log(`    curl -s --unix-socket ${m.adminSocket('node-2')} http://agent/config_dump/proxy         # node-2 proxy counters`);
log(`    ip netns exec ${tb.pod('client').netns} curl -s http://${WEB_VIP}/                   # a request from a meshed pod`);
log(`    ip netns exec ${tb.node('node-1').netns} iptables-save -t mangle | grep weft              # the redirection rules`);
log(`    ip netns exec ${tb.node('node-1').netns} tcpdump -ni eth0 port 15008 -X | head -50         # only TLS between nodes`);
if (kube !== undefined) {
  const kubectl = `${kube.bins.tools.kubectl} --kubeconfig ${kube.adminKubeconfig}`;
  const deny = join(kube.dir, 'deny-client.yaml');
  const route = join(kube.dir, 'web-route.yaml');
  await writeFile(deny, SANDBOX_DENY_POLICY);
  await writeFile(route, SANDBOX_HTTPROUTE);
  log(`\n  Kubernetes: a real kube-apiserver v1.28.7 at ${kube.server}; control runs as weft-system/weft-control`);
  log('  (the chart\'s RBAC), agents are attested by TokenReview. Use kubectl as in a cluster:');
  log(`    alias kubectl='${kubectl}'   # then plain kubectl works in this shell`);
  log(`    ${kubectl} get pods,svc,endpointslices -n demo -o wide`);
  log(`    ${kubectl} apply -f ${deny}      # DENY demo/client → app=web: the client loops fail with 403`);
  log(`    ${kubectl} delete -f ${deny}     # lifts it`);
  log(`    ${kubectl} apply -f ${route}      # HTTPRoute on demo/web: 500ms timeout on /delay, 3 retries of a 503 on /fail-until`);
  log(`    ip netns exec ${tb.pod('client').netns} curl -si http://${WEB_VIP}/delay/2000   # 504 weft-timeout: request once the route is in`);
  log(`    ip netns exec ${tb.pod('client').netns} curl -si http://${WEB_VIP}/fail-until/3 # 503 without the route (2 retries by default), 200 with it`);
}
log(`\n  ${durationS > 0 ? `stops by itself after ${durationS} s;` : 'Ctrl-C stops it and'} removes everything.\n`);

interface Counters { opened: number }
const summary = async (): Promise<void> => {
  if (stopping) return;
  const parts: string[] = [];
  for (const l of loops) parts.push(`${l.ok} ok / ${l.failed} failed${l.lastError === '' ? '' : ` (${l.lastError})`}  ${l.name}`);
  for (const n of tb.nodes) {
    const a = await m.admin(n.name, '/config_dump/proxy').catch(() => undefined);
    const p = (a?.body as { proxy?: { paths: Record<string, Counters> } } | undefined)?.proxy?.paths;
    if (p !== undefined) {
      parts.push(`${n.name} agent: ${Object.entries(p).filter(([, c]) => c.opened > 0).map(([k, c]) => `${k}=${c.opened}`).join(' ') || 'no connections yet'}`);
    }
  }
  log(`[${new Date().toISOString().slice(11, 19)}]\n  ${parts.join('\n  ')}`);
};
const timer = setInterval(() => void summary(), summaryS * 1000);
if (durationS > 0) {
  setTimeout(() => {
    clearInterval(timer);
    void summary().then(() => shutdown(loops.some((l) => l.ok === 0) ? 1 : 0));
  }, durationS * 1000);
}
