// Results of the bench's separate scripts (control-scale.ts, ca-signing.ts): each run is saved as
// bench/results/<script>-<date>.json, and the suite's README reads the newest one for its targets
// table, with that file's own date, so a slow script need not run on every `npm run bench`.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export interface SideResult<T> {
  /** ISO date of the measurement. */
  date: string;
  /** The file it was read from (base name). */
  file: string;
  data: T;
}

/** `2026-11-25T17:07:52.347Z` → `2026-11-25T17-07-52Z`: sortable, and legal in every file system. */
export function fileStamp(iso: string): string {
  return iso.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
}

export async function saveSideResult(script: string, data: object, dir = RESULTS_DIR, date = new Date()): Promise<string> {
  await mkdir(dir, { recursive: true });
  const iso = date.toISOString();
  const file = join(dir, `${script}-${fileStamp(iso)}.json`);
  // The 1-minute load average says how busy the (shared) machine was: a figure taken at load 20 on
  // two cores is not the code's capacity.
  await writeFile(file, JSON.stringify({ date: iso, script, loadAverage: Math.round(loadavg()[0] * 10) / 10, ...data }, null, 1) + '\n');
  return file;
}

/** The newest saved result of `script` in `dir`, or undefined when there is none (or it is unreadable). */
export async function latestSideResult<T>(script: string, dir = RESULTS_DIR): Promise<SideResult<T> | undefined> {
  const names = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.startsWith(`${script}-`) && f.endsWith('.json') && /^\d{4}-/.test(f.slice(script.length + 1)))
    .sort();
  for (const name of names.reverse()) {
    try {
      const parsed = JSON.parse(await readFile(join(dir, name), 'utf8')) as { date?: unknown } & T;
      if (typeof parsed.date !== 'string') continue;
      return { date: parsed.date, file: name, data: parsed };
    } catch {
      // A truncated file (a run killed while writing) is skipped for the one before it.
    }
  }
  return undefined;
}
