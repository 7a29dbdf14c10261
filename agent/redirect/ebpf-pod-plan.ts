// The pod-scope eBPF capture's pure half (WEFT_CAPTURE_SCOPE=pod, WEFT_REDIRECT_MODE=ebpf): pin
// names, map contents, and the tc / ip / sysctl commands that turn what a pod's network namespace
// holds into what it should hold. No I/O here; ebpf-pod-capture.ts runs what these return and
// tests/agent/redirect/ebpf-pod-plan.test.ts checks every line.
import { createHash } from 'node:crypto';
import { parseTcFilters, u32Hex, type OurFilter } from './ebpf-plan.ts';

/** The three hooks inside a pod's namespace (ebpf/include/weft-podns.h says what each does). */
export type PodHook = 'egress' | 'ingress' | 'lo';
export const POD_HOOKS: readonly PodHook[] = ['egress', 'ingress', 'lo'];
export const POD_OBJECTS: Record<PodHook, { file: string; prog: string }> = {
  egress: { file: 'tc-podns-egress.o', prog: 'weft_pod_out' },
  ingress: { file: 'tc-podns-ingress.o', prog: 'weft_pod_in' },
  lo: { file: 'tc-podns-lo.o', prog: 'weft_pod_lo' },
};
export const POD_MAPS = ['weft_pod_config', 'weft_pod_excluded', 'weft_pod_direct', 'weft_pod_exempt_src', 'weft_pod_stats'] as const;
/** weft_pod_stats indexes, as enum weft_pod_reason in ebpf/include/weft-podns.h. */
export const POD_REASONS = [
  'pass_not_tcp', 'pass_no_config', 'pass_agent', 'pass_excluded_port', 'pass_mid_flow',
  'redirect_syn', 'redirect_flow', 'redirect_failed', 'pass_unmarked', 'established', 'outbound', 'inbound',
  'pass_direct_port', 'drop_no_listener', 'drop_assign_failed', 'pass_exempt_source',
] as const;
/** lo's ifindex in every network namespace (LOOPBACK_IFINDEX). */
export const LO_IFINDEX = 1;

export interface PodConfigValue {
  outboundPort: number;
  inboundPort: number;
  hbonePort: number;
  /** The agent's own sockets carry it (SO_MARK): never captured. */
  agentMark: number;
  /** Put on redirected packets; the namespace's ip rule routes it to the local stack. */
  captureMark: number;
}

/** struct weft_pod_config, as bpftool hex. */
export function podConfigHex(c: PodConfigValue): string {
  return [c.outboundPort, c.inboundPort, c.hbonePort, c.agentMark >>> 0, c.captureMark >>> 0, LO_IFINDEX, 0, 0].map(u32Hex).join(' ');
}

/** bpftool batch lines that make one pod's maps hold the desired config and port sets. */
/** An IPv4 address as a weft_pod_exempt_src key: its bytes in network order, as the header holds them. */
export function ipv4KeyHex(ip: string): string {
  return ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(' ');
}

/** The address a weft_pod_exempt_src key (bpftool's hex bytes) holds. */
export function ipv4OfKey(bytes: readonly string[]): string {
  return bytes.map((h) => parseInt(h, 16)).join('.');
}

export function planPodMapLines(
  mapDir: string,
  cur: { excluded: readonly number[]; direct: readonly number[]; exempt?: readonly string[] },
  want: { config: PodConfigValue; excluded: readonly number[]; direct: readonly number[]; exempt?: readonly string[] },
): string[] {
  const lines = [`map update pinned ${mapDir}/weft_pod_config key hex ${u32Hex(0)} value hex ${podConfigHex(want.config)}`];
  const sync = (map: string, have: readonly number[], should: readonly number[]) => {
    const h = new Set(have);
    const s = new Set(should);
    for (const p of s) if (!h.has(p)) lines.push(`map update pinned ${mapDir}/${map} key hex ${u32Hex(p)} value hex ${u32Hex(1)}`);
    for (const p of h) if (!s.has(p)) lines.push(`map delete pinned ${mapDir}/${map} key hex ${u32Hex(p)}`);
  };
  sync('weft_pod_excluded', cur.excluded, want.excluded);
  sync('weft_pod_direct', cur.direct, want.direct);
  const haveSrc = new Set(cur.exempt ?? []);
  const wantSrc = new Set(want.exempt ?? []);
  for (const ip of wantSrc) if (!haveSrc.has(ip)) lines.push(`map update pinned ${mapDir}/weft_pod_exempt_src key hex ${ipv4KeyHex(ip)} value hex ${u32Hex(1)}`);
  for (const ip of haveSrc) if (!wantSrc.has(ip)) lines.push(`map delete pinned ${mapDir}/weft_pod_exempt_src key hex ${ipv4KeyHex(ip)}`);
  return lines;
}

