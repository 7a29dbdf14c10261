// L7 reliability end to end on the testbed: faulty backends behind one Service, reached through
// Weft from a meshed pod and directly from an unmeshed one; retries, balancing, ejection, budgets,
// timeouts from an HTTPRoute, and HTTP features carried between nodes unchanged.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { RunningApp } from '../apps/spawn-app.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';

interface Load {
  ok: boolean;
  statuses: Record<string, number>;
  byName: Record<string, number>;
  weftTimeout: number;
}
interface L7Dump {
  l7: Record<string, number>;
}

const tb = await withTestbed(t, {
  name: 'l7-rel',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }, { name: 'web1', namespace: 'demo' }] },
    {
      name: 'n2',
      pods: [
        { name: 'web2', namespace: 'demo' }, { name: 'web3', namespace: 'demo' }, { name: 'web4', namespace: 'demo' },
        { name: 'flaky', namespace: 'demo' }, { name: 'down', namespace: 'demo' }, { name: 'feat', namespace: 'demo' },
      ],
    },
  ],
});
const mesh = await Mesh.start(tb, {
  cluster: {
    meshedNamespaces: ['demo'],
    services: [{ name: 'web', namespace: 'demo', clusterIP: '10.96.0.20', port: 80, targetPort: 8080, selector: 'web' }],
  },
  // One worker per agent: one balancer and breaker per node, so counters are easy to read.
  agentEnv: { WEFT_WORKERS: '1' },
});
t.teardown(() => mesh.stop());

// Extra objects, as a user would apply them: Services with annotations and an HTTPRoute.
const service = (name: string, ip: string, selector: string, annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name, namespace: 'demo', uid: `uid-${name}`, annotations },
  spec: { clusterIP: ip, selector: { app: selector }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
});
const extra = [
  service('flaky', '10.96.0.21', 'flaky', { 'weft.dev/retry-limit': '3' }),
  service('down', '10.96.0.22', 'down'),
  service('feat', '10.96.0.23', 'feat'),
  service('slowroute', '10.96.0.24', 'feat'),
  service('split', '10.96.0.25', 'feat'),
  {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
    metadata: { name: 'split', namespace: 'demo', creationTimestamp: '2026-11-25T00:00:00Z' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'split' }],
      rules: [
        { matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }], backendRefs: [{ name: 'feat', port: 80 }] },
        { backendRefs: [{ name: 'feat', port: 80, weight: 1 }, { name: 'flaky', port: 80, weight: 1 }] },
      ],
    },
  },
  {
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
    metadata: { name: 'slowroute', namespace: 'demo', creationTimestamp: '2026-11-25T00:00:00Z' },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: 'slowroute', port: 80 }],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/delay' } }], timeouts: { request: '500ms' }, backendRefs: [{ name: 'slowroute', port: 80 }] }],
    },
  },
];
const stateBefore = (await mesh.admin('n1', '/config_dump/state')).body as { state: { records: number } };
await writeFile(join(mesh.dir, 'cluster', 'l7.yaml'), extra.map((o) => stringify(o)).join('---\n'));
for (const n of ['n1', 'n2']) {
  await mesh.waitUntil(async () => ((await mesh.admin(n, '/config_dump/state')).body as { state: { records: number } }).state.records >= stateBefore.state.records + extra.length, 20_000, `${n} to see the L7 objects`);
}

const servers = new Map<string, RunningApp>();
async function serve(pod: string, args: string[]): Promise<RunningApp> {
  const app = await mesh.startApp(pod, 'l7-server.ts', ['--port', '8080', '--name', pod, '--log', ...args]);
  servers.set(pod, app);
  return app;
}
await serve('web1', []);
await serve('web2', ['--fail-rate', '0.3']);
await serve('web3', ['--delay-ms', '150']);
await serve('web4', ['--reset']);
await serve('flaky', ['--fail-rate', '0.5']);
await serve('down', ['--fail-rate', '1']);
await serve('feat', ['--h2-port', '8081']);

