import t from 'tap';
import { ownsNetns, planTopology } from './topology.ts';

const spec = {
  name: 'topo',
  nodes: [
    { name: 'node-a', pods: [{ name: 'web' }, { name: 'db', namespace: 'prod' }] },
    { name: 'node-b', pods: [{ name: 'web' }] },
  ],
};

t.test('addresses and names follow the plan', async (t) => {
  const m = planTopology(spec);
  t.equal(m.fabricNetns, 'weft-topo-fab');
  t.same(m.nodes.map((n) => [n.netns, n.ip, n.podCidr]), [
    ['weft-topo-n1', '172.31.0.11', '10.244.1.0/24'],
    ['weft-topo-n2', '172.31.0.12', '10.244.2.0/24'],
  ]);
  t.same(m.nodes[0].pods.map((p) => [p.netns, p.ip, p.hostIface, p.namespace, p.node]), [
    ['weft-topo-n1-web', '10.244.1.11', 'p1', 'default', 'node-a'],
    ['weft-topo-n1-db', '10.244.1.12', 'p2', 'prod', 'node-a'],
  ]);
  t.equal(m.nodes[1].pods[0].ip, '10.244.2.11');
});

t.test('interface names fit the 15-character kernel limit even at the maxima', async (t) => {
  const pods = Array.from({ length: 200 }, (_, j) => ({ name: `p${j}` }));
  const m = planTopology({ name: 'big', nodes: Array.from({ length: 200 }, (_, i) => ({ name: `n${i}`, pods: i === 0 ? pods : [] })) });
  t.same(m.nodes[0].pods.filter((p) => p.hostIface.length > 15), [], 'every host-side name fits');
  t.ok(`n${m.nodes.length}`.length <= 15);
});

t.test('invalid specs are refused with every problem listed', async (t) => {
  t.throws(() => planTopology({ name: 'Bad Name', nodes: [] }), /lowercase slug.*between 1 and/);
  t.throws(() => planTopology({ name: 'ok', nodes: [{ name: 'a', pods: [{ name: 'x' }, { name: 'x' }] }, { name: 'a', pods: [] }] }), /duplicate pod x.*duplicate node a|duplicate node a/);
});

t.test('ownsNetns recognises only this testbed\'s namespaces', async (t) => {
  t.ok(ownsNetns('topo', 'weft-topo-fab'));
  t.ok(ownsNetns('topo', 'weft-topo-n2'));
  t.ok(ownsNetns('topo', 'weft-topo-n2-web'));
  t.notOk(ownsNetns('topo', 'weft-topology-n1'));
  t.notOk(ownsNetns('topo', 'weft-topo-x1'));
  t.notOk(ownsNetns('topo', 'other-ns'));
});

t.test('the bridge shape: pods in the node subnet behind cni0 at its first address', async (t) => {
  const m = planTopology({ ...spec, cni: 'bridge' });
  t.equal(m.cni, 'bridge');
  t.same(m.nodes.map((n) => [n.podCidr, n.bridge]), [
    ['10.244.1.0/24', { name: 'cni0', ip: '10.244.1.1', prefix: 24 }],
    ['10.244.2.0/24', { name: 'cni0', ip: '10.244.2.1', prefix: 24 }],
  ]);
  t.same(m.nodes.flatMap((n) => n.pods.map((p) => [p.netns, p.ip, p.prefix, p.gateway, p.hostIface])), [
    ['weft-topo-n1-web', '10.244.1.11', 24, '10.244.1.1', 'p1'],
    ['weft-topo-n1-db', '10.244.1.12', 24, '10.244.1.1', 'p2'],
    ['weft-topo-n2-web', '10.244.2.11', 24, '10.244.2.1', 'p1'],
  ]);
});

t.test('routed stays the default shape: /32 pods behind the link-local gateway, no bridge', async (t) => {
  const m = planTopology(spec);
  t.equal(m.cni, 'routed');
  t.same(m.nodes.map((n) => n.bridge), [undefined, undefined]);
  t.same(m.nodes[0].pods.map((p) => [p.prefix, p.gateway]), [[32, '169.254.1.1'], [32, '169.254.1.1']]);
});

t.test('an unknown CNI shape is refused', async (t) => {
  t.throws(() => planTopology({ ...spec, cni: 'flannel' as never }), /cni "flannel" must be one of routed, bridge/);
});
