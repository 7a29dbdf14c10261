// Faults: endpoint churn. Behind one Service VIP, pods leave and join the endpoints every second
// (the cluster file rewritten, as the API server would report scale-downs and new pods) while a
// client keeps idempotent requests going. Promise: zero failed idempotent requests, every byte
// checked, and the churn really reached the agents.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { finishLossless, figures, LONG, sleep, startSteady } from './fault-load.ts';

const VIP = '10.96.0.20';
const WEBS = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5'];
const tb = await withTestbed(t, {
  name: 'fault-churn',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web-1', namespace: 'demo' }, { name: 'web-2', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web-3', namespace: 'demo' }, { name: 'web-4', namespace: 'demo' }, { name: 'web-5', namespace: 'demo' }] },
  ],
});
const cluster = { meshedNamespaces: ['demo'], services: [{ name: 'web', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'web' }] };
const mesh = await Mesh.start(tb, { cluster, agentEnv: { WEFT_WORKERS: '1', WEFT_DRAIN_MS: '1000' } });
t.teardown(() => mesh.stop());
for (const p of WEBS) await mesh.startApp(p, 'l7-server.ts', ['--port', '8080', '--name', p]);

const stateVersion = async (node: string): Promise<number> => ((await mesh.admin(node, '/config_dump/state')).body as { state: { version: number } }).state.version;

t.test('pods leave and join the endpoints every second under load: no failed idempotent request', async (t) => {
  const changes = LONG ? 120 : 12;
  const get = await startSteady(mesh, 'client', ['--urls', `http://${VIP}/`, '--method', 'GET', '--bytes', '4096', '--concurrency', '3', '--pause', '10']);
  const put = await startSteady(mesh, 'client', ['--urls', `http://${VIP}/`, '--method', 'PUT', '--bytes', '8192', '--concurrency', '2', '--pause', '10']);
  await mesh.waitUntil(() => get.answered() > 20 && put.answered() > 10, 20_000, 'load to flow');
  const v0 = [await stateVersion('n1'), await stateVersion('n2')];
  // Each second one or two pods are gone (removed from the model, as if deleted) and the rest
  // are back; at least three endpoints remain, on both nodes in turn.
  const absentSets: string[][] = [];
  for (let i = 0; i < changes; i++) {
    const absent = i % 3 === 2 ? [WEBS[i % 5], WEBS[(i + 2) % 5]] : [WEBS[i % 5]];
    absentSets.push(absent);
    await mesh.writeCluster({ ...cluster, absentPods: absent });
    await sleep(1000);
  }
  await mesh.writeCluster(cluster);
  await sleep(2000);
  const v1 = [await stateVersion('n1'), await stateVersion('n2')];
  const [g, p] = await finishLossless(t, [get, put]);
  // The file source coalesces writes that land within its debounce; most must get through.
  t.ok(v1[0] - v0[0] >= changes / 2 && v1[1] - v0[1] >= changes / 2, `the churn reached both agents (state versions +${v1[0] - v0[0]}, +${v1[1] - v0[1]} for ${changes} changes)`);
  const served = WEBS.filter((w) => (g.byName[w] ?? 0) + (p.byName[w] ?? 0) > 0);
  t.same(served, WEBS, `every endpoint served while it was in (${JSON.stringify(g.byName)})`);
  // Requests that met an endpoint its node had already dropped: refused there, retried here.
  const refused = ['n1', 'n2'].reduce((n, node) => n + (mesh.agentLog(node).match(/"msg":"HTTP request refused"/g)?.length ?? 0), 0);
  t.comment(`${changes} endpoint changes; ${refused} attempts refused by a peer agent mid-churn and retried; ${figures(g)}; ${figures(p)}`);
});
