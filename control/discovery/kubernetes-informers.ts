// The informers behind the `kubernetes` discovery source: one @kubernetes/client-node ListWatch
// per collection, with what the library leaves to its caller:
//   - watches ask for bookmarks (allowWatchBookmarks) and a server-side timeout, so a quiet
//     collection still advances its resourceVersion and a reconnect resumes instead of relisting;
//   - lists page through `limit`/`continue` (one 50k-pod answer would stall the API server);
//   - list items carry no kind/apiVersion in the API; every cached object gets them back, so the
//     translation sees the same JSON whether an object arrived by list or by watch;
//   - on an error the library stops the informer; we restart it with capped, jittered backoff.
//     Restarting resumes from the last resourceVersion; a 410 (resourceVersion too old, either
//     as HTTP status or as an ERROR event) makes the library relist and diff, so nothing is lost
//     or duplicated.
// A watch that goes silent longer than the idle timeout (no events, no bookmarks) is aborted and
// resumed: a slow or wedged connection cannot freeze the model.
// Custom resources (weft.dev policies, Gateway API HTTPRoutes) get the same informer through the
// CustomObjects API; their CRD may be missing, which crd-watch.ts handles: a 404 from the list or
// the watch means the CRD went away, and the informer hands that to its owner instead of retrying.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from '../../common/log.ts';

export type KubeObject = k8s.KubernetesObject & Record<string, unknown>;

export interface CollectionSpec {
  kind: string;
  apiVersion: string;
  path: string;
  /** One page of the list; `cont` is the continue token of the previous page. */
  listPage(limit: number, cont: string | undefined): Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
}

/** A custom resource kind the mesh reads, and the versions it understands, preferred first. */
export interface CustomKind {
  kind: string;
  group: string;
  plural: string;
  versions: readonly string[];
}

/** One served version of a custom resource, listed cluster-wide. Read-only: list and watch. */
export function customCollection(kc: k8s.KubeConfig, ck: CustomKind, version: string): CollectionSpec {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    kind: ck.kind,
    apiVersion: `${ck.group}/${version}`,
    path: `/apis/${ck.group}/${version}/${ck.plural}`,
    listPage: async (limit, cont) => {
      // Custom objects come back as the raw JSON: the continue token is `metadata.continue`, not
      // the typed clients' `_continue` (reading the wrong one silently stops after the first page).
      const raw = (await api.listClusterCustomObject({ group: ck.group, version, plural: ck.plural, limit, ...(cont === undefined ? {} : { _continue: cont }) })) as { metadata?: { resourceVersion?: string; continue?: string }; items?: k8s.KubernetesObject[] };
      const next = raw.metadata?.continue;
      return { items: raw.items ?? [], metadata: { resourceVersion: raw.metadata?.resourceVersion ?? '', ...(next ? { _continue: next } : {}) } };
    },
  };
}

