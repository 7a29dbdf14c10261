// The files `agent.mjs` loads, transitively: itself and every `./agent-*.mjs` chunk a static or
// dynamic import names. Both image checks (the Dockerfile's copy lines and a built image's
// /opt/weft) need the same list; a file `present` says is missing is listed but not read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function agentChunks(dir: string, present: (file: string) => boolean = () => true): Set<string> {
  const seen = new Set<string>();
  const queue = ['agent.mjs'];
  while (queue.length > 0) {
    const f = queue.pop() ?? '';
    if (seen.has(f)) continue;
    seen.add(f);
    if (!present(f)) continue;
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/["']\.\/(agent-[\w-]+\.mjs)["']/g)) queue.push(m[1]);
  }
  return seen;
}
