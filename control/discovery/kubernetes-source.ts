// The `kubernetes` discovery source: informers on Namespaces, Nodes, Pods, Services and
// EndpointSlices (see kubernetes-informers.ts) and on the custom resources the model takes —
// weft.dev AuthorizationPolicy and MeshPolicy, Gateway API HTTPRoute — whose CRDs may come later
// (crd-watch.ts), turned into the same records the file source produces: each object goes through
// k8s-translate.ts, so the data plane cannot tell the sources apart.
//
// Scale: a cluster has tens of thousands of pods and one of them changes every few milliseconds.
// Translation is per object and cached by object identity (the informer replaces the object on
// every update), so a change costs one translation plus a pass over cached records; changes are
// coalesced over a short debounce before the whole set goes to the store, which diffs it.
//
// Strictness differs from the file source on purpose: there one bad manifest is an operator's typo
// to fix, here it is one odd object among thousands that nobody here can edit. A bad object is
// refused alone: logged once per version (WEFT_ERR_SOURCE_INVALID / WEFT_ERR_POLICY_INVALID with
// its name and reason), counted on /metrics, and listed in a `refused` record that rides the
// config stream so `weft check` on any node shows it. The LAST GOOD VERSION of that object stays
// in force — a typo in an edit must not lift a DENY policy or drop a route — and the rest of the
// cluster keeps flowing. An object that was never good (refused since control started) is left
// out. The API server's CRD validation catches most mistakes first; what reaches us invalid is
// what a schema cannot say (a CIDR that does not parse, a regex path we do not implement).
//
// Readiness: a pod's Ready condition, and false when an EndpointSlice lists the pod as not ready
// (terminating endpoints, or a slice controller that knows better than the pod status we saw).
//
// RBAC (least privilege; the Helm chart templates this as a ClusterRole):
//   - apiGroups [""]: namespaces, nodes, pods, services — verbs list, watch
//   - apiGroups ["discovery.k8s.io"]: endpointslices — verbs list, watch
//   - apiGroups ["weft.dev"]: authorizationpolicies, meshpolicies — verbs list, watch
//   - apiGroups ["gateway.networking.k8s.io"]: httproutes — verbs list, watch
//   - apiGroups ["authentication.k8s.io"]: tokenreviews — verb create (token-review authenticator)
// Nothing else: whether a CRD is installed is learned by listing its resource (crd-watch.ts), not
// by reading CustomResourceDefinitions; tests/kube/rbac.test.ts holds the chart to this list.
import * as k8s from '@kubernetes/client-node';
import { ErrorCodes, WeftError, isWeftError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { PathNormalization } from '../../common/path-normalize.ts';
import { resourceId, type PendingWorkloadRecord, type RefusedObject, type RefusedRecord, type ResourceRecord, type WorkloadRecord } from '../api/model.ts';
import { CUSTOM_KINDS, CustomKindWatch, type CustomKindStatus } from './crd-watch.ts';
import { MESH_LABEL, MESH_LABEL_ENABLED, translateObjects, type SourceObject } from './k8s-translate.ts';
import { CollectionInformer, meshCollections, type InformerOptions, type KubeObject } from './kubernetes-informers.ts';
import { registerDiscoverySource, type DiscoverySource, type RecordSink } from './source.ts';

export const KUBERNETES_SOURCE = 'kubernetes';

export interface KubernetesSourceOptions extends Partial<InformerOptions> {
  /** A kubeconfig file; empty means in-cluster (the pod's ServiceAccount). */
  kubeconfig: string;
  trustDomain: string;
  /** The mesh's path normalisation (policy rule paths are checked against it). */
  pathNormalization?: PathNormalization;
  log: Logger;
  /** Changes arriving within this window go out as one set. */
  debounceMs?: number;
  /** start() rejects when the first complete list takes longer. */
  startTimeoutMs?: number;
  /** How often a missing CRD (or a better served version of one) is looked for. */
  crdProbeIntervalMs?: number;
}

/** The record that lists refused objects (present only while some are); weft check reads it. */
export const REFUSED_RECORD_KEY = 'discovery';

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
  /** Why the object was refused; null when it translated (to a record or, legitimately, to none). */
  error: string | null;
}

/** The kinds translated one object at a time, with a last good version kept per object. */
const PLAIN_KINDS = ['Node', 'Service', ...CUSTOM_KINDS.map((c) => c.kind)];

