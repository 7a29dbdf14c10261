// Pod scope (WEFT_CAPTURE_SCOPE=pod), the main thread's part: the pod registry (PodCaptureManager)
// wired to the proxy workers (listener syncs over postMessage), the namespace scanner, the CNI
// relay socket and a slow periodic rescan. app.ts calls reconcile() on every model change.
import type { Logger } from '../common/log.ts';
import type { PendingWorkloadRecord, WorkloadRecord } from '../control/api/model.ts';
import type { AgentConfig } from './config.ts';
import type { PodListenSpec } from './proxy/pod-listeners.ts';
import { dirname, join } from 'node:path';
import { NATIVE_ADDON_PATH } from './native/index.ts';
import { ipv4Addresses } from './proxy/agent-listeners.ts';
import { validIpv4 } from './redirect/iptables-rules.ts';
import { installCniPlugin, uninstallCniPlugin } from './redirect/cni-install.ts';
import { CniRelay } from './redirect/cni-relay.ts';
import { scanNetns } from './redirect/netns-scan.ts';
import { createPodCapture, type PodCapture, type PodCaptureOptions, type PodNetns } from './redirect/pod-capture.ts';
import type { EbpfPodCaptureOptions } from './redirect/ebpf-pod-capture.ts';
import { PodCaptureManager, type PodListenerSink } from './redirect/pod-capture-manager.ts';
import type { MatchWorkload } from './redirect/netns-match.ts';
import type { FromWorker, ToWorker } from './worker-protocol.ts';

const SYNC_TIMEOUT_MS = 15_000;

export interface PodScopeDeps {
  cfg: AgentConfig;
  log: Logger;
  /** Posts to every proxy worker; returns how many there are. */
  broadcast: (m: ToWorker) => number;
  /** This node's meshed workloads in the model. */
  localMeshed: () => WorkloadRecord[];
  workloadByKey: (key: string) => WorkloadRecord | undefined;
  /** This node's meshed pods that have no address in the model yet (pending-workload records). */
  localPending: () => PendingWorkloadRecord[];
  pendingByKey: (key: string) => PendingWorkloadRecord | undefined;
  /**
   * Whether an ADD for a pod the model does not know should wait for it: before the first
   * snapshot, and whenever control sends pending workloads (so a pod is known from its scheduling).
   */
  modelKnowsScheduledPods: () => boolean;
}

/** The record a pod captured at its CNI ADD goes by until the model publishes its address. */
export function earlyWorkload(p: PendingWorkloadRecord, ip: string): WorkloadRecord {
  return { kind: 'workload', key: p.key, uid: p.uid, name: p.name, namespace: p.namespace, node: p.node, ip, serviceAccount: p.serviceAccount, identity: p.identity, labels: p.labels, meshed: true, ready: false };
}

export class PodScope {
  readonly capture: PodCapture;
  readonly manager: PodCaptureManager;
  readonly #deps: PodScopeDeps;
  readonly #relay: CniRelay | null;
  readonly #spec: PodListenSpec;
  #seq = 0;
  readonly #syncs = new Map<number, { want: number; failed: Map<number, string>; got: number; done: () => void }>();
  #timer: NodeJS.Timeout | undefined;
  #workersGone = false;

