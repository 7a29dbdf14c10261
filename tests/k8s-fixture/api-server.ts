// A small Kubernetes API server for tests: real list/watch semantics over plain HTTP on 127.0.0.1.
//
// What it speaks, as the real one does:
//   - GET <collection> → `<Kind>List` with metadata.resourceVersion; items without kind/apiVersion;
//     `limit` + `continue` paging (the continue token pins the list's resourceVersion).
//   - GET <collection>?watch=true&resourceVersion=N[&allowWatchBookmarks=true][&timeoutSeconds=S]
//     → chunked JSON lines {type, object}: the events after N from the history, then live ones;
//     BOOKMARK events carrying only kind/apiVersion/metadata.resourceVersion; the stream ends after
//     timeoutSeconds. A resourceVersion older than the compacted history gets a 200 stream with one
//     `ERROR` event holding a Status with code 410 (reason Expired), then the close — the way etcd
//     compaction surfaces to clients. `resourceVersion` 0/absent starts with synthetic ADDED events.
//   - POST /apis/authentication.k8s.io/v1/tokenreviews with spec.token and spec.audiences.
// Knobs for tests: compact() (forces 410s), closeWatches() (server-side close), stop()/restart()
// on the same port (API server restart), pauseWatches (slow watch: events held back).
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';

export type KubeObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string };
};

export interface Resource {
  kind: string;
  apiVersion: string;
  path: string;
  namespaced: boolean;
}

