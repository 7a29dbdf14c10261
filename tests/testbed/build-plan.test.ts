import t from 'tap';
import { planBuild } from './build-plan.ts';
import { planTopology } from './topology.ts';

const nodes = [
  { name: 'a', pods: [{ name: 'web' }, { name: 'db' }] },
  { name: 'b', pods: [{ name: 'api' }] },
];

t.test('routed: /32 pods, a link-local gateway on each host veth, a /32 route per pod', async (t) => {
  const plan = planBuild(planTopology({ name: 'bp', nodes }));
  t.same(plan.namespaces, ['weft-bp-n1-web', 'weft-bp-n1-db', 'weft-bp-n2-api', 'weft-bp-n1', 'weft-bp-n2', 'weft-bp-fab']);
  t.same(plan.sysctls[0], { netns: 'weft-bp-n1', settings: ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'] });
  t.same(plan.stages[0], [{ netns: 'weft-bp-fab', lines: ['link set lo up', 'link add br0 type bridge', 'link set br0 up'] }]);
  t.same(plan.stages[1][0], { netns: 'weft-bp-n1', lines: [
    'link set lo up',
    'link add eth0 type veth peer name n1 netns weft-bp-fab',
    'addr add 172.31.0.11/24 dev eth0',
    'link set eth0 up',
    'link add p1 type veth peer name eth0 netns weft-bp-n1-web',
    'addr add 169.254.1.1/32 dev p1',
    'link set p1 up',
    'route add 10.244.1.11/32 dev p1 scope link src 172.31.0.11',
    'link add p2 type veth peer name eth0 netns weft-bp-n1-db',
    'addr add 169.254.1.1/32 dev p2',
    'link set p2 up',
    'route add 10.244.1.12/32 dev p2 scope link src 172.31.0.11',
    'route add 10.244.2.0/24 via 172.31.0.12 dev eth0',
  ] });
  t.same(plan.stages[2], [{ netns: 'weft-bp-fab', lines: ['link set n1 master br0', 'link set n1 up', 'link set n2 master br0', 'link set n2 up'] }]);
  t.same(plan.stages[3][2], { netns: 'weft-bp-n2-api', lines: [
    'link set lo up',
    'addr add 10.244.2.11/32 dev eth0',
    'link set eth0 up',
    'route add 169.254.1.1 dev eth0 scope link',
    'route add default via 169.254.1.1 dev eth0',
  ] });
});

t.test('bridge: cni0 holds the gateway, pod veths are its ports, bridged frames go through iptables', async (t) => {
  const plan = planBuild(planTopology({ name: 'bp', nodes, cni: 'bridge' }));
  t.same(plan.sysctls.map((s) => s.settings.at(-1)), ['net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-iptables=1']);
  t.same(plan.stages[1][1], { netns: 'weft-bp-n2', lines: [
    'link set lo up',
    'link add eth0 type veth peer name n2 netns weft-bp-fab',
    'addr add 172.31.0.12/24 dev eth0',
    'link set eth0 up',
    'link add cni0 type bridge',
    'addr add 10.244.2.1/24 dev cni0',
    'link set cni0 up',
    'link add p1 type veth peer name eth0 netns weft-bp-n2-api',
    'link set p1 master cni0',
    'link set p1 up',
    'route add 10.244.1.0/24 via 172.31.0.11 dev eth0',
  ] });
  t.same(plan.stages[3][0], { netns: 'weft-bp-n1-web', lines: [
    'link set lo up',
    'addr add 10.244.1.11/24 dev eth0',
    'link set eth0 up',
    'route add default via 10.244.1.1 dev eth0',
  ] });
  t.notOk(plan.stages.flat().some((b) => b.lines.some((l) => l.includes('169.254.1.1'))), 'no link-local gateway in the bridge shape');
});