  constructor(deps: PodScopeDeps) {
    const { cfg, log } = deps;
    this.#deps = deps;
    // The ebpf capture reads its extra fields (node name, pin root, objects, route table); iptables ignores them.
    const captureOptions: PodCaptureOptions & EbpfPodCaptureOptions = {
      outboundPort: cfg.outboundPort, inboundPort: cfg.inboundPlaintextPort, hbonePort: cfg.hbonePort, mark: cfg.mark, excludeOutboundPorts: [],
      // The node's addresses as the agent starts (it shares the node's network): kubelet probes.
      inboundExemptSources: [...ipv4Addresses()].filter((ip) => validIpv4(ip) && !ip.startsWith('127.')),
      nodeName: cfg.nodeName, pinRoot: cfg.ebpfPinRoot, objectDir: cfg.ebpfObjectDir || undefined, routeTable: cfg.routeTable,
    };
    this.capture = createPodCapture(cfg.redirectMode, captureOptions);
    this.#spec = {
      outboundHost: this.capture.outboundHost, inboundHost: this.capture.inboundHost,
      outboundPort: cfg.outboundPort, inboundPort: cfg.inboundPlaintextPort,
      transparent: this.capture.transparentListeners, originalDestination: this.capture.originalDestination,
    };
    const sink: PodListenerSink = { sync: (pods) => this.#sync(pods) };
    const namedDirs = cfg.netnsDirs.split(',').map((d) => d.trim()).filter((d) => d !== '');
    this.manager = new PodCaptureManager({
      capture: this.capture,
      listeners: sink,
      workloads: () => this.#wanted(),
      scan: (extra) => scanNetns({ namedDirs, namePrefix: cfg.netnsNamePrefix, procDir: cfg.procDir, extra }),
      log: log.child('pods'),
    });
    this.#relay = cfg.cniSocket === '' ? null : new CniRelay({
      socketPath: cfg.cniSocket,
      waitMs: () => (deps.modelKnowsScheduledPods() ? cfg.cniWaitMs : 0),
      log: log.child('cni'),
      target: {
        added: async (pod) => {
          this.manager.learn(pod);
          await this.manager.reconcile();
        },
        deleted: async (m) => {
          this.manager.forget(m);
          await this.manager.reconcile();
        },
        verdict: (inode, key, ips) => {
          if (this.manager.captured(inode)) return 'captured';
          const failed = this.manager.failure(inode);
          if (failed !== undefined) return { failed };
          const w = (key === '' ? undefined : deps.workloadByKey(key) ?? deps.pendingByKey(key)) ?? deps.localMeshed().find((x) => ips.includes(x.ip));
          if (w !== undefined && (!w.meshed || w.node !== cfg.nodeName)) return 'not-meshed';
          return 'unknown';
        },
        changed: (ms) => this.manager.changed(ms),
      },
    });
  }

  /**
   * The pods to capture: the model's local meshed workloads, and its local meshed pods without an
   * address yet whose namespace a CNI ADD reported (at the address the ADD gave).
   */
  #wanted(): MatchWorkload[] {
    const out: MatchWorkload[] = this.#deps.localMeshed().map((w) => ({ key: w.key, ip: w.ip }));
    const have = new Set(out.map((w) => w.key));
    for (const p of this.#deps.localPending()) {
      if (have.has(p.key)) continue;
      const ip = this.manager.reported(p.key)?.ips.find((a) => validIpv4(a));
      if (ip !== undefined) out.push({ key: p.key, ip, early: earlyWorkload(p, ip) });
    }
    return out;
  }

  /** Opens the CNI relay socket, chains weft-cni on the node (if asked) and starts the periodic rescan. */
  async start(): Promise<void> {
    await this.#relay?.listen();
    const { cfg, log } = this.#deps;
    if (this.#relay !== null && cfg.cniBinDir !== '' && cfg.cniConfDir !== '') {
      try {
        // Shipped next to the native addon (dist/build/ in the bundle and the image).
        const file = await installCniPlugin({ source: join(dirname(NATIVE_ADDON_PATH), 'weft-cni'), binDir: cfg.cniBinDir, confDir: cfg.cniConfDir });
        log.info('weft-cni chained into the node CNI configuration', { conflist: file });
      } catch (err) {
        log.error('weft-cni could not be installed; new pods are found by rescans only', { err });
      }
    }
    if (this.#deps.cfg.podRescanMs > 0) {
      this.#timer = setInterval(() => void this.manager.reconcile({ rescan: true }).catch(() => {}), this.#deps.cfg.podRescanMs);
      this.#timer.unref();
    }
  }

  /** A worker's answer to a listener sync. */
  onWorkerMessage(m: Extract<FromWorker, { type: 'pods-synced' }>): void {
    const s = this.#syncs.get(m.seq);
    if (s === undefined) return;
    for (const f of m.failed) if (!s.failed.has(f.inode)) s.failed.set(f.inode, f.message);
    if (++s.got === s.want) s.done();
  }

  /** The workers have stopped (drain): listener syncs answer at once from here on. */
  workersStopped(): void {
    this.#workersGone = true;
    for (const s of this.#syncs.values()) s.done();
  }

  /** Drain/uninstall: the relay closes, every pod's rules go, every pod listener closes. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    const { cfg, log } = this.#deps;
    // Unchained first: with no agent, a chained plugin would fail every pod's ADD on this node.
    if (cfg.cniBinDir !== '' && cfg.cniConfDir !== '') {
      await uninstallCniPlugin({ binDir: cfg.cniBinDir, confDir: cfg.cniConfDir }).catch((err: unknown) => log.error('weft-cni could not be removed', { err }));
    }
    await this.#relay?.close();
    await this.manager.uninstall();
  }

  #sync(pods: readonly PodNetns[]): Promise<Map<number, string>> {
    const failed = new Map<number, string>();
    if (this.#workersGone) return Promise.resolve(failed);
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const p of pods) if (!failed.has(p.inode)) failed.set(p.inode, `a proxy worker did not answer within ${SYNC_TIMEOUT_MS} ms`);
        done();
      }, SYNC_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        this.#syncs.delete(seq);
        resolve(failed);
      };
      const want = this.#deps.broadcast({ type: 'pods', seq, pods: [...pods], spec: this.#spec });
      if (want === 0) { done(); return; }
      this.#syncs.set(seq, { want, failed, got: 0, done });
    });
  }
}
