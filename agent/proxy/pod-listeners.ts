// Pod scope, in one proxy worker: the outbound and inbound plaintext listeners this worker holds
// inside each captured pod's network namespace (SO_REUSEPORT: every worker holds its own, and the
// kernel spreads a pod's connections over them), and the pod directory deliveries use to leave
// from inside the destination pod. The main thread's PodCaptureManager says which pods; a sync
// opens what is new and closes what is gone, keyed by namespace inode.
import net from 'node:net';
import { errorCode } from '../../common/errors.ts';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { listenInNetns } from '../native/index.ts';
import type { OriginalDestination, PodNetns } from '../redirect/pod-capture.ts';
import { podOrigin } from './capture-origin.ts';
import type { InboundPlaintextHandler } from './inbound-plaintext.ts';
import type { OutboundHandler } from './outbound.ts';
import type { PodDelivery } from './socket-factory.ts';

/** How pod listeners are opened: from the pod capture of the agent's redirect mode. */
export interface PodListenSpec {
  outboundHost: string;
  inboundHost: string;
  outboundPort: number;
  inboundPort: number;
  transparent: boolean;
  originalDestination: OriginalDestination;
}

export interface PodListenFailure {
  inode: number;
  message: string;
}

interface Held {
  pod: PodNetns;
  servers: net.Server[];
}

const BACKLOG = 4096;

/** The pod directory for deliveries; filled by PodListeners.sync, read on every delivery. */
export class PodDirectory implements PodDelivery {
  readonly mark: number;
  #byIp = new Map<string, string>();

  constructor(mark: number) {
    this.mark = mark;
  }

  netnsFor(ip: string): string | undefined {
    return this.#byIp.get(ip);
  }

  set(pods: Iterable<PodNetns>): void {
    const next = new Map<string, string>();
    for (const p of pods) next.set(p.ip, p.path);
    this.#byIp = next;
  }
}

export class PodListeners {
  readonly #held = new Map<number, Held>();
  #accepting = true;

  readonly #handlers: { outbound: OutboundHandler; inbound: InboundPlaintextHandler };
  readonly #lookup: (key: string) => WorkloadRecord | undefined;
  readonly #directory: PodDirectory;

  constructor(handlers: { outbound: OutboundHandler; inbound: InboundPlaintextHandler }, lookup: (key: string) => WorkloadRecord | undefined, directory: PodDirectory) {
    this.#handlers = handlers;
    this.#lookup = lookup;
    this.#directory = directory;
  }

  /** Makes this worker's pod listeners exactly `pods`; returns the pods it could not listen in. */
  async sync(pods: readonly PodNetns[], spec: PodListenSpec): Promise<PodListenFailure[]> {
    const want = new Map(pods.map((p) => [p.inode, p]));
    for (const [inode, h] of this.#held) {
      const w = want.get(inode);
      if (w !== undefined && w.key === h.pod.key) {
        // Same namespace, same pod: the sockets stay; a newer path (a /proc one gone stale) and
        // address are what deliveries use from now on.
        h.pod = w;
        continue;
      }
      this.#held.delete(inode);
      for (const s of h.servers) s.close();
    }
    const failed: PodListenFailure[] = [];
    if (this.#accepting) {
      for (const pod of want.values()) {
        if (this.#held.has(pod.inode)) continue;
        try {
          this.#held.set(pod.inode, { pod, servers: await this.#open(pod, spec) });
        } catch (err) {
          failed.push({ inode: pod.inode, message: `${errorCode(err)}: ${(err as Error).message}` });
        }
      }
    }
    this.#directory.set([...this.#held.values()].map((h) => h.pod));
    return failed;
  }

  async #open(pod: PodNetns, spec: PodListenSpec): Promise<net.Server[]> {
    // The model's record of the pod wins; until it has one (a pod captured at its CNI ADD, before
    // its address was published) the record the capture was made from names it.
    const lookup = pod.early === undefined ? this.#lookup : (key: string): WorkloadRecord | undefined => this.#lookup(key) ?? this.#held.get(pod.inode)?.pod.early;
    const origin = podOrigin(pod.key, spec.originalDestination, lookup, { ip: pod.ip, ports: new Set([spec.outboundPort, spec.inboundPort]) });
    const { outbound, inbound } = this.#handlers;
    const servers: net.Server[] = [];
    try {
      for (const [host, port, handle] of [
        [spec.outboundHost, spec.outboundPort, (s: net.Socket) => outbound(s, origin)],
        [spec.inboundHost, spec.inboundPort, (s: net.Socket) => inbound(s, origin)],
      ] as const) {
        const fd = listenInNetns(pod.path, host, port, BACKLOG, true, spec.transparent);
        const server = net.createServer({ noDelay: true }, handle);
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ fd }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      }
    } catch (err) {
      for (const s of servers) s.close();
      throw err;
    }
    return servers;
  }

  /** Pods held now (for stats and tests). */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Drain: stop accepting in every pod (open connections keep flowing). The directory stays: the
   * pods' rules stay in until the main thread removes them, so deliveries still leave from inside.
   */
  stopAccepting(): void {
    this.#accepting = false;
    for (const h of this.#held.values()) for (const s of h.servers) s.close();
    this.#held.clear();
  }
}