/** The collections control watches (cluster-wide paths, as an informer over all namespaces uses). */
export const RESOURCES: readonly Resource[] = [
  { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', namespaced: false },
  { kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', namespaced: false },
  { kind: 'Pod', apiVersion: 'v1', path: '/api/v1/pods', namespaced: true },
  { kind: 'Service', apiVersion: 'v1', path: '/api/v1/services', namespaced: true },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: '/apis/discovery.k8s.io/v1/endpointslices', namespaced: true },
];

interface WatchEvent {
  rv: number;
  kind: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  kind: string;
  res: http.ServerResponse;
  bookmarks: boolean;
  held: string[];
  /** A dead path: nothing written reaches the client any more, and the server does not notice. */
  stalled: boolean;
  timer?: NodeJS.Timeout;
}

/** What a fixture token stands for, as TokenReview reports it. */
export interface TokenInfo {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
  audiences: string[];
  /** ms since epoch; after it the token is refused as expired. */
  expiresAt: number;
}

export interface ServiceAccountTokenOptions {
  namespace: string;
  serviceAccount: string;
  podName?: string;
  podUid?: string;
  /** Adds the node-name claim to extra (Kubernetes ≥ 1.30 with the node binding feature). */
  nodeName?: string;
  audiences: string[];
  ttlSeconds?: number;
}

export interface FixtureOptions {
  port?: number;
  /** How often open watches with allowWatchBookmarks get a BOOKMARK (the real server: ~1 min). */
  bookmarkIntervalMs?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
}

function key(kind: string, ns: string | undefined, name: string): string {
  return `${kind}/${ns ?? ''}/${name}`;
}

function stripEnvelope(o: KubeObject): Record<string, unknown> {
  const { kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

export class ApiServerFixture {
  readonly #opts: Required<FixtureOptions>;
  #server: http.Server | null = null;
  #port = 0;
  #rv = 1;
  /** The oldest resourceVersion a watch may resume from (everything at or before it is compacted). */
  #compactedAt = 0;
  readonly #objects = new Map<string, KubeObject>();
  readonly #history: WatchEvent[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #sockets = new Set<Socket>();
  readonly #tokens = new Map<string, TokenInfo>();
  #bookmarkTimer: NodeJS.Timeout | null = null;
  /** While true, watch events are queued rather than written (a slow or stalled watch). */
  pauseWatches = false;
  readonly requests: RequestRecord[] = [];

  private constructor(opts: FixtureOptions) {
    this.#opts = { port: 0, bookmarkIntervalMs: 1000, ...opts };
  }

  static async start(opts: FixtureOptions = {}): Promise<ApiServerFixture> {
    const f = new ApiServerFixture(opts);
    await f.#listen(f.#opts.port);
    return f;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  /**
   * A kubeconfig pointing at this fixture (token auth, as a ServiceAccount would have). The client
   * refuses plain http unless TLS verification is off; there is no TLS to verify on loopback.
   */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: fixture, cluster: { server: "' + this.url + '", insecure-skip-tls-verify: true } }]',
      'users: [{ name: control, user: { token: fixture-control-token } }]',
      'contexts: [{ name: fixture, context: { cluster: fixture, user: control } }]',
      'current-context: fixture',
      '',
    ].join('\n');
  }

  /** Watches currently open (for tests that wait for informers to be connected). */
  get openWatches(): number {
    return this.#watchers.size;
  }

  listRequests(kind: string): number {
    const r = RESOURCES.find((x) => x.kind === kind);
    return this.requests.filter((q) => q.method === 'GET' && q.path === r?.path && q.query.watch === undefined).length;
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#objects.get(key(kind, namespace, name));
  }

  list(kind: string): KubeObject[] {
    return [...this.#objects.values()].filter((o) => o.kind === kind);
  }

  /** Creates or replaces an object (new resourceVersion), emitting ADDED or MODIFIED. */
  upsert(input: KubeObject): KubeObject {
    const k = key(input.kind, input.metadata.namespace, input.metadata.name);
    const prev = this.#objects.get(k);
    const rv = ++this.#rv;
    const meta: Record<string, unknown> = { ...input.metadata, resourceVersion: String(rv) };
    if (meta.uid === undefined) meta.uid = (prev?.metadata.uid as string | undefined) ?? randomUUID();
    if (meta.creationTimestamp === undefined) meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const obj = { ...input, metadata: meta } as KubeObject;
    this.#objects.set(k, obj);
    this.#emit({ rv, kind: obj.kind, type: prev === undefined ? 'ADDED' : 'MODIFIED', object: obj });
    return obj;
  }

  /** Deletes an object, emitting DELETED with its last state; false when it did not exist. */
  remove(kind: string, namespace: string | undefined, name: string): boolean {
    const k = key(kind, namespace, name);
    const prev = this.#objects.get(k);
    if (prev === undefined) return false;
    this.#objects.delete(k);
    const rv = ++this.#rv;
    this.#emit({ rv, kind, type: 'DELETED', object: { ...prev, metadata: { ...prev.metadata, resourceVersion: String(rv) } } });
    return true;
  }

  /**
   * Makes the stored objects exactly `objects`: creates, updates (only when the content differs)
   * and deletes as needed — how a test describes "the cluster now looks like this".
   */
  apply(objects: readonly KubeObject[]): void {
    const wanted = new Map(objects.map((o) => [key(o.kind, o.metadata.namespace, o.metadata.name), o]));
    for (const [k, prev] of [...this.#objects]) {
      if (!wanted.has(k)) this.remove(prev.kind, prev.metadata.namespace, prev.metadata.name);
    }
    for (const [k, o] of wanted) {
      const prev = this.#objects.get(k);
      if (prev !== undefined && sameContent(prev, o)) continue;
      this.upsert(o);
    }
  }

  /** Forgets the history: a watch resuming from any resourceVersion before now gets 410 Gone. */
  compact(): void {
    this.#compactedAt = this.#rv;
    this.#history.length = 0;
  }

  /** Ends every open watch from the server side (the API server's own watch timeout). */
  closeWatches(): void {
    for (const w of [...this.#watchers]) this.#endWatch(w);
  }

  /** Every open watch goes silent for good (no events, no bookmarks); new watches are healthy. */
  stallWatches(): void {
    for (const w of this.#watchers) w.stalled = true;
  }

  /** Sends an ERROR 410 on every open watch and closes them (history compacted under them). */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.#watchers]) {
      w.res.write(JSON.stringify({ type: 'ERROR', object: goneStatus(this.#rv) }) + '\n');
      this.#endWatch(w);
    }
  }

  /** Registers a ServiceAccount token the way the kubelet would mint a projected one. */
  mintServiceAccountToken(o: ServiceAccountTokenOptions): string {
    const token = `fixture.${randomBytes(24).toString('base64url')}`;
    this.addToken(token, o);
    return token;
  }

  /** Registers a given token string (the testbed writes its own token files). */
  addToken(token: string, o: ServiceAccountTokenOptions): void {
    const extra: Record<string, string[]> = {};
    if (o.podName !== undefined) extra['authentication.kubernetes.io/pod-name'] = [o.podName];
    if (o.podUid !== undefined) extra['authentication.kubernetes.io/pod-uid'] = [o.podUid];
    if (o.nodeName !== undefined) extra['authentication.kubernetes.io/node-name'] = [o.nodeName];
    this.#tokens.set(token, {
      username: `system:serviceaccount:${o.namespace}:${o.serviceAccount}`,
      uid: randomUUID(),
      groups: ['system:serviceaccounts', `system:serviceaccounts:${o.namespace}`, 'system:authenticated'],
      extra,
      audiences: o.audiences,
      expiresAt: Date.now() + (o.ttlSeconds ?? 3600) * 1000,
    });
  }

  /** Closes the listener and every connection (an API server going away). */
  async stop(): Promise<void> {
    if (this.#bookmarkTimer !== null) clearInterval(this.#bookmarkTimer);
    this.#bookmarkTimer = null;
    for (const w of [...this.#watchers]) this.#endWatch(w);
    const server = this.#server;
    this.#server = null;
    if (server === null) return;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** Listens again on the same port with the same state (an API server restart). */
  async restart(): Promise<void> {
    await this.stop();
    await this.#listen(this.#port);
  }

  async #listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    this.#bookmarkTimer = setInterval(() => this.#bookmark(), this.#opts.bookmarkIntervalMs);
    this.#bookmarkTimer.unref();
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fixture');
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query });
    if (this.requests.length > 10_000) this.requests.splice(0, 5000);
    if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      this.#tokenReview(req, res);
      return;
    }
    const resource = RESOURCES.find((r) => r.path === url.pathname);
    if (req.method !== 'GET' || resource === undefined) {
      sendJson(res, 404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${url.pathname})`));
      return;
    }
    const watch = query.watch === 'true' || query.watch === '1';
    if (watch) this.#watch(resource, query, res);
    else this.#list(resource, query, res);
  }

  #list(r: Resource, q: Record<string, string>, res: http.ServerResponse): void {
    let items = this.list(r.kind).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    let listRv = this.#rv;
    let offset = 0;
    if (q.continue !== undefined) {
      const [rvText, offText] = Buffer.from(q.continue, 'base64url').toString().split(':');
      listRv = Number(rvText);
      offset = Number(offText);
      if (listRv < this.#compactedAt) {
        sendJson(res, 410, status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'));
        return;
      }
      // Objects changed after the list began are not part of it (a consistent snapshot would be
      // read from etcd at listRv; the fixture approximates by keeping objects not newer than it).
      items = items.filter((o) => Number(o.metadata.resourceVersion) <= listRv);
    }
    const limit = q.limit === undefined ? 0 : Number(q.limit);
    const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
    const meta: Record<string, unknown> = { resourceVersion: String(listRv) };
    if (limit > 0 && offset + limit < items.length) meta.continue = Buffer.from(`${listRv}:${offset + limit}`).toString('base64url');
    sendJson(res, 200, { kind: `${r.kind}List`, apiVersion: r.apiVersion, metadata: meta, items: page.map(stripEnvelope) });
  }

  #watch(r: Resource, q: Record<string, string>, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const w: Watcher = { kind: r.kind, res, bookmarks: q.allowWatchBookmarks === 'true', held: [], stalled: false };
    const from = q.resourceVersion === undefined || q.resourceVersion === '' || q.resourceVersion === '0' ? null : Number(q.resourceVersion);
    if (from !== null && from < this.#compactedAt) {
      res.end(JSON.stringify({ type: 'ERROR', object: goneStatus(this.#compactedAt) }) + '\n');
      return;
    }
    this.#watchers.add(w);
    res.on('close', () => this.#endWatch(w));
    if (from === null) {
      for (const o of this.list(r.kind)) this.#send(w, JSON.stringify({ type: 'ADDED', object: o }));
    } else {
      for (const e of this.#history) if (e.kind === r.kind && e.rv > from) this.#send(w, JSON.stringify({ type: e.type, object: e.object }));
    }
    const timeout = Number(q.timeoutSeconds);
    if (Number.isFinite(timeout) && timeout > 0) {
      w.timer = setTimeout(() => this.#endWatch(w), timeout * 1000);
      w.timer.unref();
    }
  }

  #emit(e: WatchEvent): void {
    this.#history.push(e);
    const line = JSON.stringify({ type: e.type, object: e.object });
    for (const w of this.#watchers) if (w.kind === e.kind) this.#send(w, line);
  }

  #send(w: Watcher, line: string): void {
    if (w.stalled) return;
    if (this.pauseWatches) {
      w.held.push(line);
      return;
    }
    for (const h of w.held.splice(0)) w.res.write(h + '\n');
    w.res.write(line + '\n');
  }

  #bookmark(): void {
    if (this.pauseWatches) return;
    for (const w of this.#watchers) {
      if (w.stalled) continue;
      for (const h of w.held.splice(0)) w.res.write(h + '\n');
      if (!w.bookmarks) continue;
      const r = RESOURCES.find((x) => x.kind === w.kind) as Resource;
      w.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: r.kind, apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.#rv) } } }) + '\n');
    }
  }

  #endWatch(w: Watcher): void {
    if (!this.#watchers.delete(w)) return;
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (!w.res.writableEnded) w.res.end();
  }

  #tokenReview(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      let review: { spec?: { token?: unknown; audiences?: unknown } };
      try {
        review = JSON.parse(body) as typeof review;
      } catch {
        sendJson(res, 400, status(400, 'BadRequest', 'the body is not JSON'));
        return;
      }
      const token = review.spec?.token;
      const wanted = Array.isArray(review.spec?.audiences) ? (review.spec.audiences as string[]) : [];
      const info = typeof token === 'string' ? this.#tokens.get(token) : undefined;
      const out = { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: review.spec, status: {} as Record<string, unknown> };
      if (info === undefined) {
        out.status = { user: {}, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]', authenticated: false };
      } else if (Date.now() >= info.expiresAt) {
        out.status = { user: {}, error: '[invalid bearer token, service account token has expired]', authenticated: false };
      } else {
        // The API server's default audience applies when the request names none.
        const target = wanted.length > 0 ? wanted : ['https://kubernetes.default.svc.cluster.local'];
        const matched = target.filter((a) => info.audiences.includes(a));
        if (matched.length === 0) {
          out.status = { user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(info.audiences)} is invalid for the target audiences ${JSON.stringify(target)}]`, authenticated: false };
        } else {
          out.status = { authenticated: true, user: { username: info.username, uid: info.uid, groups: info.groups, extra: info.extra }, audiences: matched };
        }
      }
      sendJson(res, 201, out);
    });
  }
}

function sameContent(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): string => {
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, ...meta } = o.metadata;
    return JSON.stringify({ ...o, metadata: meta });
  };
  return strip(a) === strip(b);
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function goneStatus(rv: number): Record<string, unknown> {
  return status(410, 'Expired', `too old resource version: requested is older than the compacted revision ${rv}`);
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
