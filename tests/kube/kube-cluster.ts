// A real Kubernetes control plane on loopback for tests: Debian's etcd, upstream kube-apiserver and
// kube-controller-manager v1.28.7 (see kube-binaries.ts), each on free ports, with a PKI of its own
// (kube-pki.ts), torn down with everything it wrote. No kubelet: a test sets a Pod's status through
// the `status` subresource as a kubelet would, and the real controllers react (EndpointSlices,
// ServiceAccount tokens, garbage collection).
//
// Every file and process is named after the test (`weft-kube-<name>-…` in the temporary folder,
// the name in every command line), so a leftover is traceable; processes are killed on teardown
// and, synchronously, when the test process exits.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeBinaries, type KubeBinaries } from './kube-binaries.ts';
import { makeKubePki, type KubePki } from './kube-pki.ts';

type ComponentLabel = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler';

export type KubeObject = Record<string, unknown> & { apiVersion?: string; kind?: string; metadata?: Record<string, unknown> };

export interface KubeResponse {
  status: number;
  body: unknown;
}

export interface KubeClusterOptions {
  /** The test's name: in the folder, the process command lines and the etcd member name. */
  name: string;
  /** Run kube-controller-manager (EndpointSlices, ServiceAccount tokens, GC). Default true. */
  controllerManager?: boolean;
  /**
   * The API server's watch cache. Default true (as in production). false makes every watch read
   * etcd directly: a watch resuming from a revision older than an etcd compaction (compactEtcd)
   * then gets a real 410 Expired — and no bookmarks are sent (they come from the cache).
   */
  watchCache?: boolean;
  /**
   * The Service ClusterIP range (default 10.96.0.0/16, a /16 or wider ending in .0.0); its first
   * address is the `kubernetes` Service and a SAN of the serving certificate. The node tier picks
   * its own, so its unreachable route for the range is its alone.
   */
  serviceCidr?: string;
  /** Run kube-scheduler too (Deployments and DaemonSets get nodes; tests/node). Default false. */
  scheduler?: boolean;
}

const live = new Set<ChildProcess>();

/**
 * Starts a long-running binary whose output goes to `<dir>/<label>.log`, tracked in `live` (the
 * caller's set, killed on exit) until it exits. Shared with tests/node, which runs more of them.
 */
export function spawnLogged(dir: string, label: string, cmd: string, args: string[], live: Set<ChildProcess>): ChildProcess {
  const log = createWriteStream(join(dir, `${label}.log`), { flags: 'a' });
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}
const dirs = new Set<string>();
/** Synchronous last resort: kill what still runs and remove the folders. */
function killAllSync(): void {
  for (const c of live) if (c.exitCode === null && c.pid !== undefined) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  if (process.env.WEFT_KEEP_KUBE_DIR === undefined) for (const d of dirs) try { rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
}
process.on('exit', killAllSync);
// tap ends a test file that runs out of time with SIGTERM, which skips 'exit' handlers: the
// control plane must not outlive it. When no other handler (the testbed's) will end the process,
// re-raise the signal with its default action once the cleanup is done.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  const onSignal = (): void => {
    killAllSync();
    if (process.listenerCount(signal) === 1) {
      process.off(signal, onSignal);
      process.kill(process.pid, signal);
    }
  };
  process.on(signal, onSignal);
}

/** Whether a component's self-signed HTTPS /healthz on loopback answers 200. */
function healthz(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      ok(res.statusCode === 200);
    });
    req.on('error', () => ok(false));
    req.on('timeout', () => req.destroy());
  });
}

