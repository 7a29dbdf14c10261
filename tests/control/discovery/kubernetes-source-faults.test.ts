// The kubernetes discovery source against the API server fixture: real list/watch, bookmarks,
// 410 Gone, server-side closes and an API server restart.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '../../../common/log.ts';
import type { ResourceRecord, WorkloadRecord, ServiceRecord } from '../../../control/api/model.ts';
import { KubernetesSource, loadKubeConfig, podsNotReadyBySlices } from '../../../control/discovery/kubernetes-source.ts';
import { createDiscoverySource, discoverySourceNames } from '../../../control/discovery/source.ts';
import { translateObjects } from '../../../control/discovery/k8s-translate.ts';
import { ApiServerFixture, type KubeObject } from '../../k8s-fixture/api-server.ts';
import { endpointSlice, namespace, node, pod, service, type PodSpec, type ServiceSpec } from '../../k8s-fixture/objects.ts';

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const web: ServiceSpec = { name: 'web', namespace: 'shop', clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http' }] };
const webPod = (i: number, extra: Partial<PodSpec> = {}): PodSpec => ({ name: `web-${i}`, namespace: 'shop', node: i % 2 === 0 ? 'node-a' : 'node-b', ip: `10.244.0.${10 + i}`, serviceAccount: 'web', labels: { app: 'web' }, uid: `uid-web-${i}`, ...extra });

function baseObjects(pods: PodSpec[]): KubeObject[] {
  return [
    namespace('shop', true),
    namespace('plain', false),
    node('node-a', '192.168.0.1'),
    node('node-b', '192.168.0.2'),
    service(web),
    endpointSlice(web, pods),
    ...pods.map(pod),
    pod({ name: 'legacy', namespace: 'plain', node: 'node-a', ip: '10.244.0.99', labels: { app: 'legacy' }, uid: 'uid-legacy' }),
  ];
}

interface Harness {
  fixture: ApiServerFixture;
  source: KubernetesSource;
  sets: ResourceRecord[][];
  latest(): Map<string, ResourceRecord>;
  log: ReturnType<typeof memoryLogger>;
}

async function harness(t: { teardown(fn: () => Promise<void>): void }, pods: PodSpec[], opts: { bookmarkIntervalMs?: number; watchIdleTimeoutMs?: number } = {}): Promise<Harness> {
  const fixture = await ApiServerFixture.start({ bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 200 });
  fixture.apply(baseObjects(pods));
  const dir = await mkdtemp(join(tmpdir(), 'k8s-source-'));
  const file = join(dir, 'kubeconfig');
  await writeFile(file, fixture.kubeconfig());
  const log = memoryLogger('k8s');
  const source = new KubernetesSource({ kubeconfig: file, trustDomain: 'cluster.local', log, debounceMs: 10, pageSize: 2, retryInitialMs: 50, retryMaxMs: 200, watchIdleTimeoutMs: opts.watchIdleTimeoutMs ?? 10_000, startTimeoutMs: 10_000 });
  const sets: ResourceRecord[][] = [];
  t.teardown(async () => {
    await source.stop();
    await fixture.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await source.start((r) => sets.push(r));
  return {
    fixture, source, sets, log,
    latest: () => new Map((sets[sets.length - 1] ?? []).map((r) => [`${r.kind}:${r.key}`, r])),
  };
}


t.test('registered as the `kubernetes` source', async (t) => {
  t.ok(discoverySourceNames().includes('kubernetes'));
});

t.test('the first set equals what the file source makes of the same objects', async (t) => {
  const pods = [webPod(1), webPod(2)];
  const h = await harness(t, pods);
  t.equal(h.sets.length, 1, 'start emits once');
  const fromFile = translateObjects(baseObjects(pods).filter((o) => o.kind !== 'EndpointSlice').map((object, i) => ({ origin: `#${i}`, object })), { trustDomain: 'cluster.local' });
  const norm = (rs: ResourceRecord[]): ResourceRecord[] => [...rs].sort((a, b) => `${a.kind}:${a.key}`.localeCompare(`${b.kind}:${b.key}`)).map((r) => (r.kind === 'workload' ? { ...r, uid: '' } : r));
  // The fixture assigns uids where the objects have none; everything else must match exactly.
  t.same(norm(h.sets[0]), norm(fromFile));
  const w = h.latest().get('workload:shop/web-1') as WorkloadRecord;
  t.match(w, { meshed: true, ready: true, node: 'node-b', ip: '10.244.0.11', identity: 'spiffe://cluster.local/ns/shop/sa/web', uid: 'uid-web-1' });
  t.match(h.latest().get('workload:plain/legacy'), { meshed: false });
  t.match(h.latest().get('service:shop/web') as ServiceRecord, { clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080, appProtocol: 'http', name: 'http' }] });
  t.match(h.latest().get('node:node-a'), { address: '192.168.0.1' });
  t.ok(h.fixture.listRequests('Pod') >= 2, 'lists page (pageSize 2)');
});

t.test('follows adds, updates and deletes', async (t) => {
  const h = await harness(t, [webPod(1)]);
  h.fixture.upsert(pod(webPod(2)));
  await until('web-2 added', () => h.latest().has('workload:shop/web-2'));
  h.fixture.upsert(pod(webPod(2, { ready: false })));
  await until('web-2 not ready', () => (h.latest().get('workload:shop/web-2') as WorkloadRecord | undefined)?.ready === false);
  h.fixture.upsert(pod(webPod(2, { optOut: true })));
  await until('web-2 opted out', () => (h.latest().get('workload:shop/web-2') as WorkloadRecord | undefined)?.meshed === false);
  h.fixture.remove('Pod', 'shop', 'web-2');
  await until('web-2 deleted', () => !h.latest().has('workload:shop/web-2'));
  h.fixture.upsert(namespace('plain', true));
  await until('plain namespace meshed', () => (h.latest().get('workload:plain/legacy') as WorkloadRecord | undefined)?.meshed === true);
  h.fixture.upsert(service({ ...web, clusterIP: '10.96.0.11' }));
  await until('service updated', () => (h.latest().get('service:shop/web') as ServiceRecord | undefined)?.clusterIP === '10.96.0.11');
  h.fixture.remove('Node', undefined, 'node-b');
  await until('node deleted', () => !h.latest().has('node:node-b'));
  t.ok(h.latest().has('workload:shop/web-1'), 'the rest stays');
});

t.test('EndpointSlice conditions feed readiness', async (t) => {
  const h = await harness(t, [webPod(1), webPod(2)]);
  t.equal((h.latest().get('workload:shop/web-2') as WorkloadRecord).ready, true);
  h.fixture.upsert(endpointSlice(web, [webPod(1), webPod(2, { ready: false })]));
  await until('web-2 not ready by its slice', () => (h.latest().get('workload:shop/web-2') as WorkloadRecord).ready === false);
  t.equal((h.latest().get('workload:shop/web-1') as WorkloadRecord).ready, true);
  t.same([...podsNotReadyBySlices([endpointSlice(web, [webPod(3, { ready: false })]), { endpoints: [{ conditions: {} , targetRef: { kind: 'Pod', name: 'x' } }] }])], ['shop/web-3']);
});

t.test('a 410 relists without losing or duplicating workloads', async (t) => {
  const h = await harness(t, [webPod(1), webPod(2), webPod(3)]);
  const listsBefore = h.fixture.listRequests('Pod');
  // Changes the source has not seen, then the history under its watch is compacted.
  h.fixture.pauseWatches = true;
  h.fixture.remove('Pod', 'shop', 'web-1');
  h.fixture.upsert(pod(webPod(4)));
  h.fixture.upsert(pod(webPod(3, { ready: false })));
  h.fixture.expireWatches();
  h.fixture.pauseWatches = false;
  await until('relisted', () => h.fixture.listRequests('Pod') > listsBefore && h.latest().has('workload:shop/web-4') && !h.latest().has('workload:shop/web-1'));
  await until('web-3 update seen', () => (h.latest().get('workload:shop/web-3') as WorkloadRecord).ready === false);
  const workloads = h.sets[h.sets.length - 1].filter((r) => r.kind === 'workload').map((r) => r.key).sort();
  t.same(workloads, ['plain/legacy', 'shop/web-2', 'shop/web-3', 'shop/web-4'], 'exactly the live pods, each once');
  // Still watching after the relist.
  h.fixture.upsert(pod(webPod(5)));
  await until('watch resumed after relist', () => h.latest().has('workload:shop/web-5'));
});

t.test('a server-side watch close resumes from the last resourceVersion without a relist', async (t) => {
  const h = await harness(t, [webPod(1)]);
  await until('watches open', () => h.fixture.openWatches === 5);
  const lists = h.fixture.listRequests('Pod');
  h.fixture.closeWatches();
  h.fixture.upsert(pod(webPod(2)));
  await until('event after close seen', () => h.latest().has('workload:shop/web-2'));
  t.equal(h.fixture.listRequests('Pod'), lists, 'no relist');
  const watches = h.fixture.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch === 'true');
  t.ok(watches.length >= 2, 'watched again');
  t.ok(watches.every((w) => w.query.allowWatchBookmarks === 'true' && Number(w.query.timeoutSeconds) > 0), 'asks for bookmarks and a server timeout');
  t.ok(Number(watches[watches.length - 1].query.resourceVersion) > 0, 'resumed from a resourceVersion');
});

