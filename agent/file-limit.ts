// The agent holds two descriptors per proxied connection (the pod's and the upstream's), so the
// process's RLIMIT_NOFILE is a ceiling on the node's connections. Node raises the soft limit to the
// hard one at start; what the container runtime gives as the hard limit is what we get. Said once
// at start, so an operator who sees EMFILE knows where to look.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/log.ts';

/** Below this, a busy node (thousands of connections per pod) runs out of descriptors first. */
export const RECOMMENDED_NOFILE = 65_536;

export interface FileLimit {
  soft: number;
  hard: number;
}

/** Parses the "Max open files" row of /proc/<pid>/limits ("unlimited" is Infinity). */
export function parseFileLimit(limits: string): FileLimit | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (m === null) return undefined;
  const n = (v: string): number => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v));
  return { soft: n(m[1]), hard: n(m[2]) };
}

export async function reportFileLimit(log: Logger): Promise<FileLimit | undefined> {
  const limit = parseFileLimit(await readFile('/proc/self/limits', 'utf8').catch(() => ''));
  if (limit === undefined) return undefined;
  if (limit.soft < RECOMMENDED_NOFILE) {
    log.warn('the open-file limit caps how many connections this node can proxy', {
      soft: limit.soft, hard: limit.hard, connectionsAtMost: Math.floor(limit.soft / 2),
      fix: `raise the container runtime's LimitNOFILE (RLIMIT_NOFILE) for the agent to at least ${RECOMMENDED_NOFILE}`,
    });
  } else {
    log.info('open-file limit', { soft: limit.soft, hard: limit.hard });
  }
  return limit;
}
