// Reads the network namespaces a node agent can see: named ones (/run/netns/*, where CNI runtimes
// and `ip netns` keep them) and every process's (/proc/PID/ns/net, with hostPID), grouped by inode,
// each with its IPv4 addresses. The agent's own namespace is left out. Runs at start, after a
// restart and when the model gains a pod whose namespace is unknown — never on a connection path.
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsInode, netnsIpv4 } from '../native/index.ts';
import { rankPaths, type NetnsCandidate } from './netns-match.ts';

export interface ScanOptions {
  /** Directories of named namespaces (bind-mounted nsfs files); default /run/netns and /var/run/netns. */
  namedDirs?: readonly string[];
  /** The proc filesystem (a host /proc mounted elsewhere in a container: e.g. /host/proc). */
  procDir?: string;
  /** Only named namespaces whose file name starts with this (several test nodes on one machine). */
  namePrefix?: string;
  /** Extra paths known from CNI ADDs (kept even after their runtime moves the file). */
  extra?: readonly string[];
}

const NS_LINK = /^net:\[(\d+)\]$/;

export async function scanNetns(opts: ScanOptions = {}): Promise<NetnsCandidate[]> {
  const self = netnsInode('/proc/thread-self/ns/net');
  const paths = new Map<number, string[]>();
  const add = (inode: number, path: string): void => {
    if (inode === self) return;
    const list = paths.get(inode) ?? [];
    list.push(path);
    paths.set(inode, list);
  };
  const prefix = opts.namePrefix ?? '';
  const dirs = opts.namedDirs ?? ['/run/netns', '/var/run/netns'];
  const named = [...dirs.map((d) => ({ entry: d, dir: true })), ...(opts.extra ?? []).map((e) => ({ entry: e, dir: false }))];
  for (const { entry, dir } of named) {
    const files = dir
      ? await readdir(entry).then((names) => names.filter((n) => n.startsWith(prefix)).map((n) => join(entry, n)), () => [] as string[])
      : [entry];
    for (const file of files) {
      try {
        add(netnsInode(file), file);
      } catch {
        // Not a namespace file (or it vanished between readdir and stat): skip.
      }
    }
  }
  const proc = opts.procDir ?? '/proc';
  const pids = proc === '' ? [] : await readdir(proc).catch(() => [] as string[]);
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    const path = join(proc, pid, 'ns/net');
    // readlink names the namespace without opening it ("net:[4026532173]").
    const m = NS_LINK.exec(await readlink(path).catch(() => ''));
    if (m !== null) add(Number(m[1]), path);
  }
  const out: NetnsCandidate[] = [];
  for (const [inode, list] of paths) {
    const ranked = rankPaths(list);
    let ips: string[] = [];
    for (const p of ranked) {
      try {
        ips = netnsIpv4(p).filter((ip) => !ip.startsWith('127.'));
        break;
      } catch {
        // That path vanished (a process exited); try the next one.
      }
    }
    // /proc paths are only worth keeping for the first few; one is enough to open the namespace.
    out.push({ inode, paths: ranked.slice(0, 3), ips });
  }
  return out;
}