t.test('bookmarks advance the resourceVersion of a quiet collection', async (t) => {
  const h = await harness(t, [webPod(1)], { bookmarkIntervalMs: 100 });
  await until('watches open', () => h.fixture.openWatches === 5);
  // Many changes to pods; nodes stay quiet but their watch hears bookmarks.
  for (let i = 2; i < 6; i++) h.fixture.upsert(pod(webPod(i)));
  await until('node informer at the newest resourceVersion', () => Number(h.source.status().find((s) => s.kind === 'Node')?.resourceVersion) === h.fixture.resourceVersion);
  h.fixture.compact(); // a resume from the bookmark is still valid: nothing older than it is needed
  const lists = h.fixture.listRequests('Node');
  h.fixture.closeWatches();
  h.fixture.upsert(node('node-c', '192.168.0.3'));
  await until('node-c seen', () => h.latest().has('node:node-c'));
  t.equal(h.fixture.listRequests('Node'), lists, 'resumed from the bookmark, no relist');
});

t.test('survives an API server restart and a stalled watch', async (t) => {
  const h = await harness(t, [webPod(1)], { bookmarkIntervalMs: 60_000, watchIdleTimeoutMs: 600 });
  await h.fixture.stop();
  await new Promise((r) => setTimeout(r, 300));
  await h.fixture.restart();
  h.fixture.upsert(pod(webPod(2)));
  await until('change after restart seen', () => h.latest().has('workload:shop/web-2'));
  t.ok(h.latest().has('workload:shop/web-1'), 'nothing lost across the outage');
  // A stalled watch: events are held back and no bookmark comes; the idle timeout resumes it.
  h.fixture.stallWatches();
  h.fixture.upsert(pod(webPod(3)));
  const watchesBefore = h.fixture.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch === 'true').length;
  await until('watch re-opened after idling', () => h.fixture.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch === 'true').length > watchesBefore);
  await until('the lost change arrives through the new watch', () => h.latest().has('workload:shop/web-3'));
});

