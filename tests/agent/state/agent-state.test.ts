import t from 'tap';
import { AgentState, type StateChange } from '../../../agent/state/agent-state.ts';
import { checkRecord } from '../../../agent/state/record-check.ts';
import type { NodeRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';

function pod(name: string, ip: string, over: Partial<WorkloadRecord> = {}): WorkloadRecord {
  return {
    kind: 'workload', key: `shop/${name}`, uid: `u-${name}`, name, namespace: 'shop', node: 'node-a', ip, serviceAccount: 'api',
    identity: 'spiffe://cluster.local/ns/shop/sa/api', labels: { app: 'api' }, meshed: true, ready: true, ...over,
  };
}
const api: ServiceRecord = {
  kind: 'service', key: 'shop/api', name: 'api', namespace: 'shop', clusterIP: '10.96.0.10', selector: { app: 'api' },
  ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'grpc', port: 9090, targetPort: 'grpc', protocol: 'TCP' }, { port: 53, targetPort: 53, protocol: 'UDP' }],
};
const headless: ServiceRecord = { kind: 'service', key: 'shop/db', name: 'db', namespace: 'shop', clusterIP: null, selector: { app: 'db' }, ports: [{ port: 5432, targetPort: 5432, protocol: 'TCP' }] };
const nodeA: NodeRecord = { kind: 'node', key: 'node-a', name: 'node-a', address: '192.168.0.1' };
const nodeB: NodeRecord = { kind: 'node', key: 'node-b', name: 'node-b', address: '192.168.0.2' };

t.test('snapshot builds the indexes; endpoints follow selector, readiness and namespace', async (t) => {
  const s = new AgentState();
  t.equal(s.version, null);
  s.applySnapshot(3, [
    pod('a', '10.1.0.1'),
    pod('b', '10.1.0.2', { node: 'node-b' }),
    pod('c', '10.1.0.3', { ready: false }),
    pod('d', '10.1.0.4', { labels: { app: 'web' } }),
    pod('e', '10.1.0.5', { namespace: 'other', key: 'other/e' }),
    pod('f', '10.1.0.6', { meshed: false }),
    api, headless, nodeA, nodeB,
  ]);
  t.equal(s.version, 3);
  t.equal(s.workloadByIp('10.1.0.2')?.key, 'shop/b');
  t.equal(s.workloadByIp('10.9.9.9'), undefined);
  t.equal(s.workloadByKey('shop/a')?.ip, '10.1.0.1');
  t.equal(s.serviceByAddress('10.96.0.10', 80)?.port.name, 'http');
  t.equal(s.serviceByAddress('10.96.0.10', 53), undefined, 'UDP ports are not captured');
  t.equal(s.serviceByAddress('10.96.0.10', 81), undefined);
  t.equal(s.nodeAddress('node-b'), '192.168.0.2');
  const eps = s.endpoints('shop/api', 80);
  t.same(eps.map((e) => [e.workload.key, e.ip, e.port, e.node, e.nodeAddress]), [
    ['shop/a', '10.1.0.1', 8080, 'node-a', '192.168.0.1'],
    ['shop/b', '10.1.0.2', 8080, 'node-b', '192.168.0.2'],
    ['shop/f', '10.1.0.6', 8080, 'node-a', '192.168.0.1'],
  ], 'ready, selected, same namespace; unmeshed pods are endpoints too');
  t.same(s.endpoints('shop/api', 9090), [], 'a named target port: no pod here names it, so no endpoint');
  t.same(s.endpoints('shop/nope', 80), []);
  t.same(s.localWorkloads('node-a').map((w) => w.key).sort(), ['other/e', 'shop/a', 'shop/c', 'shop/d']);
});

t.test('deltas update indexes and invalidate endpoints; listeners hear real changes', async (t) => {
  const s = new AgentState();
  const heard: StateChange[] = [];
  s.onChange((c) => heard.push(c));
  s.applySnapshot(1, [pod('a', '10.1.0.1'), api, nodeA]);
  t.equal(s.endpoints('shop/api', 80).length, 1);

  const c = s.applyDelta(2, [pod('a', '10.1.0.1'), pod('b', '10.1.0.2')], []);
  t.same(c.upserts.map((r) => r.key), ['shop/b'], 'an unchanged upsert is not re-announced');
  t.equal(s.endpoints('shop/api', 80).length, 2);

  // IP moves: old IP index entry must go.
  s.applyDelta(3, [pod('a', '10.1.0.9')], []);
  t.equal(s.workloadByIp('10.1.0.1'), undefined);
  t.equal(s.workloadByIp('10.1.0.9')?.key, 'shop/a');

  // ClusterIP change re-indexes.
  s.applyDelta(4, [{ ...api, clusterIP: '10.96.0.11' }], []);
  t.equal(s.serviceByAddress('10.96.0.10', 80), undefined);
  t.equal(s.serviceByAddress('10.96.0.11', 80)?.service.key, 'shop/api');

  const r = s.applyDelta(5, [], ['workload:shop/b', 'node:node-a', 'workload:shop/none']);
  t.same(r.removes.map((x) => x.key).sort(), ['node-a', 'shop/b'], 'removes carry the last value');
  t.equal(s.nodeAddress('node-a'), undefined);
  t.same(s.endpoints('shop/api', 80).map((e) => e.nodeAddress), [undefined]);
  t.same(heard.map((h) => [h.version, h.resync]), [[1, true], [2, false], [3, false], [4, false], [5, false]]);
});

