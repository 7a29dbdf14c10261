// The testbed's addressing plan as a pure function of the spec, so the layout is checked without
// root and every user of the testbed reads addresses from one place instead of recomputing them.
//
//   fabric netns  weft-<name>-fab   bridge br0, one port per node (n<i>)
//   node i        weft-<name>-n<i>  eth0 172.31.0.(10+i)/24 ; pod CIDR 10.244.i.0/24
//
// Two CNI shapes (`cni` in the spec):
//   routed (default, Calico-like)
//     pod j on i  weft-<name>-n<i>-<pod>  eth0 10.244.i.(10+j)/32, default via 169.254.1.1
//                 node side of its veth: p<j> (a /32 route to the pod IP, src = node IP)
//   bridge (the standard `bridge` CNI plugin with host-local IPAM, as kubeadm clusters run it)
//     node i      bridge cni0 10.244.i.1/24 (the pods' gateway), br_netfilter with
//                 net.bridge.bridge-nf-call-iptables=1 in the node's namespace
//     pod j on i  eth0 10.244.i.(10+j)/24, default via 10.244.i.1; node side p<j> is a cni0 port

export interface PodSpec {
  name: string;
  /** Kubernetes namespace the pod pretends to live in; default "default". */
  namespace?: string;
}

export interface NodeSpec {
  name: string;
  pods: PodSpec[];
}

export type CniShape = 'routed' | 'bridge';
export const CNI_SHAPES: readonly CniShape[] = ['routed', 'bridge'];

export interface TestbedSpec {
  /** A slug used in every network namespace name; unique per test file. */
  name: string;
  nodes: NodeSpec[];
  /** How pods are wired to their node; `routed` (per-pod /32 routes) when absent. */
  cni?: CniShape;
}

export interface TestbedPod {
  name: string;
  namespace: string;
  /** The node this pod runs on (its name). */
  node: string;
  netns: string;
  ip: string;
  /** Prefix length of the pod's address: 32 (routed) or 24 (bridge, the node's pod subnet). */
  prefix: number;
  /** The pod's default gateway: link-local 169.254.1.1 (routed) or the node's cni0 address. */
  gateway: string;
  /** Interface on the node's side of the pod's veth (lives in the node netns). */
  hostIface: string;
}

/** The node's pod bridge in the bridge shape. */
export interface TestbedBridge {
  name: string;
  /** The bridge's address: the first host of the pod CIDR, every local pod's gateway. */
  ip: string;
  prefix: number;
}

export interface TestbedNode {
  name: string;
  /** 1-based position in the spec; drives the addresses. */
  index: number;
  netns: string;
  ip: string;
  podCidr: string;
  /** Present in the bridge shape only. */
  bridge?: TestbedBridge;
  pods: TestbedPod[];
}

export interface TestbedModel {
  name: string;
  cni: CniShape;
  fabricNetns: string;
  bridge: string;
  /** Prefix length of the node network. */
  nodePrefix: number;
  /** Routed shape: the link-local gateway every pod routes through (held by the node side of the veth). */
  podGateway: string;
  nodes: TestbedNode[];
}

export const NODE_NET = '172.31.0';
export const POD_NET = '10.244';
export const POD_GATEWAY = '169.254.1.1';
/** The pod bridge's name in the bridge shape (the `bridge` CNI plugin's default). */
export const CNI_BRIDGE = 'cni0';
/** Every node's pod CIDR lies in this range (kube-proxy's --cluster-cidr). */
export const CLUSTER_CIDR = `${POD_NET}.0.0/16`;
// Linux caps network namespace names only by the filesystem, but keep them readable in `ip netns`.
const SLUG = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const MAX_NODES = 200;
const MAX_PODS = 200;

export function netnsPrefix(name: string): string {
  return `weft-${name}-`;
}

/** True when a namespace name was made by a testbed of this name (fabric, node or pod). */
export function ownsNetns(name: string, netns: string): boolean {
  const prefix = netnsPrefix(name);
  if (!netns.startsWith(prefix)) return false;
  return /^(fab|n[0-9]+(-[a-z0-9-]+)?)$/.test(netns.slice(prefix.length));
}

export function planTopology(spec: TestbedSpec): TestbedModel {
  const problems: string[] = [];
  if (!SLUG.test(spec.name)) problems.push(`name ${JSON.stringify(spec.name)} must be a lowercase slug of at most 32 characters`);
  const cni = spec.cni ?? 'routed';
  if (!CNI_SHAPES.includes(cni)) problems.push(`cni ${JSON.stringify(cni)} must be one of ${CNI_SHAPES.join(', ')}`);
  if (spec.nodes.length === 0 || spec.nodes.length > MAX_NODES) problems.push(`between 1 and ${MAX_NODES} nodes`);
  const nodeNames = new Set<string>();
  for (const n of spec.nodes) {
    if (nodeNames.has(n.name)) problems.push(`duplicate node ${n.name}`);
    nodeNames.add(n.name);
    if (n.pods.length > MAX_PODS) problems.push(`node ${n.name}: at most ${MAX_PODS} pods`);
    const podNames = new Set<string>();
    for (const p of n.pods) {
      if (!SLUG.test(p.name)) problems.push(`node ${n.name}: pod name ${JSON.stringify(p.name)} must be a lowercase slug`);
      if (podNames.has(p.name)) problems.push(`node ${n.name}: duplicate pod ${p.name}`);
      podNames.add(p.name);
    }
  }
  if (problems.length > 0) throw new Error(`invalid testbed spec: ${problems.join('; ')}`);

  const prefix = netnsPrefix(spec.name);
  const nodes = spec.nodes.map((n, i): TestbedNode => {
    const index = i + 1;
    const netns = `${prefix}n${index}`;
    const bridge: TestbedBridge | undefined = cni === 'bridge' ? { name: CNI_BRIDGE, ip: `${POD_NET}.${index}.1`, prefix: 24 } : undefined;
    return {
      name: n.name,
      index,
      netns,
      ip: `${NODE_NET}.${10 + index}`,
      podCidr: `${POD_NET}.${index}.0/24`,
      ...(bridge === undefined ? {} : { bridge }),
      pods: n.pods.map((p, j): TestbedPod => ({
        name: p.name,
        namespace: p.namespace ?? 'default',
        node: n.name,
        netns: `${netns}-${p.name}`,
        ip: `${POD_NET}.${index}.${10 + j + 1}`,
        prefix: bridge === undefined ? 32 : bridge.prefix,
        gateway: bridge === undefined ? POD_GATEWAY : bridge.ip,
        hostIface: `p${j + 1}`,
      })),
    };
  });
  return { name: spec.name, cni, fabricNetns: `${prefix}fab`, bridge: 'br0', nodePrefix: 24, podGateway: POD_GATEWAY, nodes };
}
