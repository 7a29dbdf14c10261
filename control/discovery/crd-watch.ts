// Custom resources the mesh reads — weft.dev AuthorizationPolicy and MeshPolicy, Gateway API
// HTTPRoute — whose CRDs may not be installed (Gateway API is optional; the chart's CRDs can be
// left out with crds.install=false). A missing CRD is not an error: control says so once, keeps
// serving, and starts the informer when the CRD appears.
//
// How we learn that a CRD is there: a one-object list (`limit=1`) of the resource at each version
// we understand, preferred first. 200 means served; 404 means not (no such group, version or
// resource). This needs only the list permission the informer needs anyway — no read access to
// CustomResourceDefinitions, so the chart grants none. It repeats every `probeIntervalMs`: to find
// a CRD installed later, to move from a fallback version (HTTPRoute v1beta1) to the preferred one
// (v1) once the cluster serves it, and to notice the watched version going away. A CRD deleted
// under a running informer shows as a 404 on that probe or on the informer's list or watch: its
// objects leave the model (the API server deleted them too) and probing for it resumes.
//
// Until the first definite answer (served or not) the kind is not ready, and neither is the
// source: control must not serve a model without the policies the cluster has.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../common/log.ts';
import { CollectionInformer, customCollection, httpStatusOf, type CustomKind, type InformerOptions, type KubeObject } from './kubernetes-informers.ts';

