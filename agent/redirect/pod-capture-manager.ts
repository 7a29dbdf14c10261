// The pod-netns registry and its reconciler (main thread, pod scope). It knows every network
// namespace it has been told of (CNI ADDs) or found (scans), matches them to the model's local
// meshed workloads by IP (netns-match.ts), and makes the captured set exactly that: for a pod
// gained, every proxy worker opens its listeners inside the pod first, then the capture rules go
// in; for a pod lost, the rules go first, then the listeners close. Keyed by namespace inode, so
// a pod is never captured twice however it was learned, and a restarted agent re-adopts each pod
// once. Operations are serialised; each plans from what the previous one left.
import { errorCode } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { matchNetns, rankPaths, type MatchWorkload, type NetnsCandidate } from './netns-match.ts';
import type { PodCapture, PodNetns } from './pod-capture.ts';

/** The proxy workers' side: makes every worker's pod listeners exactly `pods`. */
export interface PodListenerSink {
  /** Resolves with the inodes whose listeners failed in some worker, and why. */
  sync(pods: readonly PodNetns[]): Promise<Map<number, string>>;
}

/** A namespace reported by the CNI plugin (ADD): its path, inode, the pod's name and addresses. */
export interface CniPod {
  inode: number;
  path: string;
  key: string;
  ips: string[];
}

export interface PodCaptureState {
  key: string;
  ip: string;
  inode: number;
  path: string;
  state: 'captured' | 'failed';
  error?: string;
}

export interface PodCaptureManagerOptions {
  capture: PodCapture;
  listeners: PodListenerSink;
  /** This node's meshed workloads in the model, now. */
  workloads: () => MatchWorkload[];
  /** Reads the namespaces on the node (netns-scan.ts; injectable for tests). */
  scan: (extraPaths: string[]) => Promise<NetnsCandidate[]>;
  log: Logger;
  /** Lowest interval between two scans triggered by unknown pods (ms). */
  minScanIntervalMs?: number;
}

export class PodCaptureManager {
  readonly #o: PodCaptureManagerOptions;
  readonly #cni = new Map<number, CniPod>();
  #scanned: NetnsCandidate[] = [];
  #lastScan = 0;
  /** Captured (listeners up and rules in), by inode. */
  readonly #captured = new Map<number, PodNetns>();
  readonly #failed = new Map<number, PodCaptureState>();
  #missing: string[] = [];
  #ambiguous: string[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;
  #swept = false;
  readonly #waiters = new Set<() => void>();

  constructor(o: PodCaptureManagerOptions) {
    this.#o = o;
  }

  /** Records a pod the CNI plugin added; the next reconcile may capture it. */
  learn(pod: CniPod): void {
    this.#cni.set(pod.inode, pod);
  }

  /** Forgets a namespace the CNI plugin deleted (by inode, or by path when the file is gone). */
  forget(match: { inode?: number; path?: string }): void {
    for (const [inode, p] of this.#cni) if (inode === match.inode || p.path === match.path) this.#cni.delete(inode);
    this.#scanned = this.#scanned.filter((c) => c.inode !== match.inode && !(match.path !== undefined && c.paths.includes(match.path)));
  }

  /** Makes the captured set match the model; `rescan` reads the node's namespaces again first. */
  reconcile(opts: { rescan?: boolean; sweep?: boolean } = {}): Promise<void> {
    return this.#serial(async () => {
      await this.#reconcile(opts.rescan === true);
      if (opts.sweep === true && !this.#swept) await this.#sweep();
    });
  }

  /**
   * Once, when the caller knows the model is complete (after the first snapshot): capture left in
   * a namespace this agent does not want (a pod unmeshed while no agent ran) is removed.
   */
  async #sweep(): Promise<void> {
    if (this.#stopped) return;
    this.#swept = true;
    const keep = [...this.#captured.values()];
    const seen = this.#candidates().map((c) => ({ inode: c.inode, path: c.paths[0], ip: c.ips[0] ?? '' })).filter((c) => c.path !== undefined);
    try {
      const removed = await this.#o.capture.sweep(keep, seen);
      if (removed > 0) this.#o.log.info('capture left by an earlier agent in pods it no longer meshes removed', { pods: removed });
    } catch (err) {
      this.#swept = false; // tried again on the next synced reconcile
      this.#o.log.warn('sweeping stale pod capture failed; retried on the next change', { code: errorCode(err), message: (err as Error).message });
    }
  }

  /** Removes the capture from every pod and closes every pod listener (drain, uninstall). */
  uninstall(): Promise<void> {
    this.#stopped = true;
    return this.#serial(async () => {
      for (const pod of this.#captured.values()) await this.#removeRules(pod);
      await this.#o.listeners.sync([]);
      this.#captured.clear();
      this.#failed.clear();
      this.#wake();
    });
  }