t.test('a snapshot replaces: what it does not carry is dropped', async (t) => {
  const s = new AgentState();
  s.applySnapshot(1, [pod('a', '10.1.0.1'), pod('b', '10.1.0.2'), api]);
  const c = s.applySnapshot(7, [pod('b', '10.1.0.2'), pod('c', '10.1.0.3')]);
  t.same(c.upserts.map((r) => r.key), ['shop/c']);
  t.same(c.removes.map((r) => r.key).sort(), ['shop/a', 'shop/api']);
  t.equal(s.workloadByIp('10.1.0.1'), undefined);
  t.equal(s.serviceByAddress('10.96.0.10', 80), undefined);
  t.equal(s.size, 2);
  t.equal(s.version, 7);
});

t.test('a shared IP prefers the meshed, ready workload and survives removing the other', async (t) => {
  const s = new AgentState();
  s.applySnapshot(1, [pod('old', '10.1.0.1', { ready: false, meshed: false }), pod('new', '10.1.0.1')]);
  t.equal(s.workloadByIp('10.1.0.1')?.key, 'shop/new');
  s.applyDelta(2, [], ['workload:shop/old']);
  t.equal(s.workloadByIp('10.1.0.1')?.key, 'shop/new');
});

t.test('a named target port resolves per pod; a pod that does not name it is no endpoint', async (t) => {
  const s = new AgentState();
  s.applySnapshot(1, [
    pod('a', '10.1.0.1', { namedPorts: { grpc: 50051, metrics: 9100 } }),
    pod('b', '10.1.0.2', { namedPorts: { grpc: 7000 } }),
    pod('c', '10.1.0.3', { namedPorts: { http: 8080 } }),
    pod('d', '10.1.0.4'),
    // A name that is also an Object.prototype member must not resolve to one.
    pod('e', '10.1.0.5', { namedPorts: {} }),
    { ...api, key: 'shop/proto', name: 'proto', clusterIP: '10.96.0.11', ports: [{ port: 80, targetPort: 'constructor', protocol: 'TCP' }] },
    api, nodeA,
  ]);
  t.same(s.endpoints('shop/api', 9090).map((e) => [e.workload.key, e.port]), [['shop/a', 50051], ['shop/b', 7000]], 'each pod\'s own number for the name');
  t.same(s.endpoints('shop/api', 80).map((e) => [e.workload.key, e.port]), [['shop/a', 8080], ['shop/b', 8080], ['shop/c', 8080], ['shop/d', 8080], ['shop/e', 8080]], 'numeric target ports unchanged');
  t.same(s.endpoints('shop/proto', 80), []);
  // The pod is replaced by one that names the port: the cached endpoints follow.
  s.applyDelta(2, [pod('d', '10.1.0.4', { namedPorts: { grpc: 9000 } })], []);
  t.same(s.endpoints('shop/api', 9090).map((e) => [e.workload.key, e.port]), [['shop/a', 50051], ['shop/b', 7000], ['shop/d', 9000]]);
});

t.test('record checks', async (t) => {
  t.equal(checkRecord(pod('a', '1.1.1.1', { namedPorts: { http: 8080 } })), null);
  t.match(checkRecord({ ...pod('a', '1.1.1.1'), namedPorts: { http: 0 } }), /namedPorts must map names to port numbers/);
  t.match(checkRecord({ ...pod('a', '1.1.1.1'), namedPorts: ['http'] }), /namedPorts/);
  t.equal(checkRecord(pod('a', '1.1.1.1')), null);
  t.equal(checkRecord(api), null);
  t.equal(checkRecord(nodeA), null);
  t.match(checkRecord({ ...pod('a', '1.1.1.1'), ip: '' }), /ip must be/);
  t.match(checkRecord({ kind: 'gateway', key: 'x' }), /unknown record kind/);
  t.match(checkRecord({ kind: 'route', key: 'x' }), /name, namespace and createdAt are required/);
  t.match(checkRecord({ ...api, ports: [{ port: 80, targetPort: 8080, protocol: 'ICMP' }] }), /protocol/);
  t.match(checkRecord(null), /not an object/);
});

t.test('pending-workload records: checked, kept apart from workloads, listed per node', async (t) => {
  const p = { kind: 'pending-workload', key: 'shop/new', uid: 'u-new', name: 'new', namespace: 'shop', node: 'node-a', serviceAccount: 'api', identity: 'spiffe://cluster.local/ns/shop/sa/api', labels: { app: 'api' }, meshed: true } as const;
  t.equal(checkRecord(p), null);
  t.match(checkRecord({ ...p, identity: '' }), /identity must be a non-empty string/);
  t.match(checkRecord({ ...p, meshed: 'yes' }), /meshed must be a boolean/);
  t.match(checkRecord({ ...p, labels: { a: 1 } }), /labels must map strings/);
  const s = new AgentState();
  s.applySnapshot(1, [p, { ...p, key: 'shop/off', name: 'off', meshed: false }, { ...p, key: 'shop/far', name: 'far', node: 'node-b' }]);
  t.equal(s.pendingByKey('shop/new')?.uid, 'u-new');
  t.equal(s.workloadByKey('shop/new'), undefined, 'not a workload: nothing routes to it');
  t.same(s.localPending('node-a').map((r) => r.key), ['shop/new'], 'meshed ones on this node only');
  t.same(s.localWorkloads('node-a'), []);
});
