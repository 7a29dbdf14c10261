// How much of the node binary's code V8's optimizing compilers page in: the resident size of the
// binary's executable mapping (/proc/self/smaps) before and after a few hot loops that V8
// optimizes. Run it three times to compare the tiers (TurboFan is tier 3, Maglev tier 2):
//   node bench/turbofan-text.ts; node --max-opt=2 bench/turbofan-text.ts; node --max-opt=1 bench/turbofan-text.ts
// An agent after a burst keeps ~5 MiB more of these file-backed pages than a fresh one
// (bench/burst-memory.ts --smaps; docs/design-notes.md, issue 19, session 12): clean pages of the
// binary, shared with every node process and reclaimable by the kernel, but counted in VmRSS.
import { readFileSync } from 'node:fs';

function binaryTextMiB(): number {
  let kb = 0;
  let inText = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inText = / r-xp .*\/node$/.test(line);
    else if (inText && line.startsWith('Rss:')) kb += Number(line.split(/\s+/)[1]);
  }
  return kb / 1024;
}

class Point {
  x: number;
  y: number;
  s: string;
  constructor(i: number) {
    this.x = i;
    this.y = i + 1;
    this.s = String(i);
  }
}
const mix = (a: Point, b: Point): number => a.x * b.y + (a.s + b.s).length;

const before = binaryTextMiB();
let sink = 0;
for (let i = 0; i < 3e6; i++) sink += mix(new Point(i), new Point(i + 1));
const m = new Map<string, number>();
for (let i = 0; i < 1e6; i++) {
  m.set(`k${i % 1000}`, i);
  sink += m.get(`k${i % 997}`) ?? 0;
}
for (let i = 0; i < 2e5; i++) sink += (JSON.parse(JSON.stringify({ a: i, b: [i, 'x'] })) as { a: number }).a;
const after = binaryTextMiB();
console.log(`node binary text resident: ${before.toFixed(1)} -> ${after.toFixed(1)} MiB (+${(after - before).toFixed(1)}) ${process.execArgv.join(' ')} (${sink > 0 ? 'ok' : ''})`);