  /** The namespace a CNI ADD reported for this pod (newest first when there were several). */
  reported(key: string): CniPod | undefined {
    let found: CniPod | undefined;
    for (const p of this.#cni.values()) if (p.key === key) found = p;
    return found;
  }

  /** Whether the pod in this namespace is captured now. */
  captured(inode: number): boolean {
    return this.#captured.has(inode);
  }

  failure(inode: number): string | undefined {
    return this.#failed.get(inode)?.error;
  }

  /** Resolves after the next reconcile finishes, or after timeoutMs. */
  changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  /** For /config_dump and `weft check`: one entry per pod, captured or failed. */
  status(): { captured: number; failed: number; missing: string[]; ambiguous: string[]; pods: PodCaptureState[] } {
    const pods: PodCaptureState[] = [
      ...[...this.#captured.values()].map((p) => ({ key: p.key, ip: p.ip, inode: p.inode, path: p.path, state: 'captured' as const })),
      ...this.#failed.values(),
    ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { captured: this.#captured.size, failed: this.#failed.size, missing: [...this.#missing], ambiguous: [...this.#ambiguous], pods };
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => {});
    return next;
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #candidates(): NetnsCandidate[] {
    // CNI-reported namespaces first: their paths are the runtime's own, their addresses the CNI's.
    const byInode = new Map<number, NetnsCandidate>();
    for (const p of this.#cni.values()) byInode.set(p.inode, { inode: p.inode, paths: [p.path], ips: p.ips });
    for (const c of this.#scanned) {
      const have = byInode.get(c.inode);
      if (have === undefined) byInode.set(c.inode, c);
      else byInode.set(c.inode, { inode: c.inode, paths: [...have.paths, ...rankPaths(c.paths.filter((p) => !have.paths.includes(p)))], ips: [...new Set([...have.ips, ...c.ips])] });
    }
    return [...byInode.values()];
  }

  async #scan(): Promise<void> {
    this.#scanned = await this.#o.scan([...this.#cni.values()].map((p) => p.path));
    this.#lastScan = Date.now();
  }

  async #reconcile(rescan: boolean): Promise<void> {
    if (this.#stopped) return;
    const workloads = this.#o.workloads();
    if (rescan || this.#lastScan === 0) await this.#scan();
    let match = matchNetns(this.#candidates(), workloads);
    // The model gained a pod whose namespace is unknown: look again (not more than once a second).
    if (match.missing.length > 0 && !rescan && Date.now() - this.#lastScan >= (this.#o.minScanIntervalMs ?? 1000)) {
      await this.#scan();
      match = matchNetns(this.#candidates(), workloads);
    }
    this.#missing = match.missing;
    this.#ambiguous = match.ambiguous;
    const want = new Map(match.pods.map((p) => [p.inode, p]));
    const same = (a: PodNetns, b: PodNetns): boolean => a.key === b.key && a.ip === b.ip;

    // Lost (or changed) pods: rules out first, so nothing is steered at a listener about to close.
    for (const [inode, pod] of this.#captured) {
      const w = want.get(inode);
      if (w !== undefined && same(w, pod)) {
        // Keep the newest path (a /proc path goes stale when its process exits).
        this.#captured.set(inode, w);
        continue;
      }
      await this.#removeRules(pod);
      this.#captured.delete(inode);
      this.#o.log.info('pod released', { pod: pod.key, inode, reason: w === undefined ? 'gone from the model or its namespace vanished' : 'model changed' });
    }
    for (const inode of [...this.#failed.keys()]) if (!want.has(inode)) this.#failed.delete(inode);

    // Listeners: every worker holds exactly the wanted set (new ones opened, lost ones closed).
    const failed = await this.#o.listeners.sync([...want.values()]);
    for (const [inode, pod] of want) {
      const why = failed.get(inode);
      if (why !== undefined) {
        this.#fail(pod, `listeners: ${why}`);
        if (this.#captured.delete(inode)) await this.#removeRules(pod);
        continue;
      }
      if (this.#captured.has(inode)) continue;
      // Gained: listeners are up in every worker; now steer the pod's traffic to them.
      try {
        await this.#o.capture.apply(pod);
        this.#captured.set(inode, pod);
        this.#failed.delete(inode);
        this.#o.log.info('pod captured', { pod: pod.key, ip: pod.ip, inode, netns: pod.path });
      } catch (err) {
        this.#fail(pod, `${errorCode(err)}: ${(err as Error).message}`);
        // Rules may not be half-applied (one restore), but make sure: a failed pod has none.
        await this.#removeRules(pod);
      }
    }
    this.#wake();
  }

  #fail(pod: PodNetns, error: string): void {
    if (this.#failed.get(pod.inode)?.error !== error) this.#o.log.error('pod capture failed; retried on the next change or rescan', { pod: pod.key, inode: pod.inode, error });
    this.#failed.set(pod.inode, { key: pod.key, ip: pod.ip, inode: pod.inode, path: pod.path, state: 'failed', error });
  }

  async #removeRules(pod: PodNetns): Promise<void> {
    try {
      await this.#o.capture.remove(pod);
    } catch (err) {
      this.#o.log.warn('removing a pod capture failed', { pod: pod.key, inode: pod.inode, code: errorCode(err), message: (err as Error).message });
    }
  }
}
