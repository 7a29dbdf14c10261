// The eBPF redirector: tc ingress programs steer captured TCP to the agent's transparent
// listeners with bpf_sk_assign (ebpf/include/weft-redirect.h says how they decide), so the
// accepted socket's local address is the original destination exactly as under TPROXY and the
// proxy code is the same in both modes.
//
// Kernel state, all of it read back on every operation (a restarted agent adopts it):
//   <pinRoot>/weft-<node>-<netns inode>/<version>/{pod,inbound}   the loaded programs
//   <pinRoot>/weft-<node>-<netns inode>/<version>/maps/weft_*      config, meshed IPs, excluded ports, stats
//   tc clsact ingress filter (pref = options.filterPref) on every non-loopback interface
//   ip rule fwmark <mark> lookup <table>; local default dev lo in <table>
// <version> is a hash of the object files: an upgraded agent loads next to the old programs,
// switches the filters over and then deletes the old pins. The netns inode keeps several nodes
// on one machine (the testbed) from sharing pins.
import { PolicyRouting } from './policy-routing.ts';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { runCommand, type CommandResult, type CommandRunner } from './command-runner.ts';
import {
  MAPS, OBJECTS, ROLES, checkIpv4, hexToIpv4, hexToU32, parseAddrs, parseLinks, parseMapDump, parseRouteDev, parseTcFilters,
  pinDirName, planMapLines, planRoles, statsFromDump, type EbpfRole,
} from './ebpf-plan.ts';
import {
  registerRedirector, resolveRedirectorOptions,
  type RedirectWorkload, type Redirector, type RedirectorOptions, type ResolvedRedirectorOptions,
} from './redirector.ts';

export interface EbpfRedirectorOptions extends RedirectorOptions {
  /** Node name, part of the pin path. */
  nodeName?: string;
  /** A mounted BPF filesystem; pins go to <pinRoot>/weft-<node>-<netns>/. */
  pinRoot?: string;
  /** Directory with tc-pod-ingress.o and tc-inbound-ingress.o; found next to the agent by default. */
  objectDir?: string;
  /** tc filter preference of our filters (other tools' filters at other preferences are left alone). */
  filterPref?: number;
}

const OBJECT_DIRS = [
  fileURLToPath(new URL('./ebpf/', import.meta.url)), // the bundle: dist/ebpf/
  fileURLToPath(new URL('../../ebpf/build/', import.meta.url)), // the source tree
];

export function defaultObjectDir(): string {
  return OBJECT_DIRS.find((d) => existsSync(join(d, OBJECTS.pod.file))) ?? OBJECT_DIRS[0];
}

interface Layout {
  dir: string;
  version: string;
  versionDir: string;
  mapDir: string;
}

export class EbpfRedirector implements Redirector {
  readonly name = 'ebpf';
  readonly options: ResolvedRedirectorOptions;
  readonly nodeName: string;
  readonly pinRoot: string;
  readonly objectDir: string;
  readonly filterPref: number;
  readonly #exec: CommandRunner;
  readonly #routing: PolicyRouting;
  #queue: Promise<unknown> = Promise.resolve();
  #layout: Layout | undefined;
  /** Keys we were told about, for describe() and for remove() by key; the maps hold only IPs. */
  readonly #keys = new Map<string, string>();

  constructor(opts: EbpfRedirectorOptions = {}) {
    this.options = resolveRedirectorOptions(opts);
    this.nodeName = opts.nodeName ?? 'node';
    this.pinRoot = opts.pinRoot ?? '/sys/fs/bpf';
    this.objectDir = opts.objectDir ?? defaultObjectDir();
    this.filterPref = opts.filterPref ?? 1337;
    this.#exec = opts.exec ?? runCommand;
    this.#routing = new PolicyRouting((cmd, args, input, tolerate) => this.#run(cmd, args, input, tolerate), this.options.mark, this.options.routeTable, (what, stderr) => failed(`${what} failed: ${stderr.trim()}`));
  }

