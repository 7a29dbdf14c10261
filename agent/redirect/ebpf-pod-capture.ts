// Pod-scope eBPF capture (WEFT_CAPTURE_SCOPE=pod, WEFT_REDIRECT_MODE=ebpf): per meshed pod, tc
// programs inside the pod's own network namespace steer its outbound TCP to the agent's in-pod
// outbound listener and new inbound TCP to its in-pod inbound listener (HBONE's port passes to
// the in-pod HBONE listener). ebpf/include/weft-podns.h says how the programs decide; this file
// only loads, attaches and removes, every step read back from the kernel first so that attach,
// detach and reconcile are idempotent and a restarted agent adopts what it finds.
//
// Kernel state per pod, nothing else:
//   <pinRoot>/weft-<node>-<node netns inode>-pods/<pod key>-<hash>-<pod netns inode>/<version>/
//       {egress,ingress,lo}          the pod's programs (loaded per pod: each has its own maps)
//       maps/weft_pod_*             config, excluded ports, direct ports, decision counters
//   in the pod's namespace: clsact + our tc filter (pref options.filterPref) on each interface
//   holding the pod's addresses (egress + ingress) and on lo (ingress); `ip rule fwmark
//   <captureMark> lookup <routeTable>`, `local default dev lo` in that table; lo accept_local=1.
// <version> hashes the object files: an upgraded agent loads beside the old programs, replaces
// each filter in place (tc filter replace is atomic for the traffic) and then deletes the old pins.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { runCommand, type CommandResult, type CommandRunner } from './command-runner.ts';
import { parseMapDump, pinDirName, hexToU32, hexToU64 } from './ebpf-plan.ts';
import {
  ACCEPT_LOCAL_SCRIPT, POD_APPLY_SCRIPT, POD_HOOKS, POD_MAPS, POD_OBJECTS, POD_REASONS, POD_STATE_SCRIPT, batchText, marksProblem, parsePodState, planAttachments, planDetachDevice, planFilter,
  ipv4OfKey, planPodMapLines, planRouting, podPinInode, podPinName, type HookNow, type PodConfigValue, type PodRouting, type PodState,
} from './ebpf-pod-plan.ts';
import { defaultObjectDir } from './ebpf-redirector.ts';
import { registerPodCapture, type PodCapture, type PodCaptureOptions, type PodNetns } from './pod-capture.ts';
import { resolveRedirectorOptions, type ResolvedRedirectorOptions } from './redirector.ts';

/**
 * A meshed pod as the pod-scope capture sees it: a stable key ("ns/pod") and a path opening its
 * network namespace (CNI_NETNS, /run/netns/NAME or /proc/PID/ns/net). The namespace inode is read
 * from the path (a caller's copy is not trusted: pins are named after what the kernel says).
 */
export interface PodRef {
  key: string;
  path: string;
}

/**
 * PodCaptureOptions (what every in-pod capture gets) plus what only eBPF needs; the agent passes
 * the extras to createPodCapture('ebpf', …) as it does for the node-scope EbpfRedirector.
 */
export interface EbpfPodCaptureOptions extends Partial<Omit<PodCaptureOptions, 'excludeOutboundPorts'>> {
  excludeOutboundPorts?: readonly number[];
  /** Policy routing table inside the pod namespace holding `local default dev lo`. */
  routeTable?: number;
  /** Mark on redirected packets (routing only); must differ from `mark`, the agent sockets' mark. */
  captureMark?: number;
  /** ip rule priority of the capture rule inside the pod namespace. */
  rulePriority?: number;
  nodeName?: string;
  pinRoot?: string;
  objectDir?: string;
  filterPref?: number;
  /** Where a namespace with this inode is now (a stale pod's, for detach); scans /run/netns and /proc by default. */
  findNetns?: (inode: number) => Promise<string | undefined>;
}

export interface PodDescription {
  /** The pod's key when this process attached it; null for pins found from an earlier agent. */
  key: string | null;
  pinDir: string;
  netnsInode: number | null;
  netnsPath: string | null;
  /** "<dev> <hook> <program>" for each filter of ours in the pod's namespace. */
  attachments: string[];
  /** weft_pod_stats by reason. */
  stats: Record<string, number>;
}

interface PodPins {
  name: string;
  dir: string;
  versionDir: string;
  mapDir: string;
}