function objectId(kind: string, o: KubeObject): string {
  return `${kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function refusedId(r: RefusedObject): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

export class KubernetesSource implements DiscoverySource {
  readonly name = KUBERNETES_SOURCE;
  readonly #opts: KubernetesSourceOptions;
  readonly #log: Logger;
  readonly #informers: CollectionInformer[];
  readonly #custom: CustomKindWatch[];
  readonly #byKind = new Map<string, { list(): readonly KubeObject[] }>();
  /** The last record each object (`Kind/namespace/name`) translated to: kept while it is refused. */
  #lastGood = new Map<string, ResourceRecord>();
  #refused: RefusedObject[] = [];
  /** Refusals so far, by kind (each object version counted once). */
  readonly refusalsTotal = new Map<string, number>();
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
    this.#custom = CUSTOM_KINDS.map((ck) => new CustomKindWatch(kc, ck, informerOpts, opts.crdProbeIntervalMs ?? 30_000, opts.log, () => this.#schedule()));
    for (const c of this.#custom) this.#byKind.set(c.ck.kind, c);
  }

  /** Per collection: completed lists, resourceVersion, last error (for the admin dump and tests). */
  status(): CustomKindStatus[] {
    return [
      ...this.#informers.map((i) => ({ kind: i.spec.kind, apiVersion: i.spec.apiVersion, lists: i.lists, watchRestarts: i.watchRestarts, resourceVersion: i.resourceVersion, objects: i.list().length, lastError: i.lastError })),
      ...this.#custom.map((c) => c.status()),
    ];
  }

  /** Every informer running now, built-in and custom (for readers of `lists` / `lastError`). */
  informers(): CollectionInformer[] {
    return [...this.#informers, ...this.#custom.flatMap((c) => (c.informer === null ? [] : [c.informer]))];
  }

  /** Objects refused now, with their reasons (what the `refused` record carries). */
  refused(): readonly RefusedObject[] {
    return this.#refused;
  }

  /** Prometheus text for control's /metrics. */
  metrics(): string {
    const gauge = 'weft_discovery_refused_objects';
    const counter = 'weft_discovery_refusals_total';
    const now = new Map<string, number>();
    for (const r of this.#refused) now.set(r.kind, (now.get(r.kind) ?? 0) + 1);
    const lines = [
      `# HELP ${gauge} Kubernetes objects the discovery source refuses now (invalid; the last good version, if any, stays in force), by kind.`,
      `# TYPE ${gauge} gauge`,
      ...PLAIN_KINDS.concat('Pod').map((k) => `${gauge}{kind="${k}"} ${now.get(k) ?? 0}`),
      `# HELP ${counter} Refusals of Kubernetes objects by the discovery source (each object version once), by kind.`,
      `# TYPE ${counter} counter`,
      ...PLAIN_KINDS.concat('Pod').map((k) => `${counter}{kind="${k}"} ${this.refusalsTotal.get(k) ?? 0}`),
    ];
    return lines.join('\n') + '\n';
  }

  async start(sink: RecordSink): Promise<void> {
    if (this.#sink !== null) throw new Error('kubernetes source started twice');
    this.#sink = sink;
    for (const i of this.#informers) i.start();
    for (const c of this.#custom) c.start();
    const timeoutMs = this.#opts.startTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const pending = this.status().filter((i) => i.lists === 0 && (i.apiVersion !== null || i.lastError !== null)).map((i) => `${i.kind}${i.lastError === null ? '' : ` (${i.lastError})`}`);
        reject(new WeftError(ErrorCodes.SOURCE_INVALID, `the Kubernetes API did not answer the first list of ${pending.join(', ')} within ${timeoutMs} ms — is the API server reachable and may control list/watch them (RBAC)?`));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all([...this.#informers.map((i) => i.synced), ...this.#custom.map((c) => c.ready)]), timeout]);
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
    this.#log.info('kubernetes objects listed', Object.fromEntries([...this.#byKind].map(([kind, c]) => [kind, c.list().length])));
    sink(records);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = null;
    await Promise.all([...this.#informers.map((i) => i.stop()), ...this.#custom.map((c) => c.stop())]);
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
    const good = new Map<string, ResourceRecord>();
    const refused: RefusedObject[] = [];
    // One object: its record, or — refused — its last good record, if it ever had one.
    const take = (kind: string, o: KubeObject, meshedNs: boolean): ResourceRecord | null => {
      const t = this.#translate(o, meshedNs);
      const id = objectId(kind, o);
      if (t.error === null) {
        if (t.record !== null) good.set(id, t.record);
        return t.record;
      }
      const last = this.#lastGood.get(id) ?? null;
      if (last !== null) good.set(id, last);
      refused.push({ kind, namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '(unnamed)', reason: t.error, inForce: last === null ? 'none' : 'last-good' });
      return last;
    };
    for (const kind of PLAIN_KINDS) {
      for (const o of this.#objects(kind)) {
        const r = take(kind, o, false);
        if (r !== null) out.push(r);
      }
    }
    const meshedIps = new Map<string, string>();
    for (const o of this.#objects('Pod')) {
      let r = take('Pod', o, meshedNamespaces.has(o.metadata?.namespace ?? 'default')) as WorkloadRecord | PendingWorkloadRecord | null;
      if (r === null) continue;
      if (r.kind === 'pending-workload') {
        out.push(r);
        continue;
      }
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
    // Objects that went away take their last good version with them.
    this.#lastGood = good;
    refused.sort((a, b) => (refusedId(a) < refusedId(b) ? -1 : 1));
    this.#refused = refused;
    if (refused.length > 0) {
      const rec: RefusedRecord = { kind: 'refused', key: REFUSED_RECORD_KEY, objects: refused };
      out.push(rec);
    }
    // Two objects can translate to one record id (an HTTPRoute seen at two versions during a
    // switch): the first wins, as the store needs unique ids.
    const seen = new Set<string>();
    return out.filter((r) => {
      const id = resourceId(r);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  #translate(o: KubeObject, meshedNs: boolean): Translated {
    const hit = this.#cache.get(o);
    if (hit !== undefined && hit.meshedNs === meshedNs) return hit;
    const name = o.metadata?.name ?? '(unnamed)';
    const ns = o.metadata?.namespace;
    const origin = `kubernetes ${o.kind ?? 'object'} ${ns === undefined ? name : `${ns}/${name}`}`;
    const input: SourceObject[] = [];
    // The namespace label decides `meshed`; a stand-in Namespace carries just that to translate.
    if (meshedNs && ns !== undefined) {
      input.push({ origin: 'namespace', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [MESH_LABEL]: MESH_LABEL_ENABLED } } } });
    }
    input.push({ origin, object: o });
    const t: Translated = { meshedNs, record: null, error: null };
    try {
      t.record = translateObjects(input, { trustDomain: this.#opts.trustDomain, ...(this.#opts.pathNormalization !== undefined ? { pathNormalization: this.#opts.pathNormalization } : {}) })[0] ?? null;
    } catch (err) {
      t.error = isWeftError(err) ? err.message : String(err);
      const kind = o.kind ?? 'object';
      this.refusalsTotal.set(kind, (this.refusalsTotal.get(kind) ?? 0) + 1);
      this.#reportOnce(o, t.error, isWeftError(err) ? err.code : ErrorCodes.SOURCE_INVALID);
    }
    this.#cache.set(o, t);
    return t;
  }

  #reportOnce(o: KubeObject, message: string, code: string = ErrorCodes.SOURCE_INVALID): void {
    const id = `${o.metadata?.uid ?? o.metadata?.name}@${o.metadata?.resourceVersion ?? ''}:${message}`;
    if (this.#reported.has(id)) return;
    if (this.#reported.size > 10_000) this.#reported.clear();
    this.#reported.add(id);
    const object = objectId(o.kind ?? 'object', o);
    const kept = this.#lastGood.has(object);
    this.#log.warn(kept ? 'kubernetes object refused; its last good version stays in force' : 'kubernetes object refused; left out of the model', { code, object, reason: message });
  }
}

// Options: `{ kubeconfig?: string }` (empty: in-cluster) plus the informer knobs of
// KubernetesSourceOptions (tests shorten timeouts and backoff).
registerDiscoverySource(KUBERNETES_SOURCE, (ctx) => {
  const o = ctx.options;
  const num = (k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);
  const opts: KubernetesSourceOptions = { kubeconfig: typeof o.kubeconfig === 'string' ? o.kubeconfig : '', trustDomain: ctx.trustDomain, log: ctx.log, ...(ctx.pathNormalization !== undefined ? { pathNormalization: ctx.pathNormalization } : {}) };
  for (const k of ['debounceMs', 'startTimeoutMs', 'crdProbeIntervalMs', 'pageSize', 'watchTimeoutSeconds', 'watchIdleTimeoutMs', 'retryInitialMs', 'retryMaxMs'] as const) {
    const v = num(k);
    if (v !== undefined) opts[k] = v;
  }
  return new KubernetesSource(opts);
});