  install(w: RedirectWorkload): Promise<void> {
    return this.#serial(async () => {
      check(w);
      const cur = await this.#meshedNow();
      const old = this.#keys.get(w.key);
      this.#keys.set(w.key, w.ip);
      const want = new Set(cur);
      if (old !== undefined && old !== w.ip) want.delete(old);
      want.add(w.ip);
      await this.#apply([...want]);
    });
  }

  remove(w: RedirectWorkload): Promise<void> {
    return this.#serial(async () => {
      const ip = this.#keys.get(w.key) ?? w.ip;
      this.#keys.delete(w.key);
      if (!(await this.#loaded())) return;
      const want = (await this.#meshedNow()).filter((x) => x !== ip && x !== w.ip);
      await this.#apply(want);
    });
  }

  reconcile(all: RedirectWorkload[]): Promise<void> {
    return this.#serial(async () => {
      const keys = new Set<string>();
      for (const w of all) {
        check(w);
        if (keys.has(w.key)) throw failed(`workload key ${w.key} appears twice in reconcile`);
        keys.add(w.key);
      }
      this.#keys.clear();
      for (const w of all) this.#keys.set(w.key, w.ip);
      await this.#apply(all.map((w) => w.ip));
    });
  }

  uninstall(): Promise<void> {
    return this.#serial(async () => {
      for (const link of await this.#links()) await this.#detach(link);
      const dir = join(this.pinRoot, pinDirName(this.nodeName, await this.#netnsId()));
      await this.#run('rm', ['-rf', dir]);
      this.#layout = undefined;
      this.#keys.clear();
      await this.#routing.remove();
    });
  }

  describe(): Promise<unknown> {
    return this.#serial(async () => {
      const loaded = await this.#loaded();
      const layout = loaded ? await this.#getLayout() : undefined;
      const attachments: Array<{ iface: string; program: string; progId: number }> = [];
      for (const link of await this.#links()) {
        for (const f of (await this.#filters(link)).ours) attachments.push({ iface: link, program: f.progName, progId: f.progId });
      }
      const meshed = loaded ? await this.#meshedNow() : [];
      const byIp = new Map([...this.#keys].map(([k, ip]) => [ip, k]));
      return {
        name: this.name,
        options: this.options,
        pinDir: layout?.versionDir ?? null,
        attachments,
        workloads: meshed.map((ip) => ({ key: byIp.get(ip) ?? null, ip })),
        excludedPorts: loaded ? await this.#excludedNow() : [],
        stats: layout === undefined ? {} : statsFromDump(parseMapDump((await this.#run('bpftool', ['-j', 'map', 'dump', 'pinned', `${layout.mapDir}/weft_stats`])).stdout)),
        ...(await this.#routing.describe()),
      };
    });
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => {});
    return next;
  }

  // --- the whole desired state, applied in order: programs, maps, routing, attachments ----------

  async #apply(meshed: string[]): Promise<void> {
    const layout = await this.#ensurePrograms();
    const local = parseAddrs((await this.#run('ip', ['-j', '-4', 'addr', 'show'])).stdout);
    const lines = planMapLines(layout.mapDir, { meshed: await this.#meshedNow(), excluded: await this.#excludedNow(), local: await this.#localNow() }, {
      meshed,
      local,
      excluded: this.options.excludeOutboundPorts,
      config: { outboundPort: this.options.outboundPort, inboundPort: this.options.inboundPort, mark: this.options.mark },
    });
    await this.#run('bpftool', ['batch', 'file', '-'], lines.join('\n') + '\n');
    await this.#routing.ensure();
    // Interfaces are read afresh each time: a pod's veth may appear after the pod was reported.
    const podDevs = new Set<string>();
    for (const ip of meshed) {
      const dev = parseRouteDev((await this.#run('ip', ['-j', '-4', 'route', 'get', ip], undefined, true)).stdout);
      if (dev !== undefined) podDevs.add(dev);
    }
    for (const [link, role] of planRoles(await this.#links(), podDevs)) await this.#attach(link, role, layout);
    // Only now that every filter runs this version may an older version's pins go.
    await this.#dropOtherVersions(layout);
  }

  /** Loads (or adopts) this version's programs and maps, and drops pins of other versions. */
  async #ensurePrograms(): Promise<Layout> {
    const layout = await this.#getLayout();
    await this.#checkBpffs();
    const present = new Set((await this.#run('ls', ['-1', layout.versionDir], undefined, true)).stdout.split('\n'));
    if (!ROLES.every((r) => present.has(r)) || !present.has('maps')) {
      await this.#run('rm', ['-rf', layout.versionDir]);
      await this.#run('mkdir', ['-p', layout.mapDir]);
      try {
        // The first object creates and pins the shared maps; the second reuses them by name.
        await this.#load(['prog', 'load', join(this.objectDir, OBJECTS.pod.file), join(layout.versionDir, 'pod'), 'type', 'classifier', 'pinmaps', layout.mapDir]);
        const reuse = MAPS.flatMap((m) => ['map', 'name', m, 'pinned', join(layout.mapDir, m)]);
        await this.#load(['prog', 'load', join(this.objectDir, OBJECTS.inbound.file), join(layout.versionDir, 'inbound'), 'type', 'classifier', ...reuse]);
      } catch (err) {
        await this.#run('rm', ['-rf', layout.versionDir], undefined, true);
        throw err;
      }
    }
    return layout;
  }

  async #load(args: string[]): Promise<void> {
    const r = await this.#exec('bpftool', args);
    if (r.code === 0) return;
    if (r.code === -1 && /ENOENT/.test(r.stderr)) throw unsupported('bpftool is not installed (Debian package bpftool)');
    const why = r.stderr.trim().split('\n').slice(-6).join(' | ');
    throw unsupported(`the kernel refused the eBPF programs (${why}) — eBPF mode needs Linux ≥ 5.7 (tc sched_cls with bpf_sk_assign and bpf_skc_lookup_tcp) and CAP_BPF/CAP_SYS_ADMIN with CAP_NET_ADMIN; set WEFT_REDIRECT_MODE=iptables on this node`);
  }

  async #checkBpffs(): Promise<void> {
    const r = await this.#exec('stat', ['-f', '-c', '%T', this.pinRoot]);
    if (r.code !== 0 || r.stdout.trim() !== 'bpf_fs') {
      throw unsupported(`${this.pinRoot} is not a BPF filesystem (${r.stdout.trim() || r.stderr.trim()}) — mount one (mount -t bpf bpf ${this.pinRoot}) or set WEFT_EBPF_PIN_ROOT to one; pins must outlive the agent`);
    }
  }

  async #getLayout(): Promise<Layout> {
    if (this.#layout !== undefined) return this.#layout;
    const hash = createHash('sha256');
    for (const role of ROLES) {
      const file = join(this.objectDir, OBJECTS[role].file);
      if (!existsSync(file)) throw unsupported(`eBPF object ${file} is missing — run scripts/build-ebpf.sh (node scripts/build.ts copies them to dist/ebpf/)`);
      hash.update(readFileSync(file));
    }
    const dir = join(this.pinRoot, pinDirName(this.nodeName, await this.#netnsId()));
    const version = hash.digest('hex').slice(0, 12);
    const versionDir = join(dir, version);
    this.#layout = { dir, version, versionDir, mapDir: join(versionDir, 'maps') };
    return this.#layout;
  }

  async #loaded(): Promise<boolean> {
    const layout = await this.#getLayout();
    return (await this.#exec('ls', [join(layout.mapDir, 'weft_meshed')])).code === 0;
  }

  async #netnsId(): Promise<string> {
    // Run through the runner: tests drive a node namespace from outside it.
    const r = await this.#run('stat', ['-L', '-c', '%i', '/proc/self/ns/net']);
    return r.stdout.trim();
  }

  async #meshedNow(): Promise<string[]> {
    const layout = await this.#getLayout();
    const r = await this.#exec('bpftool', ['-j', 'map', 'dump', 'pinned', join(layout.mapDir, 'weft_meshed')]);
    if (r.code !== 0) return [];
    return parseMapDump(r.stdout).map((e) => hexToIpv4(e.key));
  }

  async #localNow(): Promise<string[]> {
    const layout = await this.#getLayout();
    const r = await this.#exec('bpftool', ['-j', 'map', 'dump', 'pinned', join(layout.mapDir, 'weft_local')]);
    if (r.code !== 0) return [];
    return parseMapDump(r.stdout).map((e) => hexToIpv4(e.key));
  }

  async #excludedNow(): Promise<number[]> {
    const layout = await this.#getLayout();
    const r = await this.#exec('bpftool', ['-j', 'map', 'dump', 'pinned', join(layout.mapDir, 'weft_excluded')]);
    if (r.code !== 0) return [];
    return parseMapDump(r.stdout).map((e) => hexToU32(e.key)).sort((a, b) => a - b);
  }

  // --- tc ---------------------------------------------------------------------------------------

  async #links(): Promise<string[]> {
    return parseLinks((await this.#run('ip', ['-j', 'link', 'show'])).stdout);
  }

  async #filters(link: string) {
    const r = await this.#run('tc', ['-j', 'filter', 'show', 'dev', link, 'ingress'], undefined, true);
    return r.code === 0 ? parseTcFilters(r.stdout) : { ours: [], others: 0 };
  }

  async #attach(link: string, role: EbpfRole, layout: Layout): Promise<void> {
    const pinned = (await this.#run('bpftool', ['-j', 'prog', 'show', 'pinned', join(layout.versionDir, role)])).stdout;
    const wantId = (JSON.parse(pinned) as { id: number }).id;
    const { ours } = await this.#filters(link);
    if (ours.length === 1 && ours[0].pref === this.filterPref && ours[0].progId === wantId) return;
    // Strays (another preference, an old agent's) go; ours is replaced in place, atomically.
    for (const f of ours) if (f.pref !== this.filterPref) await this.#run('tc', ['filter', 'del', 'dev', link, 'ingress', 'pref', String(f.pref)], undefined, true);
    await this.#run('tc', ['qdisc', 'replace', 'dev', link, 'clsact']);
    await this.#run('tc', ['filter', 'replace', 'dev', link, 'ingress', 'pref', String(this.filterPref), 'handle', '1', 'bpf', 'da', 'object-pinned', join(layout.versionDir, role)]);
  }

  async #detach(link: string): Promise<void> {
    const { ours, others } = await this.#filters(link);
    for (const pref of new Set(ours.map((f) => f.pref))) await this.#run('tc', ['filter', 'del', 'dev', link, 'ingress', 'pref', String(pref)], undefined, true);
    if (ours.length === 0 || others > 0) return;
    // clsact was ours to add only if nothing else uses it: remove it when both hooks are empty.
    const egress = await this.#run('tc', ['-j', 'filter', 'show', 'dev', link, 'egress'], undefined, true);
    if (egress.code === 0 && parseTcFilters(egress.stdout).ours.length + parseTcFilters(egress.stdout).others === 0) {
      await this.#run('tc', ['qdisc', 'del', 'dev', link, 'clsact'], undefined, true);
    }
  }

  async #dropOtherVersions(layout: Layout): Promise<void> {
    const entries = (await this.#run('ls', ['-1', layout.dir], undefined, true)).stdout.split('\n').filter((e) => e !== '' && e !== layout.version);
    for (const e of entries) await this.#run('rm', ['-rf', join(layout.dir, e)]);
  }

  async #run(cmd: string, args: string[], input?: string, tolerate = false): Promise<CommandResult> {
    const r = await this.#exec(cmd, args, input);
    if (r.code === -1 && /ENOENT/.test(r.stderr)) throw unsupported(`${cmd} is not installed (Debian: ${cmd === 'tc' || cmd === 'ip' ? 'iproute2' : cmd})`);
    if (r.code !== 0 && !tolerate) throw failed(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim() || r.stdout.trim() || 'no error output'} — does the agent run in the node's network namespace with CAP_NET_ADMIN and CAP_BPF?`);
    return r;
  }
}

function failed(msg: string): WeftError {
  return new WeftError(ErrorCodes.REDIRECT_FAILED, msg);
}

function unsupported(msg: string): WeftError {
  return new WeftError(ErrorCodes.EBPF_UNSUPPORTED, msg);
}

function check(w: RedirectWorkload): void {
  if (!checkIpv4(w.ip)) throw failed(`workload ${w.key}: ${JSON.stringify(w.ip)} is not an IPv4 address (IPv6 capture is not supported yet)`);
}

registerRedirector('ebpf', (opts) => new EbpfRedirector(opts as EbpfRedirectorOptions));