async function client(pod: string, args: string[], timeoutMs = 90_000): Promise<Record<string, unknown>> {
  const r = await mesh.runApp(pod, 'l7-client.ts', args, timeoutMs);
  const last = r.stdout[r.stdout.length - 1];
  if (last === undefined) throw new Error(`l7-client printed nothing (exit ${r.code}): ${r.stderr}`);
  return last;
}
const load = (pod: string, args: string[]) => client(pod, ['load', ...args]) as Promise<unknown> as Promise<Load>;
async function l7(node: string): Promise<Record<string, number>> {
  return ((await mesh.admin(node, '/config_dump/proxy')).body as { proxy: L7Dump }).proxy.l7;
}
const okRate = (l: Load, n: number) => (l.statuses['200'] ?? 0) / n;
const podUrl = (pod: string) => `http://${tb.pod(pod).ip}:8080/`;

t.test('through Weft the client sees more successes than direct, and the slow endpoint less traffic', async (t) => {
  const n = 300;
  const direct = await load('legacy', ['--urls', ['web1', 'web2', 'web3', 'web4'].map(podUrl).join(','), '--requests', String(n), '--concurrency', '4']);
  const meshed = await load('client', ['--urls', 'http://10.96.0.20/', '--requests', String(n), '--concurrency', '4']);
  t.ok(okRate(meshed, n) > okRate(direct, n), `meshed ${okRate(meshed, n)} > direct ${okRate(direct, n)} (${JSON.stringify(meshed.statuses)} vs ${JSON.stringify(direct.statuses)})`);
  t.ok(okRate(meshed, n) >= 0.9, 'nearly everything succeeds through Weft');
  t.ok((meshed.byName.web3 ?? 0) < (meshed.byName.web1 ?? 0), `slow web3 served ${meshed.byName.web3 ?? 0}, web1 ${meshed.byName.web1 ?? 0}`);
  const c = await l7('n1');
  t.ok(c.retries > 0, `n1 retried (${c.retries})`);
  t.ok(c.ejections > 0, `the resetting endpoint was ejected (${c.ejections})`);
  t.ok(c.detectedHttp1 > 0, 'connections were detected as HTTP/1.1');
  t.ok(servers.get('web2')!.lines.some((l) => (l.attempt as number) > 0), 'a server saw weft-retry-attempt on a replay');
  const detail = ((await mesh.admin('n1', '/config_dump/proxy')).body as { proxy: { l7Workers: { balancer: string; endpoints: Record<string, unknown> }[] } }).proxy.l7Workers;
  t.equal(detail[0]?.balancer, 'p2c-peak-ewma', 'the dump shows the balancer');
  t.ok(`${tb.pod('web3').ip}:8080` in (detail[0]?.endpoints ?? {}), 'with per-endpoint load');
});

t.test('an ejected endpoint comes back once it is healthy', async (t) => {
  await servers.get('web4')!.stop();
  await serve('web4', []);
  const before = (await l7('n1')).recoveries;
  let served = 0;
  await mesh.waitUntil(async () => {
    const r = await load('client', ['--urls', 'http://10.96.0.20/', '--requests', '40', '--concurrency', '2']);
    served += r.byName.web4 ?? 0;
    return served > 0;
  }, 90_000, 'web4 to take requests again');
  t.ok(served > 0, `web4 served ${served}`);
  t.ok((await l7('n1')).recoveries > before, 'a probe brought it back');
});

t.test('a non-idempotent request the server saw is never replayed', async (t) => {
  const app = servers.get('flaky')!;
  const before = app.lines.filter((l) => l.method === 'POST').length;
  const r = await load('client', ['--urls', 'http://10.96.0.21/echo', '--requests', '100', '--concurrency', '4', '--method', 'POST', '--body-bytes', '512']);
  await new Promise((res) => setTimeout(res, 300));
  const posts = app.lines.filter((l) => l.method === 'POST').slice(before);
  t.equal(posts.length, 100, 'one attempt per POST');
  t.ok(posts.every((l) => l.attempt === 0), 'none carried a retry attempt');
  t.equal(r.statuses['503'] ?? 0, posts.filter((l) => l.status === 503).length, 'the client saw every 503 the server sent');
});

