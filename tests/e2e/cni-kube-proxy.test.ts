// kube-proxy by itself, no mesh: the bridge CNI shape (tests/testbed, cni0 + br_netfilter) run as
// a real cluster (tests/kube), the real kube-proxy v1.28.7 in iptables mode in each node
// namespace talking to the real API server. A pod's request to a ClusterIP reaches an endpoint pod
// through kube-proxy's DNAT — on the other node and on its own (whose reply is bridged back and
// un-NATed only because bridged frames pass iptables) — and kube-proxy's own KUBE-SERVICES
// rules, read back with iptables-save, say where each ClusterIP goes.
import t from 'tap';
import { withTestbed, startProbeServer, probeConnect } from '../testbed/index.ts';
import type { ClusterSpec } from '../testbed/cluster-objects.ts';
import { startKubeTestbedCluster } from '../kube/testbed-cluster.ts';
import { startKubeProxies } from '../kube/testbed-kube-proxy.ts';
import { sepPackets } from '../kube/kube-proxy-rules.ts';

const VIP = '10.96.0.20';

const tb = await withTestbed(t, {
  name: 'cni-kproxy',
  cni: 'bridge',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'web-1', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'web-2', namespace: 'demo' }] },
  ],
});
const spec: ClusterSpec = {
  meshedNamespaces: [],
  services: [{ name: 'web', namespace: 'demo', clusterIP: VIP, port: 80, targetPort: 8080, selector: 'web' }],
};
const cluster = await startKubeTestbedCluster(t, 'cni-kproxy', tb.model, spec);
if (cluster !== null) {
  const proxies = await startKubeProxies(t, tb, cluster);
  if (typeof proxies === 'string') {
    t.test('kube-proxy', { skip: proxies }, () => undefined);
  } else {
    const [client, web1, web2] = [tb.pod('client'), tb.pod('web-1'), tb.pod('web-2')];
    const endpoints = [`${web1.ip}:8080`, `${web2.ip}:8080`];

    t.test('kube-proxy programs the Service from the API server on every node', async (t) => {
      await proxies.waitProgrammed(VIP, 80, endpoints);
      for (const n of tb.nodes) {
        const svc = (await proxies.services(n.name)).get(`${VIP}:80`);
        t.equal(svc?.service, 'demo/web:tcp', `${n.name}: KUBE-SERVICES names demo/web`);
        t.same(svc?.endpoints, endpoints.sort(), `${n.name}: DNAT to both endpoint pods`);
        t.ok(proxies.log(n.name).includes(`Successfully retrieved node IP: ${n.ip}`), `${n.name}: kube-proxy read its Node object's InternalIP (--hostname-override)`);
      }
    });

    t.test('nothing but kube-proxy takes the service CIDR', async (t) => {
      for (const n of [...tb.nodes.map((x) => x.netns), client.netns]) {
        const r = await tb.exec(n, 'ip', ['route', 'get', VIP]);
        if (n === client.netns) t.match(r.stdout, new RegExp(`via ${tb.node('n1').bridge!.ip} dev eth0`), 'the pod sends it to its gateway');
        else t.not(r.code, 0, `${n} has no route for ${VIP} (${r.stdout.trim() || r.stderr.trim()})`);
      }
    });

    t.test('a pod reaches both endpoints of a ClusterIP through kube-proxy DNAT, unmasqueraded', async (t) => {
      const s1 = await startProbeServer(tb, web1.netns, 8080, { tag: 'web-1' });
      const s2 = await startProbeServer(tb, web2.netns, 8080, { tag: 'web-2' });
      t.teardown(async () => { await s1.stop(); await s2.stop(); });
      const chains = (await proxies.services('n1')).get(`${VIP}:80`)!.endpointChains;
      const countersBefore = (await tb.exec(tb.node('n1').netns, 'iptables-save', ['-c', '-t', 'nat'])).stdout;
      const seen = new Set<string>();
      for (let i = 0; i < 60 && seen.size < 2; i++) {
        const r = await probeConnect(tb, client.netns, VIP, 80, 5);
        t.ok(r.ok, `request ${i} answered (${r.error})`);
        seen.add(r.reply);
      }
      t.same([...seen].sort(), ['web-1', 'web-2'], 'both the same-node and the cross-node endpoint served');
      for (const s of [s1, s2]) {
        const a = await s.waitForAccept((x) => x.remoteAddress === client.ip);
        t.equal(a.localPort, 8080, 'the endpoint saw its targetPort (DNAT rewrote 80)');
        t.equal(a.remoteAddress, client.ip, 'and the client pod\'s own address (no SNAT inside the cluster CIDR)');
      }
      const countersAfter = (await tb.exec(tb.node('n1').netns, 'iptables-save', ['-c', '-t', 'nat'])).stdout;
      const used = chains.map((c) => sepPackets(countersAfter, c) - sepPackets(countersBefore, c));
      t.ok(used.every((n) => n > 0), `both KUBE-SEP DNAT rules on n1 counted packets (${used.join(', ')})`);
    });
  }
}
