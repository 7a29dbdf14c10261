// The `kubernetes` discovery source: informers on Namespaces, Nodes, Pods, Services and
// EndpointSlices (see kubernetes-informers.ts), turned into the same records the file source
// produces — each object goes through k8s-translate.ts, so the data plane cannot tell the sources
// apart.
//
// Scale: a cluster has tens of thousands of pods and one of them changes every few milliseconds.
// Translation is per object and cached by object identity (the informer replaces the object on
// every update), so a change costs one translation plus a pass over cached records; changes are
// coalesced over a short debounce before the whole set goes to the store, which diffs it.
//
// Strictness differs from the file source on purpose: there one bad manifest is an operator's typo
// to fix, here it is one odd object among thousands that nobody here can edit. A bad object is
// logged once (per version) and left out; the rest of the cluster keeps flowing.
//
// Readiness: a pod's Ready condition, and false when an EndpointSlice lists the pod as not ready
// (terminating endpoints, or a slice controller that knows better than the pod status we saw).
//
// RBAC (least privilege; the Helm chart templates this as a ClusterRole):
//   - apiGroups [""]: namespaces, nodes, pods, services — verbs list, watch
//   - apiGroups ["discovery.k8s.io"]: endpointslices — verbs list, watch
//   - apiGroups ["authentication.k8s.io"]: tokenreviews — verb create (token-review authenticator)
import * as k8s from '@kubernetes/client-node';
import { ErrorCodes, WeftError, isWeftError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { ResourceRecord, WorkloadRecord } from '../api/model.ts';
import { MESH_LABEL, MESH_LABEL_ENABLED, translateObjects, type SourceObject } from './k8s-translate.ts';
import { CollectionInformer, meshCollections, type InformerOptions, type KubeObject } from './kubernetes-informers.ts';
import { registerDiscoverySource, type DiscoverySource, type RecordSink } from './source.ts';

export const KUBERNETES_SOURCE = 'kubernetes';

export interface KubernetesSourceOptions extends Partial<InformerOptions> {
  /** A kubeconfig file; empty means in-cluster (the pod's ServiceAccount). */
  kubeconfig: string;
  trustDomain: string;
  log: Logger;
  /** Changes arriving within this window go out as one set. */
  debounceMs?: number;
  /** start() rejects when the first complete list takes longer. */
  startTimeoutMs?: number;
}

/** Loads a kubeconfig file, or the in-cluster config when `path` is empty. */
export function loadKubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (path === '') kc.loadFromCluster();
    else kc.loadFromFile(path);
  } catch (err) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `cannot load the Kubernetes client config from ${path === '' ? 'the in-cluster ServiceAccount' : path}: ${(err as Error).message}`, { cause: err });
  }
  if (kc.getCurrentCluster() === null) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `the Kubernetes client config ${path === '' ? '(in-cluster)' : path} names no current cluster; set current-context`);
  }
  return kc;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `namespace/name` of every pod some EndpointSlice reports as not ready. Pure. */
export function podsNotReadyBySlices(slices: readonly unknown[]): Set<string> {
  const out = new Set<string>();
  for (const s of slices) {
    if (!isObj(s) || !Array.isArray(s.endpoints)) continue;
    const sliceNs = isObj(s.metadata) && typeof s.metadata.namespace === 'string' ? s.metadata.namespace : 'default';
    for (const e of s.endpoints) {
      if (!isObj(e) || !isObj(e.targetRef) || e.targetRef.kind !== 'Pod' || typeof e.targetRef.name !== 'string') continue;
      // Absent `ready` means unknown, which the API says to read as ready.
      const ready = isObj(e.conditions) ? e.conditions.ready !== false : true;
      if (!ready) out.add(`${typeof e.targetRef.namespace === 'string' ? e.targetRef.namespace : sliceNs}/${e.targetRef.name}`);
    }
  }
  return out;
}

interface Translated {
  meshedNs: boolean;
  record: ResourceRecord | null;
}

export class KubernetesSource implements DiscoverySource {
  readonly name = KUBERNETES_SOURCE;
  readonly #opts: KubernetesSourceOptions;
  readonly #log: Logger;
  readonly #informers: CollectionInformer[];
  readonly #byKind = new Map<string, CollectionInformer>();
  readonly #cache = new WeakMap<object, Translated>();
  /** Objects already reported as untranslatable (by uid@resourceVersion), so each is logged once. */
  readonly #reported = new Set<string>();
  #sink: RecordSink | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #started = false;
  #stopped = false;
  emits = 0;