t.test('the retry budget caps retries under a full outage', async (t) => {
  const app = servers.get('down')!;
  const before = app.lines.length;
  const c0 = await l7('n1');
  const n = 300;
  const r = await load('client', ['--urls', 'http://10.96.0.22/', '--requests', String(n), '--concurrency', '4']);
  await new Promise((res) => setTimeout(res, 300));
  const attempts = app.lines.length - before;
  t.equal(r.statuses['503'], n, 'the outage is visible to the client');
  // Without a budget: 3 attempts each (900). With it: n + 20% of n + the 10/s floor over 10 s.
  t.ok(attempts <= n + 0.2 * n + 100 + 20, `server saw ${attempts} attempts for ${n} requests`);
  t.ok(attempts > n, 'some retries were still allowed');
  t.ok((await l7('n1')).retryBudgetExhausted > c0.retryBudgetExhausted, 'refused retries are counted');
});

t.test('an HTTPRoute timeout answers 504 with weft-timeout', async (t) => {
  const r = await client('client', ['timing', '--url', 'http://10.96.0.24/delay/5000']);
  t.equal(r.status, 504);
  t.equal(r.weftTimeout, 'request');
  t.ok((r.elapsedMs as number) < 4000, `answered after ${String(r.elapsedMs)} ms, before the server would have`);
  const fast = await client('client', ['timing', '--url', 'http://10.96.0.24/delay/10']);
  t.equal(fast.status, 200, 'a fast request under the same route passes');
  t.ok((await l7('n1')).timeouts > 0);
});

t.test('HTTP/1.1 and HTTP/2 pass between nodes unchanged', async (t) => {
  for (const check of ['keepalive', 'upload', 'download', 'continue', 'trailers', 'ws']) {
    const r = await client('client', [check, '--url', 'http://10.96.0.23/']);
    t.ok(r.ok, `${check}: ${JSON.stringify(r)}`);
  }
  const h2 = await client('client', ['h2', '--url', `http://${tb.pod('feat').ip}:8081`]);
  t.ok(h2.ok, `h2 prior knowledge: ${JSON.stringify(h2)}`);
  const c = await l7('n1');
  t.ok(c.detectedH2 > 0, 'detected as HTTP/2');
  t.ok(c.upgrades > 0, 'the WebSocket went the upgrade path');
  const local = await client('client', ['upload', '--url', 'http://10.96.0.20/'.replace('10.96.0.20', tb.pod('web1').ip + ':8080')]);
  t.ok(local.ok, 'same-node HTTP keeps working through the L7 path');
});

t.test('an HTTPRoute splits traffic by weight and routes by header', async (t) => {
  const split = await load('client', ['--urls', 'http://10.96.0.25/', '--requests', '100', '--concurrency', '4']);
  t.ok((split.byName.feat ?? 0) >= 20 && (split.byName.flaky ?? 0) >= 20, `both backends serve a share: ${JSON.stringify(split.byName)}`);
  const canary = await load('client', ['--urls', 'http://10.96.0.25/', '--requests', '30', '--concurrency', '2', '--header', 'x-canary: yes']);
  t.same(canary.byName, { feat: 30 }, 'the header match takes precedence');
});

t.test('HTTP requests reach the golden metrics on both sides', async (t) => {
  const prom = async (node: string) => parseProm((await mesh.admin(node, '/metrics')).body as string);
  const n1 = await prom('n1');
  const n2 = await prom('n2');
  const out = sumOf(n1, 'weft_http_requests_total', { direction: 'outbound', destination_service: 'demo/web' });
  t.ok(out >= 300, `n1 counted outbound requests to demo/web (${out})`);
  t.ok(sumOf(n1, 'weft_http_requests_total', { direction: 'outbound', http_response_status_code: '503' }) > 0, 'failed attempts are counted with their status');
  t.ok(sumOf(n1, 'weft_outlier_ejections_total', {}) > 0, 'ejections reached the metrics');
  t.ok(sumOf(n2, 'weft_http_requests_total', { direction: 'inbound', source_identity: 'spiffe://cluster.local/ns/demo/sa/client' }) > 0, 'n2 counted inbound requests with the verified peer identity');
});