/** Every custom kind the model takes (the same the file source reads). */
export const CUSTOM_KINDS: readonly CustomKind[] = [
  { kind: 'AuthorizationPolicy', group: 'weft.dev', plural: 'authorizationpolicies', versions: ['v1alpha1'] },
  { kind: 'MeshPolicy', group: 'weft.dev', plural: 'meshpolicies', versions: ['v1alpha1'] },
  // v1 and v1beta1 carry the same fields for everything the mesh reads (httproute.ts takes both).
  { kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', plural: 'httproutes', versions: ['v1', 'v1beta1'] },
];

export type ProbeAnswer = 'served' | 'absent';

/**
 * The version to watch: the most preferred one the probes say is served; null if none is. Probes
 * stop at the first served version, so later ones may be missing from `answers`. Pure.
 */
export function chooseVersion(versions: readonly string[], answers: ReadonlyMap<string, ProbeAnswer>): string | null {
  for (const v of versions) if (answers.get(v) === 'served') return v;
  return null;
}

/** One list of at most one object: is this kind served at this version? Throws on other errors. */
export async function probeServed(api: k8s.CustomObjectsApi, ck: CustomKind, version: string): Promise<ProbeAnswer> {
  try {
    await api.listClusterCustomObject({ group: ck.group, version, plural: ck.plural, limit: 1 });
    return 'served';
  } catch (err) {
    if (httpStatusOf(err) === 404) return 'absent';
    throw err;
  }
}

export interface CustomKindStatus {
  kind: string;
  /** The apiVersion watched, or null while the CRD is not served. */
  apiVersion: string | null;
  lists: number;
  /** Times its watch was opened again after the first (see CollectionInformer.watches). */
  watchRestarts: number;
  resourceVersion: string;
  objects: number;
  lastError: string | null;
}

export class CustomKindWatch {
  readonly ck: CustomKind;
  /** Resolves after the first definite answer and, if served, the informer's first list. */
  readonly ready: Promise<void>;
  #markReady: () => void = () => undefined;
  readonly #kc: k8s.KubeConfig;
  readonly #api: k8s.CustomObjectsApi;
  readonly #opts: InformerOptions;
  readonly #log: Logger;
  readonly #onChange: () => void;
  readonly #probeIntervalMs: number;
  #informer: CollectionInformer | null = null;
  #version: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failures = 0;
  #saidAbsent = false;
  #lastProbeError: string | null = null;
  #stopped = false;
  #checking: Promise<void> | null = null;
  #markStopping: () => void = () => undefined;
  readonly #stopping = new Promise<'stopped'>((resolve) => (this.#markStopping = () => resolve('stopped')));

  constructor(kc: k8s.KubeConfig, ck: CustomKind, opts: InformerOptions, probeIntervalMs: number, log: Logger, onChange: () => void) {
    this.ck = ck;
    this.#kc = kc;
    this.#api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.#opts = opts;
    this.#probeIntervalMs = probeIntervalMs;
    this.#log = log;
    this.#onChange = onChange;
    this.ready = new Promise((resolve) => (this.#markReady = resolve));
  }

  get version(): string | null {
    return this.#version;
  }

  /** The informer, while the kind is served (for metrics readers: `lists`, `lastError`). */
  get informer(): CollectionInformer | null {
    return this.#informer;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#markStopping();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#checking;
    await this.#informer?.stop();
  }

  list(): readonly KubeObject[] {
    return this.#informer?.list() ?? [];
  }

  status(): CustomKindStatus {
    const i = this.#informer;
    return {
      kind: this.ck.kind,
      apiVersion: this.#version === null ? null : `${this.ck.group}/${this.#version}`,
      lists: i?.lists ?? 0,
      watchRestarts: i?.watchRestarts ?? 0,
      resourceVersion: i?.resourceVersion ?? '',
      objects: i?.list().length ?? 0,
      lastError: i?.lastError ?? this.#lastProbeError,
    };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#checking = this.#check().finally(() => (this.#checking = null));
    }, delayMs);
    this.#timer.unref();
  }

  /** Probes the versions better than the one watched (all of them when none is). */
  async #check(): Promise<void> {
    const answers = new Map<string, ProbeAnswer>();
    // Watching a version: probe it too. A deleted CRD ends its watches only at their timeout;
    // the probe's 404 notices sooner.
    const candidates = this.#version === null ? this.ck.versions : this.ck.versions.slice(0, this.ck.versions.indexOf(this.#version) + 1);
    try {
      for (const v of candidates) {
        const a = await probeServed(this.#api, this.ck, v);
        answers.set(v, a);
        if (a === 'served') break;
      }
    } catch (err) {
      if (this.#stopped) return;
      // Unreachable API server or no permission: not an answer. Say it once per reason, retry.
      this.#failures += 1;
      const message = err instanceof Error ? err.message : String(err);
      const status = httpStatusOf(err);
      const reason = status === 403 ? `forbidden (${message}) — may control list ${this.ck.plural}.${this.ck.group}? (RBAC)` : message;
      // Quiet at first (an API server restart is routine), loud once it persists.
      if (reason !== this.#lastProbeError || this.#failures === 3) {
        this.#log[this.#failures > 2 || status === 403 ? 'warn' : 'info']('cannot tell whether a custom resource is served; retrying', { kind: this.ck.kind, group: this.ck.group, failures: this.#failures, reason });
      }
      this.#lastProbeError = reason;
      const delay = Math.min(this.#opts.retryMaxMs, this.#opts.retryInitialMs * 2 ** Math.min(this.#failures - 1, 16));
      this.#schedule(Math.round(delay * (0.8 + 0.4 * Math.random())));
      return;
    }
    this.#failures = 0;
    this.#lastProbeError = null;
    if (this.#stopped) return;
    const chosen = chooseVersion(candidates, answers);
    if (chosen !== null && chosen !== this.#version) {
      await this.#watch(chosen);
    } else if (chosen === null && this.#informer !== null) {
      this.#gone(this.#informer);
      return;
    } else if (this.#version === null) {
      if (!this.#saidAbsent) {
        this.#saidAbsent = true;
        this.#log.info('custom resource not served: its CRD is not installed; these objects are ignored until it is, and control keeps serving', {
          kind: this.ck.kind, group: this.ck.group, versions: this.ck.versions.join(', '), recheckEveryMs: this.#probeIntervalMs,
        });
      }
      this.#markReady();
    }
    this.#schedule(this.#probeIntervalMs);
  }

  /** Starts an informer on `version`; once it has listed, it replaces the previous one. */
  async #watch(version: string): Promise<void> {
    const spec = customCollection(this.#kc, this.ck, version);
    let goneBeforeSync: () => void = () => undefined;
    const gone = new Promise<'gone'>((resolve) => (goneBeforeSync = () => resolve('gone')));
    const next: CollectionInformer = new CollectionInformer(this.#kc, spec, this.#opts, this.#log, () => {
      if (this.#informer === next) this.#onChange();
    }, () => (this.#informer === next ? this.#gone(next) : goneBeforeSync()));
    next.start();
    // The CRD can go between the probe and the list, and stop() can come meanwhile: never hang.
    const outcome = await Promise.race([next.synced.then(() => 'synced' as const), gone, this.#stopping]);
    if (outcome !== 'synced' || this.#stopped) {
      await next.stop();
      return;
    }
    const previous = this.#informer;
    this.#informer = next;
    this.#version = version;
    this.#saidAbsent = false;
    this.#log.info('custom resource served; watching it', { kind: this.ck.kind, apiVersion: spec.apiVersion, objects: next.list().length, replaces: previous?.spec.apiVersion ?? null });
    await previous?.stop();
    this.#markReady();
    this.#onChange();
  }

  #gone(informer: CollectionInformer): void {
    if (this.#stopped) return;
    this.#log.warn('custom resource no longer served (CRD deleted?); its objects leave the model until it is back', { kind: this.ck.kind, apiVersion: informer.spec.apiVersion });
    this.#informer = null;
    this.#version = null;
    void informer.stop();
    this.#onChange();
    this.#schedule(0);
  }
}