/** The first address of a service range (`10.96.0.0/16` → `10.96.0.1`): the `kubernetes` Service. */
export function firstServiceIp(cidr: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr);
  if (m === null || Number(m[4]) !== 0) throw new Error(`service range ${cidr}: expected a.b.c.0/len`);
  return `${m[1]}.${m[2]}.${m[3]}.1`;
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class KubeCluster {
  readonly name: string;
  readonly dir: string;
  readonly pki: KubePki;
  readonly bins: KubeBinaries;
  readonly apiPort: number;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** An admin kubeconfig file (client certificate in system:masters). */
  readonly adminKubeconfig: string;
  readonly #etcdPorts: [number, number];
  readonly #watchCache: boolean;
  /** The Service ClusterIP range given to the API server. */
  readonly serviceCidr: string;
  #etcd: ChildProcess | undefined;
  #api: ChildProcess | undefined;
  #kcm: ChildProcess | undefined;
  #scheduler: ChildProcess | undefined;
  readonly #agent: https.Agent;
  #stopped = false;

  private constructor(name: string, dir: string, pki: KubePki, bins: KubeBinaries, ports: [number, number, number], watchCache: boolean, serviceCidr: string) {
    this.name = name;
    this.serviceCidr = serviceCidr;
    this.#watchCache = watchCache;
    this.dir = dir;
    this.pki = pki;
    this.bins = bins;
    this.#etcdPorts = [ports[0], ports[1]];
    this.apiPort = ports[2];
    this.server = `https://127.0.0.1:${ports[2]}`;
    this.adminKubeconfig = join(dir, 'admin.kubeconfig');
    this.#agent = new https.Agent({ keepAlive: true, ca: pki.caPem });
  }

  /** Starts a cluster, or returns the reason it cannot (binaries or etcd missing). */
  static async start(opts: KubeClusterOptions): Promise<KubeCluster | string> {
    const bins = await kubeBinaries();
    if (typeof bins === 'string') return bins;
    const safe = opts.name.replace(/[^a-z0-9-]/gi, '-').toLowerCase();
    const dir = await mkdtemp(join(tmpdir(), `weft-kube-${safe}-`));
    dirs.add(dir);
    const serviceCidr = opts.serviceCidr ?? '10.96.0.0/16';
    const pki = await makeKubePki(dir, firstServiceIp(serviceCidr));
    const ports: [number, number, number] = [await freePort(), await freePort(), await freePort()];
    const c = new KubeCluster(safe, dir, pki, bins, ports, opts.watchCache !== false, serviceCidr);
    try {
      await c.#writeAdminKubeconfig();
      await c.#startEtcd();
      await c.startApiServer();
      if (opts.controllerManager !== false) await c.#startControllerManager();
      if (opts.scheduler === true) await c.#startScheduler();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  #spawn(label: string, cmd: string, args: string[]): ChildProcess {
    return spawnLogged(this.dir, label, cmd, args, live);
  }

  /** The last lines a component logged (for failure messages). */
  async logTail(label: ComponentLabel, lines = 20): Promise<string> {
    try {
      return (await readFile(join(this.dir, `${label}.log`), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async #startEtcd(): Promise<void> {
    const [client, peer] = this.#etcdPorts;
    const member = `weft-kube-${this.name}`;
    this.#etcd = this.#spawn('etcd', this.bins.etcd, [
      '--name', member, '--data-dir', join(this.dir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `${member}=http://127.0.0.1:${peer}`, '--log-level', 'warn',
    ]);
    await this.#waitFor('etcd', this.#etcd, async () => {
      const r = await fetch(`http://127.0.0.1:${client}/health`).catch(() => undefined);
      return r?.ok === true;
    });
  }

  /** Starts (or restarts, on the same port and data) the API server and waits for /readyz. */
  async startApiServer(): Promise<void> {
    const p = this.pki;
    this.#api = this.#spawn('kube-apiserver', this.bins.tools['kube-apiserver']!, [
      `--etcd-servers=http://127.0.0.1:${this.#etcdPorts[0]}`, `--etcd-prefix=/weft-kube-${this.name}`,
      `--secure-port=${this.apiPort}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
      `--tls-cert-file=${p.serverCert}`, `--tls-private-key-file=${p.serverKey}`, `--client-ca-file=${p.caCert}`,
      `--service-account-key-file=${p.saPub}`, `--service-account-signing-key-file=${p.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local', '--api-audiences=https://kubernetes.default.svc.cluster.local',
      '--authorization-mode=Node,RBAC', `--service-cluster-ip-range=${this.serviceCidr}`, '--allow-privileged=true',
      // kubectl exec/logs reach a kubelet (tests/node) at its InternalIP with this certificate.
      `--kubelet-client-certificate=${p.kubeletClientCert}`, `--kubelet-client-key=${p.kubeletClientKey}`, '--kubelet-preferred-address-types=InternalIP',
      `--requestheader-client-ca-file=${p.frontProxyCa}`, '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User', '--requestheader-group-headers=X-Remote-Group', '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${p.frontProxyCert}`, `--proxy-client-key-file=${p.frontProxyKey}`,
      '--profiling=false', '--enable-priority-and-fairness=false',
      ...(this.#watchCache ? [] : ['--watch-cache=false']),
    ]);
    await this.#waitFor('kube-apiserver', this.#api, async () => (await this.request('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000);
  }

  /**
   * Compacts etcd's history up to its current revision (through etcd's v3 JSON gateway) and
   * returns that revision: a watch resuming from an older resourceVersion gets 410 Expired (with
   * `watchCache: false`; the watch cache answers from its own window otherwise).
   */
  async compactEtcd(): Promise<number> {
    const base = `http://127.0.0.1:${this.#etcdPorts[0]}/v3/kv`;
    const range = await fetch(`${base}/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64'), limit: 1 }) });
    if (!range.ok) throw new Error(`etcd range: ${range.status} ${await range.text()}`);
    const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
    const compact = await fetch(`${base}/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
    if (!compact.ok) throw new Error(`etcd compaction: ${compact.status} ${await compact.text()}`);
    return revision;
  }

  /** Kills the API server (SIGKILL, as a crash) and waits until it is gone. */
  async killApiServer(): Promise<void> {
    await this.#kill(this.#api, 'SIGKILL');
    this.#api = undefined;
    this.#agent.destroy();
  }

  async #startControllerManager(): Promise<void> {
    const p = this.pki;
    this.#kcm = this.#spawn('kube-controller-manager', this.bins.tools['kube-controller-manager']!, [
      `--kubeconfig=${this.adminKubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=0',
      '--controllers=*,-nodelifecycle,-nodeipam,-cloud-node-lifecycle,-service,-route',
      `--service-account-private-key-file=${p.saKey}`, `--root-ca-file=${p.caCert}`, '--use-service-account-credentials=true',
      `--cluster-signing-cert-file=${p.caCert}`, `--cluster-signing-key-file=${p.caKey}`,
      '--concurrent-service-endpoint-syncs=5', '--endpointslice-updates-batch-period=0s',
      `--cluster-name=weft-kube-${this.name}`,
    ]);
    // Ready when it has made the ServiceAccount token controller's first object: default/default.
    await this.#waitFor('kube-controller-manager', this.#kcm, async () => (await this.request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200, 60_000);
  }

  async #startScheduler(): Promise<void> {
    const bin = this.bins.tools['kube-scheduler'];
    if (bin === undefined) throw new Error(`kube-scheduler.xz is missing from ${this.bins.sourceDir}`);
    const port = await freePort();
    this.#scheduler = this.#spawn('kube-scheduler', bin, [
      `--kubeconfig=${this.adminKubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1', `--secure-port=${port}`,
    ]);
    await this.#waitFor('kube-scheduler', this.#scheduler, () => healthz(port), 60_000);
  }

  async #waitFor(label: ComponentLabel, child: ChildProcess, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode}:\n${await this.logTail(label)}`);
      if (await ready().catch(() => false)) return;
      await sleep(200);
    }
    throw new Error(`${label} not ready after ${timeoutMs} ms:\n${await this.logTail(label)}`);
  }

  async #writeAdminKubeconfig(): Promise<void> {
    const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
    await writeFile(this.adminKubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'admin',
      clusters: [{ name: this.name, cluster: { server: this.server, 'certificate-authority-data': await b64(this.pki.caCert) } }],
      users: [{ name: 'admin', user: { 'client-certificate-data': await b64(this.pki.adminCert), 'client-key-data': await b64(this.pki.adminKey) } }],
      contexts: [{ name: 'admin', context: { cluster: this.name, user: 'admin' } }],
    }, null, 2));
  }

  /** Writes a kubeconfig that authenticates with a client certificate (a kubelet's, say); returns its path. */
  async certKubeconfig(label: string, cert: string, key: string): Promise<string> {
    const path = join(this.dir, `${label.replace(/[^a-z0-9-]/gi, '-')}.kubeconfig`);
    const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
    await writeFile(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': label,
      clusters: [{ name: this.name, cluster: { server: this.server, 'certificate-authority-data': Buffer.from(this.pki.caPem).toString('base64') } }],
      users: [{ name: label, user: { 'client-certificate-data': await b64(cert), 'client-key-data': await b64(key) } }],
      contexts: [{ name: label, context: { cluster: this.name, user: label } }],
    }, null, 2), { mode: 0o600 });
    return path;
  }

  /** Writes a kubeconfig that authenticates with `token` (a ServiceAccount's, say); returns its path. */
  async tokenKubeconfig(label: string, token: string): Promise<string> {
    const path = join(this.dir, `${label.replace(/[^a-z0-9-]/gi, '-')}.kubeconfig`);
    await writeFile(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': label,
      clusters: [{ name: this.name, cluster: { server: this.server, 'certificate-authority-data': Buffer.from(this.pki.caPem).toString('base64') } }],
      users: [{ name: label, user: { token } }],
      contexts: [{ name: label, context: { cluster: this.name, user: label, namespace: 'default' } }],
    }, null, 2), { mode: 0o600 });
    return path;
  }

  /** One API request as admin (client certificate). JSON in, JSON out. */
  async request(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
    const [cert, key] = await Promise.all([readFile(this.pki.adminCert), readFile(this.pki.adminKey)]);
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return new Promise((ok, fail) => {
      const req = https.request({ host: '127.0.0.1', port: this.apiPort, method, path, agent: this.#agent, cert, key, ca: this.pki.caPem,
        headers: { accept: 'application/json', ...(data !== undefined ? { 'content-type': contentType, 'content-length': data.length } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try { parsed = JSON.parse(text); } catch { /* plain text (e.g. /readyz) */ }
          ok({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', fail);
      });
      req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
      req.on('error', fail);
      req.end(data);
    });
  }

  /** A request that must succeed (2xx); throws with the API server's Status message otherwise. */
  async must(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeObject> {
    const r = await this.request(method, path, body, contentType);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path} → ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body as KubeObject;
  }

  /** Runs kubectl as admin (or with `kubeconfig`); resolves with its output, never throws. */
  kubectl(args: string[], opts: { input?: string; kubeconfig?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((ok) => {
      const child = execFile(this.bins.tools.kubectl!, [`--kubeconfig=${opts.kubeconfig ?? this.adminKubeconfig}`, ...args], { maxBuffer: 32 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
        ok({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  /** `kubectl apply -f -` with these objects (or YAML text); throws with kubectl's message on failure. */
  async apply(objects: KubeObject[] | string): Promise<string> {
    const input = typeof objects === 'string' ? objects : JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
    const r = await this.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=weft-test', '-f', '-'], { input });
    if (r.code !== 0) throw new Error(`kubectl apply failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Sets a Pod's status as a kubelet would: phase Running, its IP, and the Ready condition. */
  async setPodStatus(namespace: string, name: string, s: { podIP: string; ready: boolean; hostIP?: string }): Promise<void> {
    const now = new Date().toISOString();
    const ready = s.ready ? 'True' : 'False';
    await this.must('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
      status: {
        phase: 'Running', podIP: s.podIP, podIPs: [{ ip: s.podIP }], ...(s.hostIP !== undefined ? { hostIP: s.hostIP } : {}), startTime: now,
        conditions: [
          { type: 'Initialized', status: 'True', lastTransitionTime: now },
          { type: 'ContainersReady', status: ready, lastTransitionTime: now },
          { type: 'Ready', status: ready, lastTransitionTime: now },
          { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        ],
      },
    }, 'application/strategic-merge-patch+json');
  }

  /** Sets a Node's InternalIP (and Ready) through the `status` subresource, as a kubelet would. */
  async setNodeAddress(name: string, internalIP: string): Promise<void> {
    const now = new Date().toISOString();
    await this.must('PATCH', `/api/v1/nodes/${name}/status`, {
      status: {
        addresses: [{ type: 'InternalIP', address: internalIP }, { type: 'Hostname', address: name }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'set by the test', lastHeartbeatTime: now, lastTransitionTime: now }],
      },
    }, 'application/strategic-merge-patch+json');
  }

  /**
   * A ServiceAccount token from the TokenRequest API (what a projected volume holds), bound to a
   * pod when `pod` is given, so it dies with the pod.
   */
  async serviceAccountToken(namespace: string, serviceAccount: string, opts: { audiences: string[]; pod?: { name: string; uid: string }; expirationSeconds?: number }): Promise<string> {
    const body = {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: { audiences: opts.audiences, expirationSeconds: opts.expirationSeconds ?? 3600, ...(opts.pod !== undefined ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: opts.pod.name, uid: opts.pod.uid } } : {}) },
    };
    const r = await this.must('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, body);
    return (r.status as { token: string }).token;
  }

  async #kill(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }

  /** Stops every process and removes every file. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#agent.destroy();
    await this.#kill(this.#scheduler, 'SIGTERM');
    await this.#kill(this.#kcm, 'SIGTERM');
    await this.#kill(this.#api, 'SIGTERM');
    await this.#kill(this.#etcd, 'SIGTERM');
    if (process.env.WEFT_KEEP_KUBE_DIR === undefined) await rm(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }
}

/** The part of a tap Test the helper needs. */
export interface KubeTestHost {
  teardown(fn: () => unknown): void;
  test(name: string, opts: { skip: string }, fn: () => void): unknown;
}

/**
 * A cluster torn down with the test; or null after registering one skipped test that names why
 * (binaries or etcd missing), so the tier shows as skipped, never as passed.
 */
export async function withKubeCluster(t: KubeTestHost, opts: KubeClusterOptions): Promise<KubeCluster | null> {
  const c = await KubeCluster.start(opts);
  if (typeof c === 'string') {
    t.test(`Kubernetes tier (${opts.name})`, { skip: `no real API server: ${c}` }, () => undefined);
    return null;
  }
  t.teardown(() => c.stop());
  return c;
}
