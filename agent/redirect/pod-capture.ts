// The in-pod capture seam (WEFT_CAPTURE_SCOPE=pod): steers one pod's TCP to listeners the agent
// opened INSIDE that pod's network namespace. One implementation per redirect mode registers by
// name (iptables here, ebpf in ebpf-*.ts); the pod registry and the proxy workers use only this.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { CommandRunner } from './command-runner.ts';

/** A meshed pod's network namespace as capture sees it. */
export interface PodNetns {
  /** The namespace's inode: the pod's identity for capture (one capture per inode, ever). */
  inode: number;
  /** A path that opens the namespace: CNI_NETNS, /run/netns/NAME or /proc/PID/ns/net. */
  path: string;
  /** The workload key ("namespace/name") the model gives the pod. */
  key: string;
  /** The pod's IPv4 address (from the model, matched against the namespace's addresses). */
  ip: string;
  /**
   * The pod as the model will know it, for a pod captured at its CNI ADD before the model has its
   * address (a pending-workload record plus the ADD's address). Listeners name it as the source
   * until the model's own record arrives, which always wins.
   */
  early?: WorkloadRecord;
}

/** How a pod listener learns where a captured connection was going. */
export type OriginalDestination =
  /** NAT REDIRECT: the accepted socket's local address is the listener; SO_ORIGINAL_DST tells. */
  | 'so-original-dst'
  /** TPROXY / sk_assign: the accepted socket's local address is the original destination. */
  | 'local-address';

export interface PodCapture {
  readonly name: string;
  readonly originalDestination: OriginalDestination;
  /** The pod listeners need IP_TRANSPARENT. */
  readonly transparentListeners: boolean;
  /** Where the outbound listener binds inside the pod (REDIRECT from OUTPUT lands on 127.0.0.1). */
  readonly outboundHost: string;
  /** Where the inbound plaintext listener binds inside the pod. */
  readonly inboundHost: string;
  /** Installs (or rewrites) the capture inside the pod's namespace, atomically. Idempotent. */
  apply(pod: PodNetns): Promise<void>;
  /** Removes every trace of capture from the pod's namespace; a vanished namespace counts as done. */
  remove(pod: PodNetns): Promise<void>;
  /** What is installed in the pod's namespace, read back from the kernel. */
  describe(pod: PodNetns): Promise<unknown>;
  /**
   * Removes capture this node left in any namespace but `keep`'s: once, after a restart, when the
   * model is known — a pod unmeshed (or gone from the model) while no agent ran keeps rules that
   * steer its traffic at listeners nobody opens. `seen` is every namespace the scan found.
   */
  sweep(keep: readonly PodNetns[], seen: ReadonlyArray<{ inode: number; path: string; ip: string }>): Promise<number>;
}

export interface PodCaptureOptions {
  outboundPort: number;
  inboundPort: number;
  /** Inbound traffic to this port is left alone (HBONE, accepted by the agent directly). */
  hbonePort: number;
  /** SO_MARK of the agent's own sockets inside pods (delivery to the app): never captured. */
  mark: number;
  /** Destination ports a pod's outbound traffic keeps going to directly. */
  excludeOutboundPorts: readonly number[];
  /**
   * Sources whose connections to the pod are never captured: the node's own addresses, so the
   * kubelet's probes reach the app under STRICT as they do in node scope (where traffic from the
   * node is never captured either). A spoofed node source cannot finish a TCP handshake: the
   * SYN-ACK goes to the node.
   */
  inboundExemptSources?: readonly string[];
  exec?: CommandRunner;
}

export type PodCaptureFactory = (opts: PodCaptureOptions) => PodCapture;

const registry = new Map<string, PodCaptureFactory>();

export function registerPodCapture(name: string, factory: PodCaptureFactory): void {
  registry.set(name, factory);
}

export function podCaptureNames(): string[] {
  return [...registry.keys()].sort();
}

export function createPodCapture(name: string, opts: PodCaptureOptions): PodCapture {
  const factory = registry.get(name);
  if (factory === undefined) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `redirect mode "${name}" has no in-pod capture (WEFT_CAPTURE_SCOPE=pod); known: ${podCaptureNames().join(', ') || 'none'}`);
  }
  return factory(opts);
}