export class EbpfPodCapture implements PodCapture {
  readonly name = 'ebpf';
  /** bpf_sk_assign keeps the packet's addresses: the accepted socket's local address is the original destination. */
  readonly originalDestination = 'local-address' as const;
  /** The SYN-ACK of a connection to a non-local original destination needs FLOWI_FLAG_ANYSRC. */
  readonly transparentListeners = true;
  /**
   * The programs look both listeners up at 127.0.0.1 (a wildcard bind would match too): bound
   * there, a pod reaches them directly only as 127.0.0.1, which the agent refuses as its own
   * listener, and never as <pod ip>:15006, which would loop a connection back into the pod.
   */
  readonly outboundHost = '127.0.0.1';
  readonly inboundHost = '127.0.0.1';
  readonly options: ResolvedRedirectorOptions;
  readonly hbonePort: number;
  readonly captureMark: number;
  readonly rulePriority: number;
  readonly nodeName: string;
  readonly pinRoot: string;
  readonly objectDir: string;
  readonly filterPref: number;
  readonly #exec: CommandRunner;
  readonly #findNetns: (inode: number) => Promise<string | undefined>;
  #queue: Promise<unknown> = Promise.resolve();
  /** Pins of pods whose namespace is gone are swept once per process, on the first apply. */
  #swept = false;
  #version: string | undefined;
  #root: string | undefined;
  /** What this process last wrote into each pod's maps (by map dir): an unchanged pod costs no bpftool run. */
  readonly #maps = new Map<string, { config: PodConfigValue; excluded: number[]; direct: number[]; exempt: string[] }>();
  /** The node's addresses: connections from them to a pod are not captured (kubelet probes). */
  readonly #exempt: string[];
  /** Program ids by pin path (a pin's program never changes; a version change is a new path). */
  readonly #progIds = new Map<string, number>();
  /** Pods attached by this process: key → namespace path and inode (describe, detach by key). */
  readonly #pods = new Map<string, { netnsPath: string; inode: number }>();

