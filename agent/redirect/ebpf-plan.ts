// The eBPF redirector's pure half: how map entries are spelled for bpftool, how bpftool, tc and
// ip output is read back, and which program belongs on which interface. No I/O here, so unit
// tests check every line the loader would run.
import { endianness } from 'node:os';
import { validIpv4 } from './iptables-rules.ts';

/** The two programs: `pod` on a meshed pod's veth (outbound + inbound), `inbound` elsewhere. */
export type EbpfRole = 'pod' | 'inbound';
export const ROLES: readonly EbpfRole[] = ['pod', 'inbound'];
/** Object file per role (built by scripts/build-ebpf.sh) and the program's name inside it. */
export const OBJECTS: Record<EbpfRole, { file: string; prog: string }> = {
  pod: { file: 'tc-pod-ingress.o', prog: 'weft_pod' },
  inbound: { file: 'tc-inbound-ingress.o', prog: 'weft_inbound' },
};
export const MAPS = ['weft_config', 'weft_meshed', 'weft_excluded', 'weft_local', 'weft_stats'] as const;
/** weft_stats indexes, as enum weft_reason in ebpf/include/weft-redirect.h. */
export const REASONS = [
  'pass_not_tcp', 'pass_unrelated', 'pass_excluded_port', 'pass_mid_flow', 'established', 'outbound', 'inbound',
  'drop_no_listener', 'drop_assign_failed', 'pass_no_config', 'pass_local_dst',
] as const;
export type Reason = (typeof REASONS)[number];
/** Every program of ours is named weft_…; the kernel keeps the first 15 characters. */
export const PROG_PREFIX = 'weft_';

const littleEndian = endianness() === 'LE';

