// What a node leaves in the root network namespace that is not named after the test: the iptables
// chains kube-proxy makes (KUBE-*, and `kube-proxy --cleanup` leaves KUBE-FIREWALL, KUBE-MARK-MASQ
// and the canaries), the CNI's NAT chains (CNI-*), a node-scope agent's chains (WEFT-*) and its
// policy-routing rules. A snapshot before the node starts, another at stop: whatever is new is the
// node's, and restorePlan (pure) says how to remove it.
import { execFile, execFileSync } from 'node:child_process';

export interface HostSnapshot {
  /** `table/chain` of every chain. */
  chains: Set<string>;
  /** Every `ip rule` line (priority included). */
  rules: Set<string>;
  /** Every rule in a built-in chain, `table|-A CHAIN …` as iptables-save prints it. */
  builtinRules: Set<string>;
}

const TABLES = ['filter', 'nat', 'mangle', 'raw'];
const BUILTIN = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);
/** Only these are touched: other tests on the machine may change the root namespace meanwhile. */
const OURS = /^(KUBE|CNI|WEFT)-/;

/** Parses `iptables-save` and `ip rule` output. */
export function parseHost(iptablesSave: string, ipRule: string): HostSnapshot {
  const chains = new Set<string>();
  const builtinRules = new Set<string>();
  let table = '';
  for (const line of iptablesSave.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    else if (line.startsWith(':')) chains.add(`${table}/${line.slice(1).split(' ')[0]}`);
    else if (line.startsWith('-A ') && BUILTIN.has(line.split(' ')[1] ?? '')) builtinRules.add(`${table}|${line}`);
  }
  const rules = new Set(ipRule.split('\n').map((l) => l.trim()).filter(Boolean));
  return { chains, rules, builtinRules };
}

/** Splits an iptables-save rule into arguments (quoted comments kept whole). */
function ruleArgs(rule: string): string[] {
  return (rule.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []).map((a) => (a.startsWith('"') ? a.slice(1, -1).replace(/\\"/g, '"') : a));
}

/**
 * The commands that remove what `now` has and `before` had not — only KUBE-/CNI-/WEFT- chains and
 * fwmark ip rules: new rules in built-in chains that jump into such chains first, then every new
 * such chain flushed and deleted, then new fwmark ip rules (by priority and selector) and the
 * routing tables they looked up.
 */
export function restorePlan(before: HostSnapshot, now: HostSnapshot): Array<[string, string[]]> {
  const plan: Array<[string, string[]]> = [];
  for (const r of now.builtinRules) {
    if (before.builtinRules.has(r) || !/ -j (KUBE|CNI|WEFT)-/.test(r)) continue;
    const [table, rule] = [r.slice(0, r.indexOf('|')), r.slice(r.indexOf('|') + 1)];
    plan.push(['iptables', ['-w', '-t', table, '-D', ...ruleArgs(rule).slice(1)]]);
  }
  const fresh = [...now.chains].filter((c) => !before.chains.has(c) && OURS.test(c.split('/')[1]!));
  for (const c of fresh) plan.push(['iptables', ['-w', '-t', c.split('/')[0]!, '-F', c.split('/')[1]!]]);
  for (const c of fresh) plan.push(['iptables', ['-w', '-t', c.split('/')[0]!, '-X', c.split('/')[1]!]]);
  for (const rule of now.rules) {
    if (before.rules.has(rule)) continue;
    const m = /^(\d+):\s+(.*)$/.exec(rule);
    if (m === null || !/ fwmark /.test(` ${m[2]!} `)) continue;
    const selector = m[2]!.split(/\s+/);
    plan.push(['ip', ['rule', 'del', 'priority', m[1]!, ...selector]]);
    const table = /lookup (\S+)/.exec(m[2]!)?.[1];
    if (table !== undefined && !['local', 'main', 'default'].includes(table)) plan.push(['ip', ['route', 'flush', 'table', table]]);
  }
  return plan;
}

function out(cmd: string, args: string[]): Promise<string> {
  return new Promise((ok) => execFile(cmd, args, { maxBuffer: 64 << 20 }, (_e, stdout) => ok(stdout)));
}

export async function hostSnapshot(): Promise<HostSnapshot> {
  const save = (await Promise.all(TABLES.map((t) => out('iptables-save', ['-t', t])))).join('\n');
  return parseHost(save, await out('ip', ['rule']));
}

export function hostSnapshotSync(): HostSnapshot {
  const o = (cmd: string, args: string[]): string => { try { return execFileSync(cmd, args, { encoding: 'utf8' }); } catch { return ''; } };
  return parseHost(TABLES.map((t) => o('iptables-save', ['-t', t])).join('\n'), o('ip', ['rule']));
}

/** Removes what is new since `before`. */
export async function restoreHost(before: HostSnapshot): Promise<void> {
  for (const [cmd, args] of restorePlan(before, await hostSnapshot())) await out(cmd, args);
}
