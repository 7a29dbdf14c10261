// br_netfilter makes bridged frames traverse iptables — what kube-proxy needs on a bridge CNI and
// what breaks node-level capture. Its sysctls exist once the code is in the kernel, loaded as a
// module or built in; the setting itself is per network namespace (Linux ≥ 5.3), so the testbed
// sets it inside node namespaces only and never changes the root namespace's.
import { access } from 'node:fs/promises';
import { run } from './run.ts';

const SYSCTL = '/proc/sys/net/bridge/bridge-nf-call-iptables';

export type BrNetfilterState = 'present' | 'loaded';

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/**
 * Makes sure br_netfilter is in the kernel: 'present' when it already was (built in, as
 * CONFIG_BRIDGE_NETFILTER=y kernels have it, or loaded earlier), 'loaded' after `modprobe`.
 * Throws naming the reason when neither works (no module and no modprobe in a container).
 */
export async function ensureBrNetfilter(): Promise<BrNetfilterState> {
  if (await exists(SYSCTL)) return 'present';
  const r = await run('modprobe', ['br_netfilter']);
  if (await exists(SYSCTL)) return 'loaded';
  throw new Error(`the bridge topology needs br_netfilter: ${SYSCTL} is missing and modprobe br_netfilter failed (${r.code}: ${r.stderr.trim() || 'no output'})`);
}
