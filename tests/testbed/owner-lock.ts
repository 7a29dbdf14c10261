// Who owns a testbed name right now. A crashed run leaves namespaces behind and the next run
// sweeps them; but two live runs with the same name (say, two worktrees running the same test)
// must not sweep each other, so a name is claimed with the owner's pid and process start time
// (the start time tells a live owner from a recycled pid).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const LOCK_DIR = '/run/weft-testbed';

interface Owner {
  pid: number;
  start: string;
}

async function startTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the command name, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function lockPath(name: string): string {
  return join(LOCK_DIR, `${name}.owner`);
}

/** Claims the name for this process; throws if a live other process holds it. */
export async function claimName(name: string): Promise<void> {
  await mkdir(LOCK_DIR, { recursive: true });
  try {
    const prev = JSON.parse(await readFile(lockPath(name), 'utf8')) as Owner;
    if (prev.pid !== process.pid && (await startTime(prev.pid)) === prev.start) {
      throw new Error(`testbed name "${name}" is in use by live process ${prev.pid}; give each test file its own testbed name`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
  }
  const me: Owner = { pid: process.pid, start: (await startTime(process.pid)) ?? '' };
  await writeFile(lockPath(name), JSON.stringify(me));
}

export async function releaseName(name: string): Promise<void> {
  await rm(lockPath(name), { force: true });
}

export function releaseNameSync(name: string): void {
  rmSync(lockPath(name), { force: true });
}