/**
 * A pod's pin directory: its key made a path segment, a short hash of the key (two keys that read
 * the same once made safe stay apart) and the inode of its network namespace, so a pod recreated
 * under the same name is a new directory and the old one is known to be stale.
 */
export function podPinName(key: string, netnsInode: number): string {
  const safe = key.toLowerCase().replace(/[^a-z0-9.-]+/g, '_').slice(0, 80) || 'pod';
  const h = createHash('sha256').update(key).digest('hex').slice(0, 6);
  return `${safe}-${h}-${netnsInode}`;
}

/** The netns inode a pod pin directory name ends with; undefined for names we did not make. */
export function podPinInode(name: string): number | undefined {
  const m = /^.+-[0-9a-f]{6}-(\d+)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

/** Which program goes on which device's which tc hook: the pod's interfaces both ways, lo in. */
export interface Attachment {
  dev: string;
  hook: 'ingress' | 'egress';
  role: PodHook;
}

export function planAttachments(podDevs: readonly string[]): Attachment[] {
  const out: Attachment[] = [];
  for (const dev of [...new Set(podDevs)].sort()) {
    if (dev === 'lo') continue;
    out.push({ dev, hook: 'egress', role: 'egress' }, { dev, hook: 'ingress', role: 'ingress' });
  }
  if (out.length > 0) out.push({ dev: 'lo', hook: 'ingress', role: 'lo' });
  return out;
}

/** The devices that carry the pod's addresses, from `ip -j -4 addr show` inside its namespace. */
export function podDevices(addrJson: string): { devs: string[]; ips: string[] } {
  const rows = JSON.parse(addrJson.trim() || '[]') as Array<{ ifname?: string; addr_info?: Array<{ family?: string; local?: string }> }>;
  const devs: string[] = [];
  const ips: string[] = [];
  for (const r of rows) {
    if (r.ifname === undefined || r.ifname === 'lo') continue;
    const v4 = (r.addr_info ?? []).filter((a) => a.family === 'inet' && a.local !== undefined).map((a) => a.local as string);
    if (v4.length === 0) continue;
    devs.push(r.ifname);
    ips.push(...v4);
  }
  return { devs, ips };
}

/** What one tc hook holds now: our filters (by program) and how many others. */
export interface HookNow {
  ours: OurFilter[];
  others: number;
  clsact: boolean;
}

/**
 * tc commands (argv after `tc`) that make `dev`'s `hook` run exactly program `progId` (pinned at
 * `pin`) at preference `pref`: nothing when it already does; otherwise strays of ours at other
 * preferences go and ours is replaced in place (atomic for the traffic).
 */
export function planFilter(a: Attachment, now: HookNow, progId: number, pin: string, pref: number): string[][] {
  if (now.ours.length === 1 && now.ours[0].pref === pref && now.ours[0].progId === progId) return [];
  const cmds: string[][] = [];
  for (const f of now.ours) if (f.pref !== pref) cmds.push(['filter', 'del', 'dev', a.dev, a.hook, 'pref', String(f.pref)]);
  if (!now.clsact) cmds.push(['qdisc', 'replace', 'dev', a.dev, 'clsact']);
  cmds.push(['filter', 'replace', 'dev', a.dev, a.hook, 'pref', String(pref), 'handle', '1', 'bpf', 'da', 'object-pinned', pin]);
  return cmds;
}

/**
 * tc commands that take our filters off a device; clsact goes too when nothing else (of ours or
 * anyone's) is left on either hook, since it was ours to add.
 */
export function planDetachDevice(dev: string, hooks: { ingress: HookNow; egress: HookNow }): string[][] {
  const cmds: string[][] = [];
  for (const hook of ['ingress', 'egress'] as const) {
    for (const pref of new Set(hooks[hook].ours.map((f) => f.pref))) cmds.push(['filter', 'del', 'dev', dev, hook, 'pref', String(pref)]);
  }
  const ours = hooks.ingress.ours.length + hooks.egress.ours.length;
  const others = hooks.ingress.others + hooks.egress.others;
  if ((hooks.ingress.clsact || hooks.egress.clsact) && ours > 0 && others === 0) cmds.push(['qdisc', 'del', 'dev', dev, 'clsact']);
  return cmds;
}

/** One `ip -j rule show` row as far as we read it. */
export interface RuleRow {
  priority?: number;
  fwmark?: string;
  fwmask?: string;
  table?: string;
}

export interface PodRouting {
  captureMark: number;
  routeTable: number;
  /** ip rule priority of ours. */
  priority: number;
}

function ruleIsOurs(r: RuleRow, want: PodRouting): boolean {
  return r.fwmark !== undefined && Number(r.fwmark) === want.captureMark && String(r.table) === String(want.routeTable);
}

/**
 * ip commands (argv after `ip`) for the pod namespace's routing: marked (redirected) packets
 * look up <table>, where `local default dev lo` hands them to the local stack. `ensure` adds
 * what is missing, `remove` deletes every rule and route of ours.
 */
export function planRouting(op: 'ensure' | 'remove', rules: readonly RuleRow[], tableRoutes: number, want: PodRouting): string[][] {
  const ours = rules.filter((r) => ruleIsOurs(r, want));
  const mark = `0x${want.captureMark.toString(16)}/0xffffffff`;
  const cmds: string[][] = [];
  if (op === 'ensure') {
    const exact = ours.filter((r) => r.priority === want.priority);
    for (const r of ours) if (r.priority !== want.priority) cmds.push(['rule', 'del', 'priority', String(r.priority), 'fwmark', mark, 'lookup', String(want.routeTable)]);
    if (exact.length === 0) cmds.push(['rule', 'add', 'priority', String(want.priority), 'fwmark', mark, 'lookup', String(want.routeTable)]);
    if (tableRoutes === 0) cmds.push(['route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(want.routeTable)]);
    return cmds;
  }
  for (const r of ours) cmds.push(['rule', 'del', 'priority', String(r.priority), 'fwmark', mark, 'lookup', String(want.routeTable)]);
  if (tableRoutes > 0) cmds.push(['route', 'flush', 'table', String(want.routeTable)]);
  return cmds;
}

/** Validation of the pod-scope marks: distinct, and the capture mark must not look like the agent's. */
export function marksProblem(agentMark: number, captureMark: number): string | undefined {
  if (!Number.isInteger(captureMark) || captureMark <= 0 || captureMark > 0xffffffff) return `captureMark ${captureMark} is not a 32-bit mark`;
  if (((captureMark & agentMark) >>> 0) === agentMark >>> 0) return `captureMark 0x${captureMark.toString(16)} includes every bit of the agent mark 0x${agentMark.toString(16)}: redirected packets would pass as the agent's own`;
  return undefined;
}

/**
 * Everything apply/remove/describe need from a pod's namespace, read by ONE shell run inside it
 * (each command run costs a process; a pod's apply went from ~30 runs to a handful). $1 is the
 * route table. Sections start with a line "@@<kind> [dev]"; device names come from ip itself.
 */
export const POD_STATE_SCRIPT = [
  'echo "@@addr"; ip -j -4 addr show',
  'echo "@@rules"; ip -j rule show',
  'echo "@@table"; ip -j route show table "$1" 2>/dev/null',
  // /proc/sys/net shows the namespace of the reading process (no procps in the agent image).
  'echo "@@accept_local"; cat /proc/sys/net/ipv4/conf/lo/accept_local',
  'for d in $(ip -o link show | sed -n "s/^[0-9]*: \\([^:@]*\\).*/\\1/p"); do',
  '  echo "@@ingress $d"; tc -j filter show dev "$d" ingress',
  '  echo "@@egress $d"; tc -j filter show dev "$d" egress',
  '  echo "@@qdisc $d"; tc qdisc show dev "$d"',
  'done',
].join('\n');

export interface PodState {
  devs: string[];
  ips: string[];
  rules: RuleRow[];
  tableRoutes: number;
  acceptLocal: boolean;
  /** Every link of the namespace, with our filters and whether clsact is there. */
  hooks: Map<string, { ingress: HookNow; egress: HookNow }>;
}

/**
 * A pod's whole apply inside its namespace in one shell run: $1 `ip -batch` lines (routing),
 * $2 `tc -batch` lines (filters), $3 "1" to turn lo's accept_local on. Routing and accept_local
 * go in before any filter, so a redirected packet always finds its way in; set -e stops at the
 * first failure.
 */
export const POD_APPLY_SCRIPT = [
  'set -e',
  'if [ -n "$1" ]; then printf "%s" "$1" | ip -batch -; fi',
  'if [ "$3" = 1 ]; then echo 1 > /proc/sys/net/ipv4/conf/lo/accept_local; fi',
  'if [ -n "$2" ]; then printf "%s" "$2" | tc -batch -; fi',
].join('\n');

/** Batch text for `ip -batch -` / `tc -batch -`: one command a line. */
export function batchText(cmds: readonly string[][]): string {
  return cmds.map((c) => c.join(' ') + '\n').join('');
}

/** Turns lo's accept_local on or off in the namespace nsenter put the shell in. */
export const ACCEPT_LOCAL_SCRIPT = 'echo "$1" > /proc/sys/net/ipv4/conf/lo/accept_local';

/** Reads POD_STATE_SCRIPT's output. */
export function parsePodState(text: string): PodState {
  const sections: Array<{ kind: string; dev: string; body: string[] }> = [];
  for (const line of text.split('\n')) {
    const m = /^@@(\w+)(?: (.+))?$/.exec(line);
    if (m !== null) sections.push({ kind: m[1], dev: m[2] ?? '', body: [] });
    else if (sections.length > 0) sections[sections.length - 1].body.push(line);
  }
  const body = (kind: string) => sections.find((s) => s.kind === kind)?.body.join('\n') ?? '';
  const json = <T>(s: string, fallback: T): T => {
    try {
      return s.trim() === '' ? fallback : (JSON.parse(s) as T);
    } catch {
      return fallback;
    }
  };
  const { devs, ips } = podDevices(body('addr'));
  const hooks = new Map<string, { ingress: HookNow; egress: HookNow }>();
  const qdisc = new Map<string, boolean>();
  for (const s of sections) if (s.kind === 'qdisc') qdisc.set(s.dev, s.body.join('\n').includes('clsact'));
  for (const s of sections) {
    if (s.kind !== 'ingress' && s.kind !== 'egress') continue;
    const h = hooks.get(s.dev) ?? { ingress: { ours: [], others: 0, clsact: false }, egress: { ours: [], others: 0, clsact: false } };
    h[s.kind] = { ...parseTcFiltersSafe(s.body.join('\n')), clsact: false };
    hooks.set(s.dev, h);
  }
  for (const [dev, h] of hooks) {
    const c = qdisc.get(dev) ?? false;
    h.ingress.clsact = c;
    h.egress.clsact = c;
  }
  return {
    devs,
    ips,
    rules: json<RuleRow[]>(body('rules'), []),
    tableRoutes: json<unknown[]>(body('table'), []).length,
    acceptLocal: body('accept_local').trim() === '1',
    hooks,
  };
}

function parseTcFiltersSafe(text: string): { ours: OurFilter[]; others: number } {
  try {
    return parseTcFilters(text);
  } catch {
    return { ours: [], others: 0 };
  }
}
