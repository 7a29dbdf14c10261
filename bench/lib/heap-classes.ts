// What a V8 heap snapshot holds, by kind and constructor: count and shallow bytes per class, the
// largest first. For finding per-connection objects (bench/agent-memory.ts --heapsnapshot): with N
// connections held, the classes whose count is a multiple of N are what each connection keeps.
//   node bench/lib/heap-classes.ts FILE.heapsnapshot [--top 60] [--per N]
// --per N adds count/N and bytes/N columns. Reads the whole file (a snapshot of an agent holding
// 2000 connections is ~30 MB).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '60' }, per: { type: 'string' } }, allowPositionals: true, strict: true });
if (positionals.length !== 1) {
  process.stderr.write('usage: node bench/lib/heap-classes.ts FILE.heapsnapshot [--top 60] [--per N]\n');
  process.exit(2);
}
interface Snapshot { snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } }; nodes: number[]; strings: string[] }
const snap = JSON.parse(readFileSync(positionals[0], 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const stride = fields.length;
const TYPE = fields.indexOf('type');
const NAME = fields.indexOf('name');
const SIZE = fields.indexOf('self_size');
const types = snap.snapshot.meta.node_types[0];
const byClass = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += stride) {
  const type = types[snap.nodes[i + TYPE]];
  // Strings and code are grouped by kind (their "names" are their contents).
  const name = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' ? snap.strings[snap.nodes[i + NAME]] : '';
  const key = `${type}:${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
  const size = snap.nodes[i + SIZE];
  total += size;
  const e = byClass.get(key);
  if (e === undefined) byClass.set(key, { count: 1, bytes: size });
  else {
    e.count++;
    e.bytes += size;
  }
}
const per = values.per === undefined ? 0 : Number(values.per);
const rows = [...byClass].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top));
process.stdout.write(`total shallow bytes ${total} (${(total / 1048576).toFixed(1)} MiB), ${byClass.size} classes\n`);
for (const [k, { count, bytes }] of rows) {
  const extra = per > 0 ? `\t${(count / per).toFixed(2)}/conn\t${(bytes / per).toFixed(0)} B/conn` : '';
  process.stdout.write(`${String(bytes).padStart(10)}\t${String(count).padStart(8)}${extra}\t${k}\n`);
}
