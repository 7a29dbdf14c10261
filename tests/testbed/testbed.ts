// The network-namespace testbed: a fabric bridge, nodes and pods as namespaces joined by veths,
// with no link and no route to the root namespace. Everything it makes is named after the spec's
// name so leftovers are traceable, and torn down on teardown(), on process exit and on signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseFileLimit } from '../../agent/file-limit.ts';
import { claimName, releaseName, releaseNameSync } from './owner-lock.ts';
import { run, runOk, runSync, type ExecResult, type RunOptions } from './run.ts';
import { allNamespaces, planBuild } from './build-plan.ts';
import { ensureBrNetfilter } from './br-netfilter.ts';
import { ownsNetns, planTopology, type TestbedModel, type TestbedNode, type TestbedPod, type TestbedSpec } from './topology.ts';

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * RLIMIT_NOFILE (soft and hard) for the process: load tests hold more sockets than the
   * inherited limit allows. Set with prlimit, which execs in place, so the pid stays the command's.
   * Capped at our own hard limit: raising it needs CAP_SYS_RESOURCE, which a container may lack.
   */
  nofile?: number;
}

let hardNofile: number | undefined;
/** This process's hard RLIMIT_NOFILE (read once; Infinity when unlimited or unreadable). */
export function hardNofileLimit(): number {
  hardNofile ??= parseFileLimit(readFileSync('/proc/self/limits', 'utf8'))?.hard ?? Number.POSITIVE_INFINITY;
  return hardNofile;
}

const KILL_GRACE_MS = 1000;
const live = new Set<Testbed>();
let hooksInstalled = false;

export class Testbed {
  readonly model: TestbedModel;
  readonly #children = new Set<ChildProcess>();
  #teardown: Promise<void> | undefined;

  private constructor(model: TestbedModel) {
    this.model = model;
  }

  /** Builds the topology; on failure whatever was made is removed before the error is rethrown. */
  static async create(spec: TestbedSpec): Promise<Testbed> {
    const model = planTopology(spec);
    await claimName(model.name);
    await sweep(model.name);
    const tb = new Testbed(model);
    live.add(tb);
    installExitHooks();
    try {
      await build(model);
    } catch (err) {
      await tb.teardown();
      throw err;
    }
    return tb;
  }

  get name(): string { return this.model.name; }
  get nodes(): TestbedNode[] { return this.model.nodes; }

  node(name: string): TestbedNode {
    const n = this.model.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`testbed ${this.name} has no node ${name}`);
    return n;
  }

  /** A pod by name; pass the node when pod names repeat across nodes. */
  pod(name: string, node?: string): TestbedPod {
    for (const n of this.model.nodes) {
      if (node !== undefined && n.name !== node) continue;
      const p = n.pods.find((x) => x.name === name);
      if (p !== undefined) return p;
    }
    throw new Error(`testbed ${this.name} has no pod ${name}${node ? ` on ${node}` : ''}`);
  }

  /** Every namespace of this testbed, pods first (the order teardown deletes them in). */
  namespaces(): string[] {
    return allNamespaces(this.model);
  }

  /** Runs a command inside a namespace; never throws on a non-zero exit. */
  exec(netns: string, cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<ExecResult> {
    this.#checkNetns(netns);
    return run('ip', ['netns', 'exec', netns, cmd, ...args], opts);
  }

  /** A long-running process inside a namespace, killed on teardown. */
  spawn(netns: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    this.#checkNetns(netns);
    if (this.#teardown !== undefined) throw new Error(`testbed ${this.name} is torn down`);
    // `ip netns exec` execs the command in place, so the child's pid is the command's pid.
    const nofile = opts.nofile === undefined ? undefined : Math.min(opts.nofile, hardNofileLimit());
    const limited = nofile === undefined ? [cmd, ...args] : ['prlimit', `--nofile=${nofile}:${nofile}`, '--', cmd, ...args];
    const child = spawn('ip', ['netns', 'exec', netns, ...limited], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
    child.on('error', () => this.#children.delete(child));
    return child;
  }

  /** Kills every process in the testbed and deletes its namespaces. Idempotent. */
  teardown(): Promise<void> {
    this.#teardown ??= this.#doTeardown();
    return this.#teardown;
  }

  async #doTeardown(): Promise<void> {
    await Promise.all([...this.#children].map(stopChild));
    await destroyNamespaces(this.namespaces());
    live.delete(this);
    await releaseName(this.name);
  }

  /** The last-chance path from process 'exit': synchronous, so no graceful stops. */
  teardownSync(): void {
    for (const c of this.#children) if (c.exitCode === null && c.pid !== undefined) tryKill(c.pid, 'SIGKILL');
    for (const ns of this.namespaces()) {
      for (const pid of parsePids(runSync('ip', ['netns', 'pids', ns]).stdout)) tryKill(pid, 'SIGKILL');
      runSync('ip', ['netns', 'del', ns]);
    }
    live.delete(this);
    releaseNameSync(this.name);
  }

  #checkNetns(netns: string): void {
    if (!ownsNetns(this.name, netns)) throw new Error(`${netns} is not a namespace of testbed ${this.name}`);
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try { process.kill(pid, signal); } catch { /* already gone */ }
}

function parsePids(out: string): number[] {
  return out.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), KILL_GRACE_MS).unref());
  if ((await Promise.race([exited, timer])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
}

async function destroyNamespaces(names: string[]): Promise<void> {
  const existing = new Set(await listNetns());
  const mine = names.filter((n) => existing.has(n));
  // Processes we did not spawn (a daemon a test started with exec) would keep a namespace alive.
  const pids = (await Promise.all(mine.map((ns) => run('ip', ['netns', 'pids', ns])))).flatMap((r) => parsePids(r.stdout));
  for (const pid of pids) tryKill(pid, 'SIGKILL');
  if (mine.length === 0) return;
  // One ip process for all deletions; -force keeps going past one that vanished meanwhile.
  await run('ip', ['-force', '-batch', '-'], { input: mine.map((n) => `netns del ${n}\n`).join('') });
}

async function listNetns(): Promise<string[]> {
  const out = await runOk('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n !== '');
}

/** Removes namespaces a crashed earlier run of the same testbed name left behind. */
async function sweep(name: string): Promise<void> {
  const leftovers = (await listNetns()).filter((ns) => ownsNetns(name, ns));
  await destroyNamespaces(leftovers);
}

async function batch(netns: string | undefined, lines: string[]): Promise<void> {
  const args = netns === undefined ? ['-batch', '-'] : ['-n', netns, '-batch', '-'];
  await runOk('ip', args, { input: lines.join('\n') + '\n' });
}

async function build(model: TestbedModel): Promise<void> {
  const plan = planBuild(model);
  if (model.cni === 'bridge') await ensureBrNetfilter();
  await batch(undefined, plan.namespaces.map((ns) => `netns add ${ns}`));
  // Before the interfaces exist: new interfaces copy conf.default.
  await Promise.all(plan.sysctls.map((s) => runOk('ip', ['netns', 'exec', s.netns, 'sysctl', '-q', '-w', ...s.settings])));
  for (const stage of plan.stages) await Promise.all(stage.map((b) => batch(b.netns, b.lines)));
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const tb of [...live]) tb.teardownSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      const code = sig === 'SIGINT' ? 130 : 143;
      void Promise.allSettled([...live].map((tb) => tb.teardown())).then(() => process.exit(code));
    });
  }
}
