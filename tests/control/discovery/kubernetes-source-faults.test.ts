// The kubernetes discovery source against the HAND-WRITTEN API server fixture (tests/k8s-fixture),
// only for what the real API server (kubernetes-source.test.ts) cannot be made to show here:
//   - a watch that stalls (the connection stays open, nothing arrives — a dead path or a wedged
//     server): the idle timeout must resume it;
//   - bookmarks on a quiet collection at a chosen rate (the real server sends one about a minute),
//     and a resume from a bookmark after compaction without a relist;
//   - the exact query an informer sends (allowWatchBookmarks, timeoutSeconds, resourceVersion), which
//     needs the fixture's request log;
//   - start failing on an API server that does not answer.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '../../../common/log.ts';
import type { ResourceRecord } from '../../../control/api/model.ts';
import { KubernetesSource, loadKubeConfig } from '../../../control/discovery/kubernetes-source.ts';
import { createDiscoverySource } from '../../../control/discovery/source.ts';
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

t.test('a stalled watch is resumed by the idle timeout', async (t) => {
  const h = await harness(t, [webPod(1)], { bookmarkIntervalMs: 60_000, watchIdleTimeoutMs: 600 });
  // A stalled watch: events are held back and no bookmark comes; the idle timeout resumes it.
  h.fixture.stallWatches();
  h.fixture.upsert(pod(webPod(3)));
  const watchesBefore = h.fixture.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch === 'true').length;
  await until('watch re-opened after idling', () => h.fixture.requests.filter((r) => r.path === '/api/v1/pods' && r.query.watch === 'true').length > watchesBefore);
  await until('the lost change arrives through the new watch', () => h.latest().has('workload:shop/web-3'));
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