  constructor(opts: KubernetesSourceOptions, kc: k8s.KubeConfig = loadKubeConfig(opts.kubeconfig)) {
    this.#opts = opts;
    this.#log = opts.log;
    const informerOpts: InformerOptions = {
      pageSize: opts.pageSize ?? 500,
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300,
      // Real API servers send a bookmark about once a minute; twice that silent means a dead watch.
      watchIdleTimeoutMs: opts.watchIdleTimeoutMs ?? 150_000,
      retryInitialMs: opts.retryInitialMs ?? 500,
      retryMaxMs: opts.retryMaxMs ?? 30_000,
    };
    this.#informers = meshCollections(kc).map((spec) => new CollectionInformer(kc, spec, informerOpts, opts.log, () => this.#schedule()));
    for (const i of this.#informers) this.#byKind.set(i.spec.kind, i);
  }

  /** Per collection: completed lists, resourceVersion, last error (for the admin dump and tests). */
  status(): Array<{ kind: string; lists: number; resourceVersion: string; objects: number; lastError: string | null }> {
    return this.#informers.map((i) => ({ kind: i.spec.kind, lists: i.lists, resourceVersion: i.resourceVersion, objects: i.list().length, lastError: i.lastError }));
  }

  async start(sink: RecordSink): Promise<void> {
    if (this.#sink !== null) throw new Error('kubernetes source started twice');
    this.#sink = sink;
    for (const i of this.#informers) i.start();
    const timeoutMs = this.#opts.startTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const pending = this.#informers.filter((i) => i.lists === 0).map((i) => `${i.spec.kind}${i.lastError === null ? '' : ` (${i.lastError})`}`);
        reject(new WeftError(ErrorCodes.SOURCE_INVALID, `the Kubernetes API did not answer the first list of ${pending.join(', ')} within ${timeoutMs} ms — is the API server reachable and may control list/watch them (RBAC)?`));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.#informers.map((i) => i.synced)), timeout]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = null;
    this.#started = true;
    const records = this.#build();
    this.#log.info('kubernetes objects listed', Object.fromEntries(this.#informers.map((i) => [i.spec.kind, i.list().length])));
    sink(records);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = null;
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  #schedule(): void {
    if (!this.#started || this.#stopped || this.#debounce !== null) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      if (this.#stopped) return;
      try {
        this.#sink?.(this.#build());
      } catch (err) {
        this.#log.error('building the model from kubernetes objects failed; keeping the last one', { err });
      }
    }, this.#opts.debounceMs ?? 50);
    this.#debounce.unref();
  }

  #objects(kind: string): readonly KubeObject[] {
    return this.#byKind.get(kind)?.list() ?? [];
  }

  #build(): ResourceRecord[] {
    this.emits += 1;
    const meshedNamespaces = new Set<string>();
    for (const ns of this.#objects('Namespace')) {
      const labels = (ns.metadata as Obj | undefined)?.labels;
      if (isObj(labels) && labels[MESH_LABEL] === MESH_LABEL_ENABLED && typeof ns.metadata?.name === 'string') meshedNamespaces.add(ns.metadata.name);
    }
    const notReady = podsNotReadyBySlices(this.#objects('EndpointSlice'));
    const out: ResourceRecord[] = [];
    for (const kind of ['Node', 'Service']) {
      for (const o of this.#objects(kind)) {
        const r = this.#translate(o, false);
        if (r !== null) out.push(r);
      }
    }
    const meshedIps = new Map<string, string>();
    for (const o of this.#objects('Pod')) {
      let r = this.#translate(o, meshedNamespaces.has(o.metadata?.namespace ?? 'default')) as WorkloadRecord | null;
      if (r === null) continue;
      if (r.ready && notReady.has(r.key)) r = { ...r, ready: false };
      if (r.meshed) {
        // Two meshed pods on one IP (a stale object during IP reuse) would make the source of a
        // connection ambiguous: keep the first, leave the other out until the API settles.
        const other = meshedIps.get(r.ip);
        if (other !== undefined) {
          this.#reportOnce(o, `pod ${r.key} has IP ${r.ip}, already the IP of meshed pod ${other}; left out until one of them goes away`);
          continue;
        }
        meshedIps.set(r.ip, r.key);
      }
      out.push(r);
    }
    return out;
  }

  #translate(o: KubeObject, meshedNs: boolean): ResourceRecord | null {
    const hit = this.#cache.get(o);
    if (hit !== undefined && hit.meshedNs === meshedNs) return hit.record;
    const name = o.metadata?.name ?? '(unnamed)';
    const ns = o.metadata?.namespace;
    const origin = `kubernetes ${o.kind ?? 'object'} ${ns === undefined ? name : `${ns}/${name}`}`;
    const input: SourceObject[] = [];
    // The namespace label decides `meshed`; a stand-in Namespace carries just that to translate.
    if (meshedNs && ns !== undefined) {
      input.push({ origin: 'namespace', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [MESH_LABEL]: MESH_LABEL_ENABLED } } } });
    }
    input.push({ origin, object: o });
    let record: ResourceRecord | null = null;
    try {
      record = translateObjects(input, { trustDomain: this.#opts.trustDomain })[0] ?? null;
    } catch (err) {
      this.#reportOnce(o, isWeftError(err) ? err.message : String(err));
    }
    this.#cache.set(o, { meshedNs, record });
    return record;
  }

  #reportOnce(o: KubeObject, message: string): void {
    const id = `${o.metadata?.uid ?? o.metadata?.name}@${o.metadata?.resourceVersion ?? ''}:${message}`;
    if (this.#reported.has(id)) return;
    if (this.#reported.size > 10_000) this.#reported.clear();
    this.#reported.add(id);
    this.#log.warn('kubernetes object left out of the model', { code: ErrorCodes.SOURCE_INVALID, reason: message });
  }
}

// Options: `{ kubeconfig?: string }` (empty: in-cluster) plus the informer knobs of
// KubernetesSourceOptions (tests shorten timeouts and backoff).
registerDiscoverySource(KUBERNETES_SOURCE, (ctx) => {
  const o = ctx.options;
  const num = (k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  const opts: KubernetesSourceOptions = { kubeconfig: typeof o.kubeconfig === 'string' ? o.kubeconfig : '', trustDomain: ctx.trustDomain, log: ctx.log };
  for (const k of ['debounceMs', 'startTimeoutMs', 'pageSize', 'watchTimeoutSeconds', 'watchIdleTimeoutMs', 'retryInitialMs', 'retryMaxMs'] as const) {
    const v = num(k);
    if (v !== undefined) opts[k] = v;
  }
  return new KubernetesSource(opts);
});