t.test('a bad object is left out, the rest flows', async (t) => {
  const h = await harness(t, [webPod(1)]);
  const broken = pod(webPod(7));
  (broken.spec as Record<string, unknown>).serviceAccountName = 42;
  h.fixture.upsert(broken);
  h.fixture.upsert(pod(webPod(8)));
  await until('good pod added', () => h.latest().has('workload:shop/web-8'));
  t.notOk(h.latest().has('workload:shop/web-7'));
  t.ok(h.log.lines.some((l) => l.msg === 'kubernetes object refused; left out of the model' && String(l.reason).includes('serviceAccountName')), 'says why');
});

t.test('start fails clearly when the API server is unreachable; config errors are clear', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubeconfig');
  const f = await ApiServerFixture.start();
  await writeFile(file, f.kubeconfig());
  await f.stop();
  const source = createDiscoverySource('kubernetes', { trustDomain: 'cluster.local', log: memoryLogger(), options: { kubeconfig: file, startTimeoutMs: 500, retryInitialMs: 50 } });
  await t.rejects(source.start(() => undefined), { code: 'WEFT_ERR_SOURCE_INVALID', message: /did not answer the first list/ });
  t.throws(() => loadKubeConfig(join(dir, 'missing')), { code: 'WEFT_ERR_CONFIG_INVALID' });
});
