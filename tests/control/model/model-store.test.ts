import t from 'tap';
import type { NodeRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';
import { ModelStore, type ModelChange } from '../../../control/model/model-store.ts';
import { memoryLogger } from '../../../common/log.ts';

function pod(name: string, over: Partial<WorkloadRecord> = {}): WorkloadRecord {
  return {
    kind: 'workload', key: `ns1/${name}`, uid: `uid-${name}`, name, namespace: 'ns1', node: 'node-a', ip: '10.0.0.1',
    serviceAccount: 'sa', identity: 'spiffe://cluster.local/ns/ns1/sa/sa', labels: { app: name }, meshed: true, ready: true, ...over,
  };
}
const svc: ServiceRecord = { kind: 'service', key: 'ns1/web', name: 'web', namespace: 'ns1', clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: 'a' } };
const node: NodeRecord = { kind: 'node', key: 'node-a', name: 'node-a', address: '192.168.0.1' };

t.test('replaceAll diffs against the current model and bumps the version only on change', async (t) => {
  const store = new ModelStore();
  const seen: ModelChange[] = [];
  store.subscribe((c) => seen.push(c));
  t.equal(store.version, 0);

  const c1 = store.replaceAll([pod('a'), svc, node]);
  t.equal(c1?.version, 1);
  t.equal(c1?.upserts.length, 3);
  t.same(c1?.removes, []);

  // Deep-equal copies (fresh objects, different key order) are not a change.
  const reordered = JSON.parse(JSON.stringify({ ...svc, selector: { app: 'a' } })) as ServiceRecord;
  t.equal(store.replaceAll([{ ...pod('a') }, reordered, { ...node }]), null);
  t.equal(store.version, 1);

  const c2 = store.replaceAll([pod('a', { ready: false }), node]);
  t.equal(c2?.version, 2);
  t.same(c2?.upserts.map((r) => r.key), ['ns1/a']);
  t.same(c2?.removes, ['service:ns1/web']);
  t.same(seen.map((c) => c.version), [1, 2], 'subscribers hear each real change once');
  t.same(store.snapshot().records.map((r) => r.key).sort(), ['node-a', 'ns1/a']);
  t.equal(store.snapshot().version, 2);
});

t.test('apply: upserts and removes, no-op removes, id in both', async (t) => {
  const store = new ModelStore();
  store.apply([pod('a'), pod('b')]);
  t.equal(store.apply([], ['workload:ns1/zzz']), null, 'removing what is not there is no change');
  t.equal(store.apply([pod('a')]), null, 'upserting an equal record is no change');
  const c = store.apply([pod('c')], ['workload:ns1/b']);
  t.same(c, { version: 2, upserts: [pod('c')], removes: ['workload:ns1/b'] });
  const both = store.apply([pod('a', { ip: '10.0.0.9' })], ['workload:ns1/a']);
  t.equal(both?.version, 3);
  t.same(both?.removes, []);
  t.equal((store.get('workload:ns1/a') as WorkloadRecord).ip, '10.0.0.9');
});

t.test('stored records are frozen copies', async (t) => {
  const store = new ModelStore();
  const input = pod('a');
  store.apply([input]);
  input.ip = '1.2.3.4';
  const stored = store.get('workload:ns1/a') as WorkloadRecord;
  t.equal(stored.ip, '10.0.0.1', 'caller mutation does not reach the store');
  t.throws(() => { (stored.labels as Record<string, string>).x = 'y'; });
});

t.test('node queries: workloads and meshed identities', async (t) => {
  const store = new ModelStore();
  store.replaceAll([
    pod('a'),
    pod('b', { node: 'node-b', identity: 'spiffe://cluster.local/ns/ns1/sa/b' }),
    pod('c', { meshed: false, identity: 'spiffe://cluster.local/ns/ns1/sa/c' }),
    pod('d', { identity: 'spiffe://cluster.local/ns/ns1/sa/d' }),
    node,
  ]);
  t.same(store.workloadsOnNode('node-a').map((w) => w.name).sort(), ['a', 'c', 'd']);
  t.same([...store.identitiesOnNode('node-a')].sort(), ['spiffe://cluster.local/ns/ns1/sa/d', 'spiffe://cluster.local/ns/ns1/sa/sa']);
  t.same([...store.identitiesOnNode('node-zzz')], []);
  // A meshed pod bound to node-a but not yet networked: its agent captures it at CNI ADD and may
  // ask for its certificate then. An unmeshed one adds nothing.
  const pending = { kind: 'pending-workload', key: 'ns1/new', uid: 'u-new', name: 'new', namespace: 'ns1', node: 'node-a', serviceAccount: 'fresh', identity: 'spiffe://cluster.local/ns/ns1/sa/fresh', labels: {}, meshed: true } as const;
  store.apply([pending, { ...pending, key: 'ns1/off', name: 'off', serviceAccount: 'off', identity: 'spiffe://cluster.local/ns/ns1/sa/off', meshed: false }]);
  t.same([...store.identitiesOnNode('node-a')].sort(), ['spiffe://cluster.local/ns/ns1/sa/d', 'spiffe://cluster.local/ns/ns1/sa/fresh', 'spiffe://cluster.local/ns/ns1/sa/sa']);
  t.same([...store.identitiesOnNode('node-b')].filter((id) => id.endsWith('/fresh')), [], 'on its own node only');
});

t.test('a throwing subscriber is logged and does not stop the others', async (t) => {
  const log = memoryLogger();
  const store = new ModelStore({ log });
  let heard = 0;
  store.subscribe(() => { throw new Error('boom'); });
  const off = store.subscribe(() => { heard++; });
  store.apply([pod('a')]);
  t.equal(heard, 1);
  t.equal(log.lines[0]?.msg, 'model subscriber failed');
  off();
  store.apply([pod('b')]);
  t.equal(heard, 1, 'unsubscribed');
});