  constructor(opts: EbpfPodCaptureOptions = {}) {
    this.options = resolveRedirectorOptions({
      outboundPort: opts.outboundPort, inboundPort: opts.inboundPort, mark: opts.mark, routeTable: opts.routeTable,
      excludeOutboundPorts: opts.excludeOutboundPorts === undefined ? undefined : [...opts.excludeOutboundPorts],
    });
    this.hbonePort = opts.hbonePort ?? 15008;
    this.#exempt = [...new Set(opts.inboundExemptSources ?? [])].sort();
    this.captureMark = opts.captureMark ?? 0x53a;
    this.rulePriority = opts.rulePriority ?? 1337;
    this.nodeName = opts.nodeName ?? 'node';
    this.pinRoot = opts.pinRoot ?? '/sys/fs/bpf';
    this.objectDir = opts.objectDir ?? defaultObjectDir();
    this.filterPref = opts.filterPref ?? 1337;
    this.#exec = opts.exec ?? runCommand;
    this.#findNetns = opts.findNetns ?? findNetnsByInode;
    const problem = marksProblem(this.options.mark, this.captureMark);
    if (problem !== undefined) throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid pod capture options: ${problem}`);
    if (!Number.isInteger(this.hbonePort) || this.hbonePort <= 0 || this.hbonePort > 65535) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid pod capture options: hbonePort ${this.hbonePort}`);
    }
  }

  /** Captures this pod (idempotent); an older capture of the same key in another namespace goes first. */
  apply(pod: PodRef): Promise<void> {
    return this.#serial(async () => {
      if (!this.#swept) {
        for (const name of await this.#podDirs()) {
          const inode = podPinInode(name);
          if (inode !== undefined && (await this.#findNetns(inode)) === undefined) await this.#detachDir(name, undefined);
        }
        this.#swept = true;
      }
      const inode = await this.#inode(pod.path);
      const name = podPinName(pod.key, inode);
      for (const stale of await this.#dirsOfKey(pod.key)) if (stale !== name) await this.#detachDir(stale, undefined);
      await this.#attach(pod, inode, name);
    });
  }

  /** Stops capturing this pod and removes everything of it (idempotent; a vanished namespace is fine). */
  remove(pod: { key: string; path?: string }): Promise<void> {
    return this.#serial(async () => {
      const known = this.#pods.get(pod.key);
      const path = pod.path ?? known?.netnsPath;
      for (const name of await this.#dirsOfKey(pod.key)) await this.#detachDir(name, path);
      this.#pods.delete(pod.key);
    });
  }

  /** Detaches every pod dir of this node whose namespace is not among `keep` (PodCapture.sweep). */
  sweep(keep: readonly PodNetns[], seen: ReadonlyArray<{ inode: number; path: string; ip: string }>): Promise<number> {
    return this.#serial(async () => {
      const kept = new Set(keep.map((p) => p.inode));
      const paths = new Map(seen.map((s) => [s.inode, s.path]));
      let removed = 0;
      for (const name of await this.#podDirs()) {
        const inode = podPinInode(name);
        if (inode !== undefined && kept.has(inode)) continue;
        await this.#detachDir(name, inode === undefined ? undefined : paths.get(inode));
        removed++;
      }
      for (const [key, p] of [...this.#pods]) if (!kept.has(p.inode)) this.#pods.delete(key);
      return removed;
    });
  }

  /** Makes the captured set exactly `all`: attaches each, detaches every pod dir not among them. */
  reconcile(all: readonly PodRef[]): Promise<void> {
    return this.#serial(async () => {
      const keys = new Set<string>();
      for (const p of all) {
        if (keys.has(p.key)) throw failed(`pod key ${p.key} appears twice in reconcile`);
        keys.add(p.key);
      }
      const keep = new Set<string>();
      const errors: unknown[] = [];
      for (const p of all) {
        try {
          const inode = await this.#inode(p.path);
          const name = podPinName(p.key, inode);
          keep.add(name);
          await this.#attach(p, inode, name);
        } catch (err) {
          // One vanished pod must not keep the others uncaptured; the first error is reported.
          errors.push(err);
        }
      }
      for (const name of await this.#podDirs()) if (!keep.has(name)) await this.#detachDir(name, undefined);
      for (const key of [...this.#pods.keys()]) if (!keys.has(key)) this.#pods.delete(key);
      if (errors.length > 0) throw errors[0];
    });
  }

  /** Removes the capture of every pod this node's agent ever attached, and the pin root. Idempotent. */
  uninstall(): Promise<void> {
    return this.#serial(async () => {
      for (const name of await this.#podDirs()) await this.#detachDir(name, undefined);
      await rmTree(await this.#rootDir());
      this.#maps.clear();
      this.#pods.clear();
    });
  }

  /** One pod's capture as read back from the kernel (undefined when it has none). */
  describe(pod: { key: string }): Promise<PodDescription | undefined> {
    return this.#serial(async () => (await this.#describe(await this.#dirsOfKey(pod.key)))[0]);
  }

  /** Every pod capture of this node's agent, read back (for /config_dump and tests). */
  describeAll(): Promise<{ pinRoot: string; pods: PodDescription[] }> {
    return this.#serial(async () => ({ pinRoot: await this.#rootDir(), pods: await this.#describe(await this.#podDirs()) }));
  }

  async #describe(names: readonly string[]): Promise<PodDescription[]> {
    const root = await this.#rootDir();
    const byName = new Map([...this.#pods].map(([key, p]) => [podPinName(key, p.inode), { key, ...p }]));
    const pods: PodDescription[] = [];
    for (const name of names) {
      const known = byName.get(name);
      const inode = podPinInode(name) ?? null;
      const path = known?.netnsPath ?? (inode === null ? undefined : await this.#findNetns(inode));
      const pins = await this.#pinsOf(name, await this.#versionOf());
      const attachments: string[] = [];
      if (path !== undefined) {
        for (const [dev, h] of (await this.#readPod(path, true)).hooks) {
          for (const hook of ['ingress', 'egress'] as const) for (const f of h[hook].ours) attachments.push(`${dev} ${hook} ${f.progName}`);
        }
      }
      const dump = await this.#exec('bpftool', ['-j', 'map', 'dump', 'pinned', join(pins.mapDir, 'weft_pod_stats')]);
      pods.push({ key: known?.key ?? null, pinDir: join(root, name), netnsInode: inode, netnsPath: path ?? null, attachments, stats: dump.code === 0 ? podStats(dump.stdout) : {} });
    }
    return pods;
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => {});
    return next;
  }

  // --- one pod -----------------------------------------------------------------------------------

  async #attach(pod: PodRef, inode: number, name: string): Promise<void> {
    const pins = await this.#ensurePrograms(name);
    // The maps are read back once per process (adoption after a restart), then known.
    const want = { config: this.#config(), excluded: [...this.options.excludeOutboundPorts], direct: [this.hbonePort], exempt: this.#exempt };
    const known = this.#maps.get(pins.mapDir);
    if (known === undefined || JSON.stringify(known) !== JSON.stringify(want)) {
      const cur = known ?? {
        excluded: await this.#portsIn(pins.mapDir, 'weft_pod_excluded'),
        direct: await this.#portsIn(pins.mapDir, 'weft_pod_direct'),
        exempt: await this.#sourcesIn(pins.mapDir),
      };
      const lines = planPodMapLines(pins.mapDir, cur, want);
      await this.#run('bpftool', ['batch', 'file', '-'], lines.join('\n') + '\n');
      this.#maps.set(pins.mapDir, want);
    }
    const state = await this.#readPod(pod.path, false);
    if (state.devs.length === 0) throw failed(`pod ${pod.key}: no interface with an IPv4 address in ${pod.path}`);
    const ip = planRouting('ensure', state.rules, state.tableRoutes, this.#routingWant());
    const tc: string[][] = [];
    const none: HookNow = { ours: [], others: 0, clsact: false };
    const clsactAdded = new Set<string>();
    for (const a of planAttachments(state.devs)) {
      const pin = join(pins.versionDir, a.role);
      const now = state.hooks.get(a.dev)?.[a.hook] ?? none;
      const cmds = planFilter(a, { ...now, clsact: now.clsact || clsactAdded.has(a.dev) }, await this.#progId(pin), pin, this.filterPref);
      if (cmds.some((c) => c[0] === 'qdisc')) clsactAdded.add(a.dev);
      tc.push(...cmds);
    }
    if (ip.length > 0 || tc.length > 0 || !state.acceptLocal) {
      await this.#inNetns(pod.path, 'sh', ['-c', POD_APPLY_SCRIPT, 'weft-pod-apply', batchText(ip), batchText(tc), state.acceptLocal ? '0' : '1']);
    }
    // Only now that every filter runs this version may another version's pins go.
    for (const v of await this.#ls(pins.dir)) if (join(pins.dir, v) !== pins.versionDir) await rmTree(join(pins.dir, v));
    this.#pods.set(pod.key, { netnsPath: pod.path, inode });
  }

  /** Takes a pod's capture out of its namespace (when it still exists) and removes its pins. */
  async #detachDir(name: string, hintPath: string | undefined): Promise<void> {
    const inode = podPinInode(name);
    let path: string | undefined;
    if (hintPath !== undefined && inode !== undefined && (await this.#inodeOrUndefined(hintPath)) === inode) path = hintPath;
    else if (inode !== undefined) path = await this.#findNetns(inode);
    if (path !== undefined) {
      const state = await this.#readPod(path, true);
      // Filters first (capture stops), then the routing they relied on.
      const tc: string[][] = [];
      for (const [dev, h] of state.hooks) tc.push(...planDetachDevice(dev, h));
      await this.#batch(path, 'tc', tc, true);
      await this.#batch(path, 'ip', planRouting('remove', state.rules, state.tableRoutes, this.#routingWant()), true);
      if (state.acceptLocal) await this.#inNetns(path, 'sh', ['-c', ACCEPT_LOCAL_SCRIPT, 'weft-accept-local', '0'], undefined, true);
    }
    const root = await this.#rootDir();
    await rmTree(join(root, name));
    for (const k of [...this.#maps.keys()]) if (k.startsWith(join(root, name) + '/')) this.#maps.delete(k);
    // The node's pod directory goes with its last pod (rmdir refuses a non-empty one).
    await rmdir(root).catch(() => {});
  }

  async #ensurePrograms(name: string): Promise<PodPins> {
    const pins = await this.#pinsOf(name, await this.#versionOf());
    await this.#checkBpffs();
    const present = new Set(await this.#ls(pins.versionDir));
    if (POD_HOOKS.every((h) => present.has(h)) && present.has('maps')) return pins;
    await rmTree(pins.versionDir);
    for (const h of POD_HOOKS) this.#progIds.delete(join(pins.versionDir, h));
    this.#maps.delete(pins.mapDir);
    await mkdir(pins.mapDir, { recursive: true });
    try {
      // The first object creates and pins the pod's maps; the others reuse them by name.
      await this.#load(['prog', 'load', join(this.objectDir, POD_OBJECTS.egress.file), join(pins.versionDir, 'egress'), 'type', 'classifier', 'pinmaps', pins.mapDir]);
      const reuse = POD_MAPS.flatMap((m) => ['map', 'name', m, 'pinned', join(pins.mapDir, m)]);
      for (const h of ['ingress', 'lo'] as const) {
        await this.#load(['prog', 'load', join(this.objectDir, POD_OBJECTS[h].file), join(pins.versionDir, h), 'type', 'classifier', ...reuse]);
      }
    } catch (err) {
      await rmTree(pins.versionDir).catch(() => {});
      throw err;
    }
    return pins;
  }

  #config(): PodConfigValue {
    return { outboundPort: this.options.outboundPort, inboundPort: this.options.inboundPort, hbonePort: this.hbonePort, agentMark: this.options.mark, captureMark: this.captureMark };
  }

  #routingWant(): PodRouting {
    return { captureMark: this.captureMark, routeTable: this.options.routeTable, priority: this.rulePriority };
  }

  /** The pod namespace's state in one command run (POD_STATE_SCRIPT). */
  async #readPod(path: string, tolerate: boolean): Promise<PodState> {
    const r = await this.#inNetns(path, 'sh', ['-c', POD_STATE_SCRIPT, 'weft-pod-state', String(this.options.routeTable)], undefined, tolerate);
    return parsePodState(r.stdout);
  }

  /** Runs `tc -batch -` / `ip -batch -` inside the namespace: one process for all of a pod's changes. */
  async #batch(path: string, cmd: 'tc' | 'ip', lines: string[][], tolerate: boolean): Promise<void> {
    if (lines.length === 0) return;
    // -force: when tolerating (removal), one missing object must not stop the rest.
    const args = tolerate ? ['-force', '-batch', '-'] : ['-batch', '-'];
    await this.#inNetns(path, cmd, args, lines.map((l) => l.join(' ')).join('\n') + '\n', tolerate);
  }

  async #progId(pin: string): Promise<number> {
    const known = this.#progIds.get(pin);
    if (known !== undefined) return known;
    const id = (JSON.parse((await this.#run('bpftool', ['-j', 'prog', 'show', 'pinned', pin])).stdout) as { id: number }).id;
    this.#progIds.set(pin, id);
    return id;
  }

  async #sourcesIn(mapDir: string): Promise<string[]> {
    const r = await this.#exec('bpftool', ['-j', 'map', 'dump', 'pinned', join(mapDir, 'weft_pod_exempt_src')]);
    return r.code === 0 ? parseMapDump(r.stdout).map((e) => ipv4OfKey(e.key)) : [];
  }

  async #portsIn(mapDir: string, map: string): Promise<number[]> {
    const r = await this.#exec('bpftool', ['-j', 'map', 'dump', 'pinned', join(mapDir, map)]);
    return r.code === 0 ? parseMapDump(r.stdout).map((e) => hexToU32(e.key)) : [];
  }

  // --- names and places --------------------------------------------------------------------------

  async #versionOf(): Promise<string> {
    if (this.#version !== undefined) return this.#version;
    const hash = createHash('sha256');
    for (const h of POD_HOOKS) {
      const file = join(this.objectDir, POD_OBJECTS[h].file);
      if (!existsSync(file)) throw unsupported(`eBPF object ${file} is missing — run scripts/build-ebpf.sh (node scripts/build.ts copies them to dist/ebpf/)`);
      hash.update(readFileSync(file));
    }
    this.#version = hash.digest('hex').slice(0, 12);
    return this.#version;
  }

  async #rootDir(): Promise<string> {
    if (this.#root !== undefined) return this.#root;
    const self = String((await stat('/proc/self/ns/net')).ino);
    this.#root = join(this.pinRoot, `${pinDirName(this.nodeName, self)}-pods`);
    return this.#root;
  }

  async #pinsOf(name: string, version: string): Promise<PodPins> {
    const dir = join(await this.#rootDir(), name);
    const versionDir = join(dir, version);
    return { name, dir, versionDir, mapDir: join(versionDir, 'maps') };
  }

  async #podDirs(): Promise<string[]> {
    return (await this.#ls(await this.#rootDir())).filter((n) => podPinInode(n) !== undefined);
  }

  async #dirsOfKey(key: string): Promise<string[]> {
    const prefix = podPinName(key, 0).slice(0, -1);
    return (await this.#podDirs()).filter((n) => n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length)));
  }

  async #ls(dir: string): Promise<string[]> {
    return (await readdir(dir).catch(() => [] as string[])).sort();
  }

  async #inode(path: string): Promise<number> {
    const n = await this.#inodeOrUndefined(path);
    if (n === undefined) throw new WeftError(ErrorCodes.REDIRECT_FAILED, `network namespace ${path} cannot be read — has the pod gone, or does the agent lack hostPID / the /run/netns mount?`);
    return n;
  }

  async #inodeOrUndefined(path: string): Promise<number | undefined> {
    const s = await stat(path).catch(() => undefined);
    return s === undefined ? undefined : s.ino;
  }

  async #checkBpffs(): Promise<void> {
    const fs = await statfs(this.pinRoot).catch((err: Error) => err);
    if (fs instanceof Error || fs.type !== BPF_FS_MAGIC) {
      throw unsupported(`${this.pinRoot} is not a BPF filesystem (${fs instanceof Error ? fs.message : `type 0x${fs.type.toString(16)}`}) — mount one (mount -t bpf bpf ${this.pinRoot}) or set WEFT_EBPF_PIN_ROOT to one; pins must outlive the agent`);
    }
  }

  async #load(args: string[]): Promise<void> {
    const r = await this.#exec('bpftool', args);
    if (r.code === 0) return;
    if (r.code === -1 && /ENOENT/.test(r.stderr)) throw unsupported('bpftool is not installed (Debian package bpftool)');
    const why = r.stderr.trim().split('\n').slice(-6).join(' | ');
    throw unsupported(`the kernel refused the pod eBPF programs (${why}) — eBPF mode needs Linux ≥ 5.7 (tc sched_cls with bpf_sk_assign, bpf_skc_lookup_tcp, bpf_redirect) and CAP_BPF/CAP_SYS_ADMIN with CAP_NET_ADMIN; set WEFT_REDIRECT_MODE=iptables on this node`);
  }

  /** Runs a command inside a pod's namespace: nsenter changes only the network namespace, so bpffs pins stay visible. */
  #inNetns(path: string, cmd: string, args: string[], input?: string, tolerate = false): Promise<CommandResult> {
    return this.#run('nsenter', [`--net=${path}`, cmd, ...args], input, tolerate);
  }

  async #run(cmd: string, args: string[], input?: string, tolerate = false): Promise<CommandResult> {
    const r = await this.#exec(cmd, args, input);
    if (r.code === -1 && /ENOENT/.test(r.stderr)) throw unsupported(`${cmd} is not installed (Debian: ${cmd === 'nsenter' ? 'util-linux' : cmd === 'tc' || cmd === 'ip' ? 'iproute2' : cmd})`);
    if (r.code !== 0 && !tolerate) throw failed(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim() || r.stdout.trim() || 'no error output'}`);
    return r;
  }
}

/** weft_pod_stats as named counters. */
export function podStats(dumpJson: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of parseMapDump(dumpJson)) {
    const name = POD_REASONS[hexToU32(e.key)];
    if (name !== undefined) out[name] = hexToU64(e.value);
  }
  return out;
}

/** A network namespace file with this inode: /run/netns/* first, then any process's /proc/PID/ns/net. */
export async function findNetnsByInode(inode: number): Promise<string | undefined> {
  const candidates: string[] = [];
  for (const n of await readdir('/run/netns').catch(() => [] as string[])) candidates.push(join('/run/netns', n));
  for (const p of await readdir('/proc').catch(() => [] as string[])) if (/^\d+$/.test(p)) candidates.push(`/proc/${p}/ns/net`);
  for (const c of candidates) {
    const s = await stat(c).catch(() => undefined);
    if (s !== undefined && s.ino === inode) return c;
  }
  return undefined;
}

/** statfs f_type of a BPF filesystem (linux/magic.h). */
const BPF_FS_MAGIC = 0xcafe4a11;

/** rm -rf: pins are unlinked like files, directories of bpffs like any. */
function rmTree(path: string): Promise<void> {
  return rm(path, { recursive: true, force: true });
}

function failed(msg: string): WeftError {
  return new WeftError(ErrorCodes.REDIRECT_FAILED, msg);
}

function unsupported(msg: string): WeftError {
  return new WeftError(ErrorCodes.EBPF_UNSUPPORTED, msg);
}

registerPodCapture('ebpf', (opts) => new EbpfPodCapture(opts));