/** The HTTP status of a failed list (ApiException.code) or watch (Error.statusCode), if any. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.statusCode === 'number') return e.statusCode;
  return typeof e.code === 'number' ? e.code : undefined;
}

/** The five built-in collections the mesh reads. Read-only: list and watch, nothing else. */
export function meshCollections(kc: k8s.KubeConfig): CollectionSpec[] {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);
  const p = (limit: number, cont: string | undefined): { limit: number; _continue?: string } => (cont === undefined ? { limit } : { limit, _continue: cont });
  return [
    { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', listPage: (l, c) => core.listNamespace(p(l, c)) },
    { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', listPage: (l, c) => core.listNode(p(l, c)) },
    { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', listPage: (l, c) => core.listPodForAllNamespaces(p(l, c)) },
    { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', listPage: (l, c) => core.listServiceForAllNamespaces(p(l, c)) },
    { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices', listPage: (l, c) => discovery.listEndpointSliceForAllNamespaces(p(l, c)) },
  ];
}

export interface InformerOptions {
  /** Objects per list page. */
  pageSize: number;
  /** Server-side watch timeout; jittered ±20% so informers do not reconnect in step. */
  watchTimeoutSeconds: number;
  /** Abort and resume a watch that sent nothing (not even a bookmark) for this long. */
  watchIdleTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** Watch that always asks for bookmarks and a server-side timeout. */
class BookmarkWatch extends k8s.Watch {
  readonly #timeoutSeconds: number;
  readonly #onWatch: () => void;
  constructor(kc: k8s.KubeConfig, timeoutSeconds: number, idleMs: number, onWatch: () => void) {
    super(kc);
    this.#timeoutSeconds = timeoutSeconds;
    this.#onWatch = onWatch;
    // Declared private in the typings but a plain field at runtime: the inactivity timeout.
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = idleMs;
  }

  override watch(...[path, queryParams, callback, done]: Parameters<k8s.Watch['watch']>): Promise<AbortController> {
    const timeout = Math.max(1, Math.round(this.#timeoutSeconds * (0.8 + 0.4 * Math.random())));
    this.#onWatch();
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: timeout }, callback, done);
  }
}

/**
 * One collection, cached. `onChange` fires after any add/update/delete (including those a relist
 * produces); `synced` resolves after the first complete list.
 */
export class CollectionInformer {
  readonly spec: CollectionSpec;
  readonly synced: Promise<void>;
  #markSynced: () => void = () => undefined;
  readonly #informer: k8s.ListWatch<KubeObject>;
  readonly #opts: InformerOptions;
  readonly #log: Logger;
  #failures = 0;
  #retry: NodeJS.Timeout | null = null;
  #stopped = false;
  /** Lists completed (1 = the initial one); a relist after 410 adds one. */
  lists = 0;
  lastError: string | null = null;
  /**
   * Watch requests opened: the first, then one per resume (the server's timeout, a failure, an
   * idle watch aborted, a relist). `watches - 1` is how often the watch restarted.
   */
  watches = 0;

  /** How often the watch was opened again after the first. */
  get watchRestarts(): number {
    return Math.max(0, this.watches - 1);
  }

  readonly #onGone: (() => void) | undefined;

  /**
   * `onGone`: for a custom resource, called (instead of retrying) when the API answers 404 — the
   * CRD was deleted or stopped serving this version; the owner stops this informer.
   */
  constructor(kc: k8s.KubeConfig, spec: CollectionSpec, opts: InformerOptions, log: Logger, onChange: () => void, onGone?: () => void) {
    this.spec = spec;
    this.#onGone = onGone;
    this.#opts = opts;
    this.#log = log;
    this.synced = new Promise((resolve) => (this.#markSynced = resolve));
    const watch = new BookmarkWatch(kc, opts.watchTimeoutSeconds, opts.watchIdleTimeoutMs, () => (this.watches += 1));
    this.#informer = new k8s.ListWatch<KubeObject>(spec.path, watch, () => this.#listAll(), false);
    const changed = (obj: KubeObject): void => {
      // Watch events carry kind/apiVersion already; list items do not. Same shape either way.
      if (obj.kind === undefined) obj.kind = spec.kind;
      if (obj.apiVersion === undefined) obj.apiVersion = spec.apiVersion;
      this.#failures = 0;
      onChange();
    };
    this.#informer.on(k8s.ADD, changed);
    this.#informer.on(k8s.UPDATE, changed);
    this.#informer.on(k8s.DELETE, changed);
    this.#informer.on(k8s.ERROR, (err: unknown) => this.#onError(err));
  }

  start(): void {
    this.#stopped = false;
    void this.#informer.start().catch((err: unknown) => this.#onError(err));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    await this.#informer.stop();
  }

  list(): readonly KubeObject[] {
    return this.#informer.list();
  }

  get resourceVersion(): string {
    return this.#informer.latestResourceVersion();
  }

  async #listAll(): Promise<k8s.KubernetesListObject<KubeObject>> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.spec.listPage(this.#opts.pageSize, cont);
      // The typed client hands back class instances with Date fields; a JSON round trip gives the
      // wire shape again, identical to what the watch delivers.
      for (const item of page.items) {
        const o = JSON.parse(JSON.stringify(item)) as KubeObject;
        o.kind = this.spec.kind;
        o.apiVersion = this.spec.apiVersion;
        items.push(o);
      }
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?._continue || undefined;
    } while (cont !== undefined);
    this.lists += 1;
    this.#failures = 0;
    this.lastError = null;
    // The library fills its cache right after this promise settles; mark synced after that.
    setImmediate(() => this.#markSynced());
    return { apiVersion: this.spec.apiVersion, kind: `${this.spec.kind}List`, metadata: { resourceVersion }, items };
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    if (this.#onGone !== undefined && httpStatusOf(err) === 404) {
      this.lastError = 'not found (CRD removed?)';
      this.#onGone();
      return;
    }
    this.#failures += 1;
    const message = err instanceof Error ? err.message : typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
    this.lastError = message;
    const base = Math.min(this.#opts.retryMaxMs, this.#opts.retryInitialMs * 2 ** Math.min(this.#failures - 1, 16));
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    // Quiet for the first failure (an API server rolling restart is routine), loud after.
    const level = this.#failures > 2 ? 'warn' : 'info';
    this.#log[level]('kubernetes watch interrupted; resuming', { kind: this.spec.kind, failures: this.#failures, retryInMs: delay, resourceVersion: this.resourceVersion, reason: message });
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (!this.#stopped) this.start();
    }, delay);
    this.#retry.unref();
  }
}