function hexBytes(b: readonly number[]): string {
  return b.map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** A u32 in host byte order, as the programs read map keys and values. */
export function u32Hex(n: number): string {
  const b = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  return hexBytes(littleEndian ? b : b.reverse());
}

/** An IPv4 address in network order (the packet's own bytes). */
export function ipv4Hex(ip: string): string {
  return hexBytes(ip.split('.').map(Number));
}

export function hexToIpv4(bytes: readonly string[]): string {
  return bytes.map((h) => parseInt(h, 16)).join('.');
}

export function hexToU32(bytes: readonly string[]): number {
  const b = bytes.map((h) => parseInt(h, 16));
  const ordered = littleEndian ? b.reverse() : b;
  return ordered.reduce((n, x) => n * 256 + x, 0);
}

export function hexToU64(bytes: readonly string[]): number {
  const b = bytes.map((h) => parseInt(h, 16));
  const ordered = littleEndian ? b.reverse() : b;
  return ordered.reduce((n, x) => n * 256 + x, 0);
}

export interface MapEntry {
  key: string[];
  value: string[];
}

/** Reads `bpftool -j map dump` output (raw byte arrays; BTF-formatted values are ignored). */
export function parseMapDump(json: string): MapEntry[] {
  const text = json.trim();
  if (text === '') return [];
  const rows = JSON.parse(text) as Array<{ key?: unknown; value?: unknown }>;
  return rows
    .filter((r) => Array.isArray(r.key) && Array.isArray(r.value))
    .map((r) => ({ key: (r.key as unknown[]).map(String), value: (r.value as unknown[]).map(String) }));
}

export interface ConfigValue {
  outboundPort: number;
  inboundPort: number;
  mark: number;
}

export function configValueHex(c: ConfigValue): string {
  return [u32Hex(c.outboundPort), u32Hex(c.inboundPort), u32Hex(c.mark >>> 0), u32Hex(0)].join(' ');
}

/** bpftool batch lines that turn the current map contents into the desired ones. */
export function planMapLines(
  mapDir: string,
  cur: { meshed: readonly string[]; excluded: readonly number[]; local?: readonly string[] },
  want: { meshed: readonly string[]; excluded: readonly number[]; config: ConfigValue; local?: readonly string[] },
): string[] {
  const lines = [`map update pinned ${mapDir}/weft_config key hex ${u32Hex(0)} value hex ${configValueHex(want.config)}`];
  const curIps = new Set(cur.meshed);
  const wantIps = new Set(want.meshed);
  for (const ip of wantIps) if (!curIps.has(ip)) lines.push(`map update pinned ${mapDir}/weft_meshed key hex ${ipv4Hex(ip)} value hex ${u32Hex(1)}`);
  for (const ip of curIps) if (!wantIps.has(ip)) lines.push(`map delete pinned ${mapDir}/weft_meshed key hex ${ipv4Hex(ip)}`);
  const curPorts = new Set(cur.excluded);
  const wantPorts = new Set(want.excluded);
  for (const p of wantPorts) if (!curPorts.has(p)) lines.push(`map update pinned ${mapDir}/weft_excluded key hex ${u32Hex(p)} value hex ${u32Hex(1)}`);
  for (const p of curPorts) if (!wantPorts.has(p)) lines.push(`map delete pinned ${mapDir}/weft_excluded key hex ${u32Hex(p)}`);
  if (want.local !== undefined) {
    const curLocal = new Set(cur.local ?? []);
    const wantLocal = new Set(want.local);
    for (const ip of wantLocal) if (!curLocal.has(ip)) lines.push(`map update pinned ${mapDir}/weft_local key hex ${ipv4Hex(ip)} value hex ${u32Hex(1)}`);
    for (const ip of curLocal) if (!wantLocal.has(ip)) lines.push(`map delete pinned ${mapDir}/weft_local key hex ${ipv4Hex(ip)}`);
  }
  return lines;
}

/** One tc filter of ours on an interface's ingress hook. */
export interface OurFilter {
  pref: number;
  handle: string;
  progId: number;
  progName: string;
}

/** Reads `tc -j filter show dev X ingress`, keeping the filters that run a weft_ program. */
export function parseTcFilters(json: string): { ours: OurFilter[]; others: number } {
  const text = json.trim();
  if (text === '') return { ours: [], others: 0 };
  const rows = JSON.parse(text) as Array<{ pref?: number; kind?: string; options?: { handle?: string; prog?: { id?: number; name?: string } } }>;
  const ours: OurFilter[] = [];
  let others = 0;
  for (const r of rows) {
    // tc prints a header row per preference without options; only rows with options are filters.
    if (r.options === undefined) continue;
    const name = r.options.prog?.name ?? '';
    if (r.kind === 'bpf' && name.startsWith(PROG_PREFIX)) {
      ours.push({ pref: r.pref ?? 0, handle: r.options.handle ?? '', progId: r.options.prog?.id ?? 0, progName: name });
    } else {
      others++;
    }
  }
  return { ours, others };
}

/** Interface names from `ip -j link show`, loopback left out (nothing to capture there). */
export function parseLinks(json: string): string[] {
  const rows = JSON.parse(json.trim() || '[]') as Array<{ ifname?: string; link_type?: string }>;
  return rows.filter((r) => r.ifname !== undefined && r.link_type !== 'loopback').map((r) => r.ifname as string);
}

/** IPv4 addresses from `ip -j -4 addr show`: the node's own, never captured as destinations. */
export function parseAddrs(json: string): string[] {
  const rows = JSON.parse(json.trim() || '[]') as Array<{ addr_info?: Array<{ family?: string; local?: string }> }>;
  return rows.flatMap((r) => (r.addr_info ?? []).filter((a) => a.family === 'inet' && a.local !== undefined).map((a) => a.local as string));
}

/** The device `ip -j -4 route get <ip>` names, or undefined when the address is unroutable. */
export function parseRouteDev(json: string): string | undefined {
  try {
    const rows = JSON.parse(json.trim() || '[]') as Array<{ dev?: string; type?: string }>;
    const r = rows[0];
    if (r === undefined || r.type === 'local') return undefined;
    return r.dev;
  } catch {
    return undefined;
  }
}

/**
 * Which program each interface runs: a meshed pod's veth the pod program, every other interface
 * (uplinks, unmeshed pods' veths) the inbound one, so plaintext to a meshed pod is captured
 * wherever it enters the node.
 */
export function planRoles(links: readonly string[], podDevs: ReadonlySet<string>): Map<string, EbpfRole> {
  const roles = new Map<string, EbpfRole>();
  for (const l of links) roles.set(l, podDevs.has(l) ? 'pod' : 'inbound');
  return roles;
}

/** Pin directory names: node names become a safe path segment. */
export function pinDirName(nodeName: string, netnsId: string): string {
  const node = nodeName.toLowerCase().replace(/[^a-z0-9.-]/g, '-').slice(0, 60) || 'node';
  return `weft-${node}-${netnsId}`;
}

export function checkIpv4(ip: string): boolean {
  return validIpv4(ip);
}

/** Reads weft_stats into named counters. */
export function statsFromDump(entries: readonly MapEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const i = hexToU32(e.key);
    const name = REASONS[i];
    if (name !== undefined) out[name] = hexToU64(e.value);
  }
  return out;
}
