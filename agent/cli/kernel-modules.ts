// Is a kernel feature the iptables redirector needs present? /proc/modules lists only modules
// loaded at run time: a feature built into the kernel (`=y`, and every feature of a kernel built
// without module support, which has no /proc/modules at all) never appears there. So the verdict
// weighs every place the kernel tells: /proc/modules, modules.builtin, the kernel's own config
// (/proc/config.gz or /boot/config-<release>), the xtables targets and matches it has registered
// (/proc/net/ip_tables_targets, _matches), and /sys/module. A pure decision over what was read,
// then a thin reader.
import { access, readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

export interface KernelFeature {
  /** The module name (e.g. xt_TPROXY). */
  module: string;
  /** Its Kconfig symbol (e.g. CONFIG_NETFILTER_XT_TARGET_TPROXY). */
  config: string;
  /** The xtables target or match it registers, when it is one. */
  xt?: { kind: 'target' | 'match'; name: string };
}

/** What the iptables redirector's rules use: TPROXY, the socket match, and TPROXY's IPv4 half. */
export const TPROXY_FEATURES: readonly KernelFeature[] = [
  { module: 'xt_TPROXY', config: 'CONFIG_NETFILTER_XT_TARGET_TPROXY', xt: { kind: 'target', name: 'TPROXY' } },
  { module: 'xt_socket', config: 'CONFIG_NETFILTER_XT_MATCH_SOCKET', xt: { kind: 'match', name: 'socket' } },
  { module: 'nf_tproxy_ipv4', config: 'CONFIG_NF_TPROXY_IPV4' },
];

/** What was read from the kernel; null where the source does not exist or could not be read. */
export interface KernelSources {
  procModules: string | null;
  modulesBuiltin: string | null;
  kernelConfig: string | null;
  xtTargets: string | null;
  xtMatches: string | null;
  /** Module names with a /sys/module directory. */
  sysModules: ReadonlySet<string>;
}

export type FeatureState =
  | 'loaded'
  | 'builtin'
  /** Built as a loadable module, not loaded yet: iptables loads it on first use. */
  | 'module'
  /** The kernel says it does not have it. */
  | 'absent'
  /** Not loaded, and nothing says whether it is there (no config, no modules.builtin). */
  | 'unknown';

export interface FeatureVerdict {
  state: FeatureState;
  /** Which source told. */
  evidence: string;
}

const lines = (text: string): string[] => text.split('\n').map((l) => l.trim());

export function featureState(f: KernelFeature, k: KernelSources): FeatureVerdict {
  if (k.procModules !== null && lines(k.procModules).some((l) => l.startsWith(`${f.module} `))) return { state: 'loaded', evidence: '/proc/modules' };
  if (k.modulesBuiltin !== null && lines(k.modulesBuiltin).some((l) => l.endsWith(`/${f.module}.ko`))) return { state: 'builtin', evidence: 'modules.builtin' };
  if (k.kernelConfig !== null) {
    const cfg = lines(k.kernelConfig);
    if (cfg.includes(`${f.config}=y`)) return { state: 'builtin', evidence: `kernel config ${f.config}=y` };
    if (cfg.includes(`${f.config}=m`)) return { state: 'module', evidence: `kernel config ${f.config}=m` };
  }
  if (f.xt !== undefined) {
    const list = f.xt.kind === 'target' ? k.xtTargets : k.xtMatches;
    if (list !== null && lines(list).includes(f.xt.name)) return { state: 'builtin', evidence: `/proc/net/ip_tables_${f.xt.kind}s lists ${f.xt.name}` };
  }
  // A built-in with a parameter or version has a /sys/module directory too; a loaded module was
  // found above, so a directory here is a built-in.
  if (k.sysModules.has(f.module)) return { state: 'builtin', evidence: `/sys/module/${f.module}` };
  if (k.kernelConfig !== null) return { state: 'absent', evidence: `kernel config has no ${f.config}` };
  return { state: 'unknown', evidence: 'not in /proc/modules; no kernel config or modules.builtin to tell' };
}

export interface FeatureCheck {
  status: 'ok' | 'warn';
  detail: string;
}

export function featureCheck(f: KernelFeature, v: FeatureVerdict): FeatureCheck {
  switch (v.state) {
    case 'loaded':
      return { status: 'ok', detail: `loaded (${v.evidence})` };
    case 'builtin':
      return { status: 'ok', detail: `built into the kernel (${v.evidence})` };
    case 'module':
      return { status: 'ok', detail: `a module, not loaded yet; iptables loads it on first use (${v.evidence})` };
    case 'absent':
      return { status: 'warn', detail: `not in this kernel (${v.evidence}): iptables redirect mode cannot install its rules; rebuild with ${f.config} or use another kernel` };
    case 'unknown':
      return { status: 'warn', detail: `not loaded, and this node does not say whether the kernel has it (${v.evidence}); iptables loads it on first use if it exists (modprobe ${f.module} to be sure)` };
  }
}

const read = (p: string): Promise<string | null> => readFile(p, 'utf8').catch(() => null);

async function kernelConfig(rel: string): Promise<string | null> {
  const gz = await readFile('/proc/config.gz').catch(() => null);
  if (gz !== null) {
    const text = await promisify(gunzip)(gz).then((b) => b.toString('utf8'), () => null);
    if (text !== null) return text;
  }
  return read(`/boot/config-${rel}`);
}

/** Reads every source once (missing ones are null). */
export async function readKernelSources(features: readonly KernelFeature[] = TPROXY_FEATURES): Promise<KernelSources> {
  const rel = release();
  const sysModules = new Set<string>();
  for (const f of features) if (await access(`/sys/module/${f.module}`).then(() => true, () => false)) sysModules.add(f.module);
  const [procModules, modulesBuiltin, config, xtTargets, xtMatches] = await Promise.all([
    read('/proc/modules'),
    read(`/lib/modules/${rel}/modules.builtin`),
    kernelConfig(rel),
    read('/proc/net/ip_tables_targets'),
    read('/proc/net/ip_tables_matches'),
  ]);
  return { procModules, modulesBuiltin, kernelConfig: config, xtTargets, xtMatches, sysModules };
}
