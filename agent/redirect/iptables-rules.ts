// The iptables redirector's rules as pure functions: the mangle-table state read back from
// `iptables-save`, and the `iptables-restore --noflush` batch that turns one state into another.
// Keeping this free of I/O lets unit tests check every batch byte for byte.
//
// mangle PREROUTING → WEFT-PREROUTING:
//   dst LOCAL                        → RETURN        (replies to the agent's own sockets)
//   tcp, owned by a transparent sock → WEFT-DIVERT   (mark + ACCEPT: established fast path)
//   conntrack reply direction        → RETURN        (replies of flows that were not captured)
//   tcp                              → WEFT-OUT      (per workload: -s ip → WEFT-TPROXY-OUT)
//   tcp                              → WEFT-IN       (per workload: -d ip ! -s ip → WEFT-TPROXY-IN)
// Outbound is matched before inbound, so meshed-to-meshed traffic is captured at the source.
import type { RedirectWorkload, ResolvedRedirectorOptions } from './redirector.ts';

export const CHAIN = {
  prerouting: 'WEFT-PREROUTING',
  divert: 'WEFT-DIVERT',
  out: 'WEFT-OUT',
  in: 'WEFT-IN',
  tproxyOut: 'WEFT-TPROXY-OUT',
  tproxyIn: 'WEFT-TPROXY-IN',
} as const;

/** Chains whose content is fixed by the options (rewritten on reconcile); creation order. */
const STATIC_CHAINS = [CHAIN.divert, CHAIN.tproxyOut, CHAIN.tproxyIn, CHAIN.prerouting] as const;
/** Chains holding per-workload rules (never flushed while workloads may be in them). */
const WORKLOAD_CHAINS = [CHAIN.out, CHAIN.in] as const;
export const ALL_CHAINS: readonly string[] = [...WORKLOAD_CHAINS, ...STATIC_CHAINS];

const JUMP_COMMENT = 'weft-redirect';
export const COMMENT_PREFIX = 'weft:';
// iptables comments are at most 255 bytes; keys also must not need shell-style escaping.
const KEY = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,200}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MULTIPORT_MAX = 15;

export function validKey(key: string): boolean {
  return KEY.test(key);
}

export function validIpv4(ip: string): boolean {
  return IPV4.test(ip);
}

/** One installed per-workload rule, as iptables-save printed it. */
export interface WorkloadRule {
  chain: 'WEFT-OUT' | 'WEFT-IN';
  ip: string;
  line: string;
}

export interface MangleState {
  chains: Set<string>;
  /** PREROUTING lines jumping to WEFT-PREROUTING (normally one). */
  jumps: string[];
  workloads: Map<string, WorkloadRule[]>;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\"/g, '"') : s;
}

/** Reads the parts of `iptables-save -t mangle` output that belong to the redirector. */
export function parseMangle(save: string): MangleState {
  const state: MangleState = { chains: new Set(), jumps: [], workloads: new Map() };
  let inMangle = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) { inMangle = line === '*mangle'; continue; }
    if (!inMangle) continue;
    const decl = /^:(WEFT-[A-Z-]+) /.exec(line);
    if (decl) { state.chains.add(decl[1]); continue; }
    if (line.startsWith('-A PREROUTING ') && / -j WEFT-PREROUTING( |$)/.test(line)) { state.jumps.push(line); continue; }
    const rule = /^-A (WEFT-OUT|WEFT-IN) /.exec(line);
    if (!rule) continue;
    const chain = rule[1] as WorkloadRule['chain'];
    const comment = /--comment ("(?:[^"\\]|\\.)*"|\S+)/.exec(line);
    const ip = (chain === CHAIN.out ? / -s (\S+?)(\/32)? / : / -d (\S+?)(\/32)? /).exec(line);
    if (!comment || !ip) continue;
    const text = unquote(comment[1]);
    if (!text.startsWith(COMMENT_PREFIX)) continue;
    const key = text.slice(COMMENT_PREFIX.length);
    const list = state.workloads.get(key) ?? [];
    list.push({ chain, ip: ip[1], line });
    state.workloads.set(key, list);
  }
  return state;
}

const hex = (n: number) => `0x${n.toString(16)}`;

