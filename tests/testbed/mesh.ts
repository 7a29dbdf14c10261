// A running mesh on a testbed: control in the root namespace (reached over a unix socket, as the
// testbed has no route to the root namespace), one agent per node namespace, and helpers to run
// the sample apps in pods. Shared by the e2e tests, the sandbox and the benchmarks. Everything it
// starts is stopped by stop(), and by the testbed's own teardown if the caller dies first.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { appPath, runApp, startApp, type ExitedApp, type RunningApp } from '../apps/spawn-app.ts';
import { clusterObjects, type ClusterSpec } from './cluster-objects.ts';
import type { Testbed } from './testbed.ts';
import { mountBpffs } from '../ebpf/bpffs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const AGENT_BUNDLE = join(ROOT, 'dist/agent.mjs');
export const CONTROL_BUNDLE = join(ROOT, 'dist/control.mjs');
/**
 * Agents' RLIMIT_NOFILE: what a container inherits from a containerd whose unit sets
 * LimitNOFILE=infinity (containerd 1.x's packaged unit; 1048576 on most kernels). An
 * agent holds two sockets per proxied connection, so an inherited limit (often 1024 or 20 000)
 * would fail connections long before the agent does.
 */
export const AGENT_NOFILE = 1 << 20;

export interface MeshOptions {
  cluster: ClusterSpec;
  /** Extra WEFT_* settings for every agent (e.g. WEFT_CERT_TTL_SECONDS, WEFT_WORKERS). */
  agentEnv?: Record<string, string>;
  controlEnv?: Record<string, string>;
  /** How agents redirect pod traffic (WEFT_REDIRECT_MODE); ebpf gets a private bpffs for its pins. */
  redirectMode?: 'iptables' | 'ebpf';
  /**
   * Where agents capture (WEFT_CAPTURE_SCOPE): `node`, or `pod` (in-pod: listeners and rules inside
   * each pod's namespace). Default: the WEFT_CAPTURE_SCOPE of the test run, else node — so any
   * e2e file runs in pod scope with `WEFT_CAPTURE_SCOPE=pod`. In pod scope each agent scans only
   * its own node's pod namespaces and gets a CNI relay socket (cniSocket(node)).
   */
  captureScope?: 'node' | 'pod';
  /** Node → agent credential; random bootstrap tokens when absent (a Kubernetes test mints its own). */
  tokens?: Record<string, string>;
  /** Print agent/control logs to this process's stderr (the sandbox); tests keep them in memory. */
  echoLogs?: boolean;
}

interface Proc {
  child: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
}

function track(child: ChildProcess, name: string, echo: boolean): Proc {
  const log: string[] = [];
  const take = (d: Buffer): void => {
    const text = d.toString('utf8');
    // Keep the tail only: a long test must not grow memory with agent logs.
    log.push(text);
    if (log.length > 2000) log.splice(0, 1000);
    if (echo) process.stderr.write(text.split('\n').filter((l) => l !== '').map((l) => `[${name}] ${l}\n`).join(''));
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, log, exited };
}

