// What building a testbed runs, as a pure function of its model: the namespaces, each node's
// sysctls and the `ip -batch` lines per namespace in the order they must run. Kept apart from the
// mover (testbed.ts) so both CNI shapes are checked line by line without root.
import type { TestbedModel, TestbedNode, TestbedPod } from './topology.ts';

export interface NetnsBatch {
  /** Namespace the lines run in (`ip -n <netns> -batch -`). */
  netns: string;
  lines: string[];
}

export interface BuildPlan {
  /** Every namespace, pods first (the order teardown deletes them in). */
  namespaces: string[];
  /** Per node namespace: `sysctl -w` settings, applied before any interface exists. */
  sysctls: Array<{ netns: string; settings: string[] }>;
  /** Stages run one after another; the batches of one stage run in parallel. */
  stages: NetnsBatch[][];
}

/** Forwarding and loose source checks (TPROXY'd and forwarded pod traffic fails strict rp_filter). */
const NODE_SYSCTLS = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];
/**
 * Bridged frames pass through iptables (br_netfilter), as kubeadm requires for kube-proxy. Per
 * network namespace on Linux ≥ 5.3, so this never touches the root namespace.
 */
export const BRIDGE_NF_SYSCTL = 'net.bridge.bridge-nf-call-iptables=1';

export function allNamespaces(model: TestbedModel): string[] {
  const pods = model.nodes.flatMap((n) => n.pods.map((p) => p.netns));
  return [...pods, ...model.nodes.map((n) => n.netns), model.fabricNetns];
}

function nodeLines(model: TestbedModel, n: TestbedNode): string[] {
  const lines = [
    'link set lo up',
    // Veths are created inside the target namespaces (ip -n), so the root namespace never holds them.
    `link add eth0 type veth peer name n${n.index} netns ${model.fabricNetns}`,
    `addr add ${n.ip}/${model.nodePrefix} dev eth0`,
    'link set eth0 up',
  ];
  if (n.bridge !== undefined) {
    // The bridge plugin with isGateway: the bridge holds the pod subnet's gateway address, so the
    // subnet's connected route points at it and local pods reach each other at layer 2.
    lines.push(`link add ${n.bridge.name} type bridge`, `addr add ${n.bridge.ip}/${n.bridge.prefix} dev ${n.bridge.name}`, `link set ${n.bridge.name} up`);
    for (const p of n.pods) {
      lines.push(`link add ${p.hostIface} type veth peer name eth0 netns ${p.netns}`, `link set ${p.hostIface} master ${n.bridge.name}`, `link set ${p.hostIface} up`);
    }
  } else {
    for (const p of n.pods) {
      lines.push(
        `link add ${p.hostIface} type veth peer name eth0 netns ${p.netns}`,
        // The gateway address answers the pods' ARP for their default route.
        `addr add ${p.gateway}/32 dev ${p.hostIface}`,
        `link set ${p.hostIface} up`,
        `route add ${p.ip}/32 dev ${p.hostIface} scope link src ${n.ip}`,
      );
    }
  }
  for (const other of model.nodes) {
    if (other !== n) lines.push(`route add ${other.podCidr} via ${other.ip} dev eth0`);
  }
  return lines;
}

function podLines(p: TestbedPod): string[] {
  const lines = ['link set lo up', `addr add ${p.ip}/${p.prefix} dev eth0`, 'link set eth0 up'];
  // A /32 address has no connected route to its gateway; a /24 one already covers it.
  if (p.prefix === 32) lines.push(`route add ${p.gateway} dev eth0 scope link`);
  lines.push(`route add default via ${p.gateway} dev eth0`);
  return lines;
}

export function planBuild(model: TestbedModel): BuildPlan {
  return {
    namespaces: allNamespaces(model),
    sysctls: model.nodes.map((n) => ({ netns: n.netns, settings: n.bridge === undefined ? NODE_SYSCTLS : [...NODE_SYSCTLS, BRIDGE_NF_SYSCTL] })),
    stages: [
      [{ netns: model.fabricNetns, lines: ['link set lo up', `link add ${model.bridge} type bridge`, `link set ${model.bridge} up`] }],
      model.nodes.map((n) => ({ netns: n.netns, lines: nodeLines(model, n) })),
      [{ netns: model.fabricNetns, lines: model.nodes.flatMap((n) => [`link set n${n.index} master ${model.bridge}`, `link set n${n.index} up`]) }],
      model.nodes.flatMap((n) => n.pods.map((p) => ({ netns: p.netns, lines: podLines(p) }))),
    ],
  };
}
