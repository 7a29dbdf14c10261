// What an agent's resident pages are, by kind, from /proc/PID/smaps: the main glibc arena
// ([heap], brk), other glibc arenas (the 64 MiB-aligned heaps of threads' arenas: a read-write
// part and its reserved remainder, 64 MiB together), thread stacks, the other anonymous mappings
// (V8's heap pages, code space, and mmap'd mallocs of 128 KiB and more), the node binary's file
// pages and other files'. For "what is the difference between a fresh agent and one idle after a
// burst": bench/burst-memory.ts --smaps DIR saves the raw files; this module's CLI compares two:
//   node bench/lib/smaps-classes.ts FRESH.smaps AFTER.smaps [--top 15]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface Mapping {
  start: number;
  end: number;
  perms: string;
  path: string;
  rssKb: number;
  anonKb: number;
  privateDirtyKb: number;
}

export function parseSmaps(text: string): Mapping[] {
  const maps: Mapping[] = [];
  let cur: Mapping | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      cur = { start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], path: head[4], rssKb: 0, anonKb: 0, privateDirtyKb: 0 };
      maps.push(cur);
      continue;
    }
    const kv = /^(\w+):\s+(\d+) kB/.exec(line);
    if (kv === null || cur === undefined) continue;
    if (kv[1] === 'Rss') cur.rssKb = Number(kv[2]);
    else if (kv[1] === 'Anonymous') cur.anonKb = Number(kv[2]);
    else if (kv[1] === 'Private_Dirty') cur.privateDirtyKb = Number(kv[2]);
  }
  return maps;
}

const ARENA = 64 * 1024 * 1024;

/** Kind of each mapping: arena heaps are told by their 64 MiB alignment and extent. */
export function classify(maps: Mapping[]): Map<string, number> {
  const kinds = new Map<string, number>();
  const add = (k: string, kb: number): void => { kinds.set(k, (kinds.get(k) ?? 0) + kb); };
  const arenaBases = new Set<number>();
  for (const m of maps) {
    if (m.path === '' && m.start % ARENA === 0 && m.end - m.start <= ARENA) {
      const next = maps.find((n) => n.start === m.end);
      const extent = next !== undefined && next.perms === '---p' && next.path === '' ? next.end - m.start : m.end - m.start;
      if (extent === ARENA) arenaBases.add(m.start);
    }
  }
  for (const m of maps) {
    const base = m.start - (m.start % ARENA);
    if (m.path === '[heap]') add('glibc main arena ([heap])', m.rssKb);
    else if (m.path === '' && arenaBases.has(base)) add('glibc thread arenas', m.rssKb);
    else if (m.path === '[stack]' || (m.path === '' && m.end - m.start >= 8 * 1024 * 1024 - 8192 && m.end - m.start <= 8 * 1024 * 1024 + 8192 && m.perms.startsWith('rw'))) add('stacks', m.rssKb);
    else if (m.path === '' && m.perms.includes('x')) add('anon executable (V8 code)', m.rssKb);
    else if (m.path === '') add('other anon (V8 heap pages, large mallocs)', m.rssKb);
    else if (/\/node$/.test(m.path)) add(`node binary ${m.perms}`, m.rssKb);
    else if (m.anonKb > 0 && m.path.startsWith('/')) add('file mappings, private-dirty', m.rssKb);
    else add(m.path.startsWith('[') ? m.path : 'other files', m.rssKb);
  }
  return kinds;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  const [a, b] = positionals.map((p) => parseSmaps(readFileSync(p, 'utf8')));
  const ka = classify(a);
  const kb = classify(b);
  const keys = [...new Set([...ka.keys(), ...kb.keys()])].sort();
  const mib = (kb_: number): string => (kb_ / 1024).toFixed(1).padStart(7);
  process.stdout.write(`${'kind'.padEnd(44)}  first  second   diff (MiB RSS)\n`);
  for (const k of keys) process.stdout.write(`${k.padEnd(44)}${mib(ka.get(k) ?? 0)}${mib(kb.get(k) ?? 0)}${mib((kb.get(k) ?? 0) - (ka.get(k) ?? 0))}\n`);
  const total = (ms: Mapping[]): number => ms.reduce((n, m) => n + m.rssKb, 0);
  process.stdout.write(`${'total'.padEnd(44)}${mib(total(a))}${mib(total(b))}${mib(total(b) - total(a))}\n`);
  process.stdout.write(`largest mappings of the second by RSS:\n`);
  for (const m of [...b].sort((x, y) => y.rssKb - x.rssKb).slice(0, Number(values.top))) {
    process.stdout.write(`  ${m.start.toString(16)}-${m.end.toString(16)} ${m.perms} ${((m.end - m.start) / 1024).toFixed(0).padStart(8)} kB size ${m.rssKb.toString().padStart(7)} kB rss ${m.path}\n`);
  }
}
