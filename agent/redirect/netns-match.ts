// Which network namespace is which meshed pod: a pure function from the namespaces the agent can
// see (each with the paths that open it and its IPv4 addresses) and the model's local meshed
// workloads to the pods to capture. Matched by IP: a pod's address lives in exactly one namespace
// on its node. Table-tested; netns-scan.ts does the reading.
import type { WorkloadRecord } from '../../control/api/model.ts';
import type { PodNetns } from './pod-capture.ts';

/** One network namespace seen on the node, whatever number of paths name it. */
export interface NetnsCandidate {
  inode: number;
  /** Paths that open it, best first (named /run/netns or CNI paths before /proc/PID ones). */
  paths: string[];
  /** Its IPv4 addresses, loopback excluded. */
  ips: string[];
}

export interface MatchWorkload {
  key: string;
  ip: string;
  /** Carried to the PodNetns (pod-capture.ts): the record for a pod the model has no address of yet. */
  early?: WorkloadRecord;
}

export interface NetnsMatch {
  pods: PodNetns[];
  /** Workloads no namespace holds (not started yet, or on a path the agent cannot see). */
  missing: string[];
  /** Workloads whose address is in more than one namespace: not captured (which would be a guess). */
  ambiguous: string[];
}

export function matchNetns(candidates: readonly NetnsCandidate[], workloads: readonly MatchWorkload[]): NetnsMatch {
  const byIp = new Map<string, NetnsCandidate[]>();
  for (const c of candidates) {
    if (c.paths.length === 0) continue;
    for (const ip of new Set(c.ips)) {
      const list = byIp.get(ip) ?? [];
      list.push(c);
      byIp.set(ip, list);
    }
  }
  const out: NetnsMatch = { pods: [], missing: [], ambiguous: [] };
  const taken = new Set<number>();
  for (const w of [...workloads].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    const found = byIp.get(w.ip) ?? [];
    if (found.length === 0) { out.missing.push(w.key); continue; }
    if (found.length > 1) { out.ambiguous.push(w.key); continue; }
    const c = found[0];
    // Two workloads claiming one namespace (a stale model record reusing an address): the first
    // by key keeps it, the other waits; one capture per namespace, ever.
    if (taken.has(c.inode)) { out.ambiguous.push(w.key); continue; }
    taken.add(c.inode);
    out.pods.push(w.early === undefined ? { inode: c.inode, path: c.paths[0], key: w.key, ip: w.ip } : { inode: c.inode, path: c.paths[0], key: w.key, ip: w.ip, early: w.early });
  }
  return out;
}

/** Orders a namespace's paths: stable named files first, then /proc paths (pids come and go). */
export function rankPaths(paths: Iterable<string>): string[] {
  const rank = (p: string): number => (p.startsWith('/proc/') ? 1 : 0);
  return [...new Set(paths)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}
