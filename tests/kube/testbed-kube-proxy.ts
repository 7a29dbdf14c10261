// kube-proxy (the real v1.28.7 binary from ../shared/kube, iptables mode) in every node namespace
// of a testbed run as a real cluster (testbed-cluster.ts), as a kubeadm node runs it: its own
// ServiceAccount bound to the built-in system:node-proxier role, --hostname-override naming its
// Node object (whose InternalIP kube-proxy reads), --cluster-cidr the pods' range.
//
// The node namespaces have no route to the root namespace, where the API server listens on
// loopback, so each node gets the same loopback port served by a relay (testbed-api-relay.ts) that
// carries the bytes to a unix socket on the shared filesystem; this process's end of the socket
// connects to the API server. TLS stays end to end, so kube-proxy's kubeconfig is an ordinary one.
//
// Nothing routes the service CIDR: the node namespaces have no default route, so a ClusterIP
// packet goes nowhere unless kube-proxy's DNAT (or the mesh) takes it.
import net from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { CLUSTER_CIDR } from '../testbed/topology.ts';
import type { Testbed } from '../testbed/testbed.ts';
import type { TeardownHost } from '../testbed/with-testbed.ts';
import { parseKubeProxyNat, type KubeProxyService } from './kube-proxy-rules.ts';
import type { KubeTestbedCluster } from './testbed-cluster.ts';

const RELAY = fileURLToPath(new URL('./testbed-api-relay.ts', import.meta.url));
export const KUBE_PROXY_ACCOUNT = 'kube-proxy';
const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

export interface KubeProxies {
  /** kube-proxy's ClusterIP:port → service and DNAT endpoints on a node, read from iptables-save. */
  services(node: string): Promise<Map<string, KubeProxyService>>;
  /** Waits until every node's kube-proxy DNATs vip:port to exactly these "ip:port" endpoints. */
  waitProgrammed(vip: string, port: number, endpoints: string[], timeoutMs?: number): Promise<void>;
  /** The tail of a node's kube-proxy log. */
  log(node: string): string;
}

function tail(child: ChildProcess): string[] {
  const lines: string[] = [];
  const take = (d: Buffer): void => {
    lines.push(d.toString('utf8'));
    if (lines.length > 400) lines.splice(0, 200);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return lines;
}

function firstLine(child: ChildProcess, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stdout?.once('data', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}: ${err}`)); });
  });
}

/**
 * Starts the relay and kube-proxy in every node namespace; a string naming the reason when the
 * kube-proxy binary is missing (the caller skips). Everything stops with the testbed and `t`.
 */
export async function startKubeProxies(t: TeardownHost, tb: Testbed, cluster: KubeTestbedCluster): Promise<KubeProxies | string> {
  const { kube } = cluster;
  const bin = kube.bins.tools['kube-proxy'];
  if (bin === undefined) return `kube-proxy.xz is missing from ${kube.bins.sourceDir}`;

  await kube.apply([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: KUBE_PROXY_ACCOUNT, namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding',
      metadata: { name: 'weft-testbed-kube-proxy' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node-proxier' },
      subjects: [{ kind: 'ServiceAccount', name: KUBE_PROXY_ACCOUNT, namespace: 'kube-system' }],
    },
  ]);
  const token = await kube.serviceAccountToken('kube-system', KUBE_PROXY_ACCOUNT, { audiences: [API_AUDIENCE], expirationSeconds: 4 * 3600 });
  const kubeconfig = await kube.tokenKubeconfig('kube-proxy', token);

  // The root namespace's end: unix socket → the API server on loopback.
  const socketPath = join(kube.dir, 'api-relay.sock');
  await rm(socketPath, { force: true });
  const upstreams = new Set<net.Socket>();
  const relay = net.createServer((down) => {
    const up = net.connect(kube.apiPort, '127.0.0.1');
    upstreams.add(down);
    const end = (): void => { down.destroy(); up.destroy(); upstreams.delete(down); };
    down.on('error', end);
    up.on('error', end);
    down.on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve, reject) => { relay.once('error', reject); relay.listen(socketPath, resolve); });
  t.teardown(async () => {
    for (const s of upstreams) s.destroy();
    await new Promise<void>((r) => relay.close(() => r()));
  });

  const logs = new Map<string, string[]>();
  for (const n of tb.nodes) {
    const r = tb.spawn(n.netns, process.execPath, [RELAY, '127.0.0.1', String(kube.apiPort), socketPath]);
    await firstLine(r, `the API relay in ${n.netns}`, 15_000);
    const proxy = tb.spawn(n.netns, bin, [
      `--kubeconfig=${kubeconfig}`,
      '--proxy-mode=iptables',
      `--hostname-override=${n.name}`,
      `--cluster-cidr=${CLUSTER_CIDR}`,
      // Conntrack table size and timeouts are left alone: nf_conntrack_max is the whole
      // machine's, and a test must not change the host.
      '--conntrack-max-per-core=0',
      '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0',
      // Per namespace, so every node may use the usual ports.
      '--metrics-bind-address=127.0.0.1:10249',
      '--healthz-bind-address=127.0.0.1:10256',
      '--v=2',
    ]);
    logs.set(n.name, tail(proxy));
  }

  const services = async (node: string): Promise<Map<string, KubeProxyService>> => {
    const r = await tb.exec(tb.node(node).netns, 'iptables-save', ['-t', 'nat']);
    return parseKubeProxyNat(r.stdout);
  };
  const log = (node: string): string => (logs.get(node) ?? []).join('');
  return {
    services,
    log,
    async waitProgrammed(vip, port, endpoints, timeoutMs = 60_000) {
      const want = [...endpoints].sort().join(',');
      const deadline = Date.now() + timeoutMs;
      for (const n of tb.nodes) {
        for (;;) {
          const have = (await services(n.name)).get(`${vip}:${port}`)?.endpoints.join(',');
          if (have === want) break;
          if (Date.now() > deadline) throw new Error(`kube-proxy on ${n.name} DNATs ${vip}:${port} to [${have ?? 'nothing'}], not [${want}], after ${timeoutMs} ms; its log:\n${log(n.name).slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
  };
}
