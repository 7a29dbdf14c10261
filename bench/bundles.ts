// Builds dist/agent.mjs and dist/control.mjs when they are missing or older than any source file
// they are made from, so `npm run bench` measures the code in the checkout.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SOURCES = ['agent', 'control', 'common'];
const BUNDLES = ['dist/agent.mjs', 'dist/control.mjs'];

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'build') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts') || e.name.endsWith('.c')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

export function ensureBundles(log: (msg: string) => void): void {
  const src = Math.max(...SOURCES.map((d) => newest(join(ROOT, d))));
  const built = Math.min(...BUNDLES.map((b) => mtime(join(ROOT, b))));
  if (built >= src) return;
  log('building bundles (node scripts/build.ts)');
  execFileSync(process.execPath, ['scripts/build.ts'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}