function staticRules(o: ResolvedRedirectorOptions): string[] {
  const mark = `${hex(o.mark)}/${hex(o.mark)}`;
  const rules = [
    `-A ${CHAIN.divert} -j MARK --set-mark ${mark}`,
    `-A ${CHAIN.divert} -j ACCEPT`,
  ];
  const ports = [...new Set(o.excludeOutboundPorts)].sort((a, b) => a - b);
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
    rules.push(`-A ${CHAIN.tproxyOut} -p tcp -m multiport --dports ${ports.slice(i, i + MULTIPORT_MAX).join(',')} -j RETURN`);
  }
  rules.push(
    `-A ${CHAIN.tproxyOut} -p tcp -j TPROXY --on-port ${o.outboundPort} --on-ip 0.0.0.0 --tproxy-mark ${mark}`,
    `-A ${CHAIN.tproxyIn} -p tcp -j TPROXY --on-port ${o.inboundPort} --on-ip 0.0.0.0 --tproxy-mark ${mark}`,
    `-A ${CHAIN.prerouting} -m addrtype --dst-type LOCAL -j RETURN`,
    `-A ${CHAIN.prerouting} -p tcp -m socket --transparent -j ${CHAIN.divert}`,
    // Replies of flows that were not captured (an excluded port, a flow older than the rules)
    // must not look like new traffic to or from a meshed pod.
    `-A ${CHAIN.prerouting} -m conntrack --ctdir REPLY -j RETURN`,
    `-A ${CHAIN.prerouting} -p tcp -j ${CHAIN.out}`,
    `-A ${CHAIN.prerouting} -p tcp -j ${CHAIN.in}`,
  );
  return rules;
}

export function workloadRules(w: RedirectWorkload): string[] {
  const c = `-m comment --comment "${COMMENT_PREFIX}${w.key}"`;
  return [
    `-A ${CHAIN.out} -s ${w.ip}/32 -p tcp ${c} -j ${CHAIN.tproxyOut}`,
    `-A ${CHAIN.in} -d ${w.ip}/32 ! -s ${w.ip}/32 -p tcp ${c} -j ${CHAIN.tproxyIn}`,
  ];
}

export interface Change {
  /** Workloads that must be captured (with exactly this IP). */
  set: RedirectWorkload[];
  /** Keys that must not be captured. */
  remove: string[];
  /** Also remove every installed workload not in `set` (reconcile). */
  prune: boolean;
  /** Rewrite the fixed chains from the options even if present (reconcile after a restart). */
  refreshBase: boolean;
}

/** The restore document for a change, or undefined when the state already matches. */
export function planChange(cur: MangleState, o: ResolvedRedirectorOptions, change: Change): string | undefined {
  const lines: string[] = [];
  const missingBase = STATIC_CHAINS.some((c) => !cur.chains.has(c)) || WORKLOAD_CHAINS.some((c) => !cur.chains.has(c));
  const wantBase = change.set.length > 0 || change.refreshBase;

  if (wantBase && (missingBase || change.refreshBase)) {
    // Declaring an existing chain in --noflush mode flushes it: fine for the fixed chains (they
    // are rewritten right after), never for the workload chains.
    for (const c of WORKLOAD_CHAINS) if (!cur.chains.has(c)) lines.push(`:${c} - [0:0]`);
    for (const c of STATIC_CHAINS) lines.push(`:${c} - [0:0]`);
    lines.push(...staticRules(o));
  }
  if (wantBase) {
    for (const extra of cur.jumps.slice(1)) lines.push(`-D${extra.slice(2)}`);
    if (cur.jumps.length === 0) lines.push(`-I PREROUTING 1 -m comment --comment ${JUMP_COMMENT} -j ${CHAIN.prerouting}`);
  }

  const desired = new Map(change.set.map((w) => [w.key, w]));
  const drop = new Set(change.remove);
  if (change.prune) for (const key of cur.workloads.keys()) if (!desired.has(key)) drop.add(key);
  for (const [key, rules] of cur.workloads) {
    const want = desired.get(key);
    const exact = want !== undefined && rules.length === 2 && rules.every((r) => r.ip === want.ip)
      && rules.some((r) => r.chain === CHAIN.out) && rules.some((r) => r.chain === CHAIN.in);
    if (drop.has(key) || (want !== undefined && !exact)) {
      for (const r of rules) lines.push(`-D${r.line.slice(2)}`);
    }
    if (exact) desired.delete(key);
  }
  for (const w of desired.values()) if (!drop.has(w.key)) lines.push(...workloadRules(w));

  if (lines.length === 0) return undefined;
  return `*mangle\n${lines.join('\n')}\nCOMMIT\n`;
}

/** The restore document that removes every trace of the redirector, or undefined if none. */
export function planUninstall(cur: MangleState): string | undefined {
  const present = ALL_CHAINS.filter((c) => cur.chains.has(c));
  if (present.length === 0 && cur.jumps.length === 0) return undefined;
  const lines = [
    ...cur.jumps.map((j) => `-D${j.slice(2)}`),
    // Flush all before deleting any: the chains reference each other.
    ...present.map((c) => `-F ${c}`),
    ...present.map((c) => `-X ${c}`),
  ];
  return `*mangle\n${lines.join('\n')}\nCOMMIT\n`;
}