async function stopProc(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<number | null> {
  if (p === undefined) return null;
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

export interface AdminAnswer {
  status: number;
  body: unknown;
}

export class Mesh {
  readonly tb: Testbed;
  readonly dir: string;
  readonly controlSocket: string;
  readonly caDir: string;
  readonly tokens = new Map<string, string>();
  #opts: MeshOptions;
  #cluster: ClusterSpec;
  #control: Proc | undefined;
  readonly #agents = new Map<string, Proc>();
  readonly #apps = new Set<RunningApp>();
  #controlOrphan: (() => void) | undefined;
  #bpffs: { path: string; unmount: () => Promise<void> } | undefined;

  private constructor(tb: Testbed, dir: string, opts: MeshOptions) {
    this.tb = tb;
    this.dir = dir;
    this.#opts = opts;
    this.#cluster = opts.cluster;
    this.controlSocket = join(dir, 'control.sock');
    this.caDir = join(dir, 'ca');
  }

  /** Writes the cluster, starts control and every agent, and waits until all agents are ready. */
  static async start(tb: Testbed, opts: MeshOptions): Promise<Mesh> {
    const dir = await mkdtemp(join(tmpdir(), `weft-${tb.name}-`));
    const mesh = new Mesh(tb, dir, opts);
    try {
      for (const n of tb.nodes) mesh.tokens.set(n.name, opts.tokens?.[n.name] ?? randomBytes(24).toString('hex'));
      await writeFile(join(dir, 'tokens'), [...mesh.tokens].map(([n, t]) => `${n} ${t}`).join('\n') + '\n', { mode: 0o600 });
      for (const [n, t] of mesh.tokens) await writeFile(join(dir, `token-${n}`), t + '\n', { mode: 0o600 });
      await mkdir(join(dir, 'cluster'), { recursive: true });
      if (opts.redirectMode === 'ebpf') mesh.#bpffs = await mountBpffs(tb.name);
      await mesh.writeCluster(opts.cluster);
      await mesh.startControl();
      await Promise.all(tb.nodes.map((n) => mesh.startAgent(n.name)));
      await Promise.all(tb.nodes.map((n) => mesh.waitReady(n.name)));
    } catch (err) {
      await mesh.stop();
      throw err;
    }
    return mesh;
  }

  get cluster(): ClusterSpec {
    return this.#cluster;
  }

  async writeCluster(spec: ClusterSpec): Promise<void> {
    this.#cluster = spec;
    const docs = clusterObjects(this.tb.model, spec).map((o) => stringify(o)).join('---\n');
    // Write then rename: the file source must never read a half-written file.
    const file = join(this.dir, 'cluster', 'cluster.yaml');
    await writeFile(`${file}.tmp`, docs);
    const { rename } = await import('node:fs/promises');
    await rename(`${file}.tmp`, file);
  }

  /** `extraEnv` applies to this start only (e.g. a shifted clock for one control). */
  async startControl(extraEnv: Record<string, string> = {}): Promise<void> {
    const env = {
      ...process.env,
      WEFT_CA_DIR: this.caDir,
      // An empty value reads as unset (0.0.0.0:15012), which collides with other tests' controls.
      WEFT_LISTEN_ADDRESS: '127.0.0.1:0',
      WEFT_LISTEN_SOCKET: this.controlSocket,
      WEFT_SOURCE_PATH: join(this.dir, 'cluster'),
      WEFT_BOOTSTRAP_TOKENS_FILE: join(this.dir, 'tokens'),
      // The dashboard on an ephemeral loopback port: parallel meshes must not fight over 8084.
      WEFT_DASHBOARD_ADDRESS: '127.0.0.1:0',
      ...this.#opts.controlEnv,
      ...extraEnv,
    };
    const child = spawn(process.execPath, [CONTROL_BUNDLE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#control = track(child, 'control', this.#opts.echoLogs ?? false);
    // Control runs in the root namespace, outside the testbed's teardown: kill it if we die.
    this.#controlOrphan = () => child.kill('SIGKILL');
    process.once('exit', this.#controlOrphan);
    await this.#waitFor(() => this.#control?.log.some((l) => l.includes('"msg":"ready"')) ?? false, 20_000, 'control to be ready', this.#control);
  }

  async stopControl(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const code = await stopProc(this.#control, signal);
    if (this.#controlOrphan !== undefined) process.off('exit', this.#controlOrphan);
    this.#control = undefined;
    return code;
  }

  adminSocket(node: string): string {
    return join(this.dir, `admin-${node}.sock`);
  }

  agentLog(node: string): string {
    return this.#agents.get(node)?.log.join('') ?? '';
  }

  controlLog(): string {
    return this.#control?.log.join('') ?? '';
  }

  /** The agent process of a node (its threads included), for RSS and CPU readings in /proc. */
  agentPid(node: string): number | undefined {
    return this.#agents.get(node)?.child.pid;
  }

  /** `extraEnv` applies to this start only (e.g. NODE_OPTIONS=--cpu-prof for one profiled run). */
  /** The dashboard's URL as control logged it (null when disabled or not up yet). */
  dashboardUrl(): string | null {
    const m = /"msg":"dashboard listening","url":"([^"]+)"/.exec(this.controlLog());
    return m === null ? null : m[1];
  }

  /**
   * `logFile`: the agent's stdout and stderr go to this file instead of the test (a disk that
   * fills up); agentLog() is then empty and the file is the log. `bundle`: another agent build
   * (the bench's A/B comparison); dist/agent.mjs by default.
   */
  async startAgent(node: string, extraEnv: Record<string, string> = {}, opts: { logFile?: string; bundle?: string } = {}): Promise<void> {
    const bundle = opts.bundle ?? AGENT_BUNDLE;
    const n = this.tb.node(node);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      WEFT_NODE_NAME: node,
      WEFT_CONTROL_SOCKET: this.controlSocket,
      WEFT_CONTROL_ADDRESS: 'weft-control.weft-system.svc:15012',
      WEFT_CONTROL_CA_FILE: join(this.caDir, 'ca.crt'),
      WEFT_CREDENTIAL_FILE: join(this.dir, `token-${node}`),
      WEFT_ADMIN_SOCKET: this.adminSocket(node),
      // WEFT_ADMIN_HOST stays loopback (the agent refuses anything else); the node's own
      // namespace reaches it on 127.0.0.1:15020, tests on the unix socket.
      // No WEFT_WORKERS: the agent's own default, what a user's node runs (inline on a node of up to
      // two cores, as here and in CI; a worker per core above). Tests of the worker threads pin it.
      ...(this.#opts.redirectMode === undefined ? {} : { WEFT_REDIRECT_MODE: this.#opts.redirectMode }),
      ...(this.#bpffs === undefined ? {} : { WEFT_EBPF_PIN_ROOT: this.#bpffs.path }),
      ...(this.captureScope === 'pod' ? {
        WEFT_CAPTURE_SCOPE: 'pod',
        // Many testbeds share this machine's /run/netns: each agent looks at its own node's pods only.
        WEFT_NETNS_DIRS: '/run/netns',
        WEFT_NETNS_NAME_PREFIX: `${n.netns}-`,
        WEFT_PROC_DIR: '',
        WEFT_CNI_SOCKET: this.cniSocket(node),
      } : {}),
      // The HTTP/2 engine between agents (WEFT_L7_H2_ENGINE) set for a whole test run, so the L7
      // suites can be run on either; a test's own agentEnv or extraEnv still wins.
      ...(process.env.WEFT_L7_H2_ENGINE === undefined ? {} : { WEFT_L7_H2_ENGINE: process.env.WEFT_L7_H2_ENGINE }),
      // Likewise what serves the apps' HTTP/1.x connections (WEFT_L7_H1_ENGINE).
      ...(process.env.WEFT_L7_H1_ENGINE === undefined ? {} : { WEFT_L7_H1_ENGINE: process.env.WEFT_L7_H1_ENGINE }),
      ...this.#opts.agentEnv,
      ...extraEnv,
    };
    // exec keeps the agent's pid the child's, so signals reach the agent, not a shell.
    const child = opts.logFile === undefined
      ? this.tb.spawn(n.netns, process.execPath, [bundle], { env, nofile: AGENT_NOFILE })
      : this.tb.spawn(n.netns, '/bin/sh', ['-c', 'exec "$0" "$1" >>"$2" 2>&1', process.execPath, bundle, opts.logFile], { env, nofile: AGENT_NOFILE });
    this.#agents.set(node, track(child, `agent ${node}`, this.#opts.echoLogs ?? false));
  }

  /** node or pod: where this mesh's agents capture (MeshOptions.captureScope). */
  get captureScope(): 'node' | 'pod' {
    return this.#opts.captureScope ?? (process.env.WEFT_CAPTURE_SCOPE === 'pod' ? 'pod' : 'node');
  }

  /** Pod scope: the agent's CNI relay socket, which the weft-cni plugin (or a test) talks to. */
  cniSocket(node: string): string {
    return join(this.dir, `cni-${node}.sock`);
  }

  /** SIGTERM (drain and uninstall) by default; resolves with the exit code. */
  async stopAgent(node: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const code = await stopProc(this.#agents.get(node), signal);
    this.#agents.delete(node);
    return code;
  }

  async restartAgent(node: string): Promise<void> {
    await this.stopAgent(node);
    await this.startAgent(node);
    await this.waitReady(node);
  }

  admin(node: string, path: string): Promise<AdminAnswer> {
    return new Promise((resolve, reject) => {
      const req = http.get({ socketPath: this.adminSocket(node), path, timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // plain text answer (/healthz)
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`admin ${path} on ${node} timed out`)));
      req.on('error', reject);
    });
  }

  async waitReady(node: string, timeoutMs = 30_000): Promise<void> {
    await this.#waitFor(async () => (await this.admin(node, '/ready').catch(() => ({ status: 0 }))).status === 200, timeoutMs, `agent ${node} to be ready`, this.#agents.get(node));
  }

  /** Polls until pred holds (e.g. a cluster change reached the agents). */
  async waitUntil(pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    await this.#waitFor(pred, timeoutMs, what, undefined);
  }

  async #waitFor(pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string, proc: Proc | undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await pred()) return;
      if (proc !== undefined && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
        throw new Error(`gave up waiting for ${what}: the process exited (${proc.child.exitCode ?? proc.child.signalCode}); log:\n${proc.log.join('').slice(-4000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${proc === undefined ? '' : `; log:\n${proc.log.join('').slice(-4000)}`}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Starts a sample app (tests/apps/<name>) inside a pod; stopped by stop(). `nofile`: its RLIMIT_NOFILE. */
  async startApp(pod: string, app: string, args: string[], opts: { nofile?: number } = {}): Promise<RunningApp> {
    const p = this.tb.pod(pod);
    const running = await startApp(appPath(app), args, 15_000, (cmd, a) => this.tb.spawn(p.netns, cmd, a, opts));
    this.#apps.add(running);
    return running;
  }

  /** Runs a sample client to completion inside a pod. */
  runApp(pod: string, app: string, args: string[], timeoutMs = 60_000): Promise<ExitedApp> {
    const p = this.tb.pod(pod);
    return runApp(appPath(app), args, timeoutMs, (cmd, a) => this.tb.spawn(p.netns, cmd, a));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#apps].map((a) => a.stop(1000)));
    this.#apps.clear();
    await Promise.all([...this.#agents.keys()].map((n) => this.stopAgent(n)));
    await this.stopControl();
    await this.#bpffs?.unmount();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The CA certificate agents trust (for tests that check what was issued). */
  /** The bpffs agents pin under in ebpf mode. */
  get pinRoot(): string | undefined {
    return this.#bpffs?.path;
  }

  caPem(): Promise<string> {
    return readFile(join(this.caDir, 'ca.crt'), 'utf8');
  }
}
