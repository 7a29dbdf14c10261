// Reads V8 .cpuprofile files (node --cpu-prof) and ranks functions by self time, mapped back
// through the bundle's source map to the TypeScript file and line, for the README's "where the
// time goes". Several files (one per thread) are summed.
import { readdir, readFile } from 'node:fs/promises';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  /** repo-relative source file:line (through the source map when there is one), or the URL. */
  location: string;
  selfMs: number;
  /** Share of all non-idle samples across the profiles. */
  percent: number;
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

async function sourceMapFor(url: string, cache: Map<string, SourceMap | null>): Promise<SourceMap | null> {
  if (!cache.has(url)) {
    let map: SourceMap | null = null;
    if (url.startsWith('file://')) {
      try {
        map = new SourceMap(JSON.parse(await readFile(`${fileURLToPath(url)}.map`, 'utf8')) as SourceMapPayload);
      } catch {
        map = null;
      }
    }
    cache.set(url, map);
  }
  return cache.get(url) ?? null;
}

async function locate(f: CallFrame, maps: Map<string, SourceMap | null>): Promise<string> {
  if (f.url === '') return '';
  const map = await sourceMapFor(f.url, maps);
  const entry = map?.findEntry(f.lineNumber, f.columnNumber);
  if (entry !== undefined && entry !== null && 'originalSource' in entry) {
    const src = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : entry.originalSource;
    const rel = src.startsWith('/') ? relative(ROOT, src) : src.replace(/^(\.\.\/)+/, '');
    return `${rel}:${entry.originalLine + 1}`;
  }
  const short = f.url.replace(/^file:\/\//, '').replace(ROOT, '');
  return `${short}:${f.lineNumber + 1}`;
}

/** A time window in µs of CLOCK_MONOTONIC (process.hrtime), the clock V8 stamps samples with. */
export interface Window {
  fromUs: number;
  toUs: number;
}

export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Top `n` functions by self time over every .cpuprofile in `dir`, counting only samples inside
 * `window` when given (so start-up and shutdown do not crowd out the steady state). */
export async function hotFunctions(dir: string, n = 5, window?: Window): Promise<{ files: number; totalMs: number; weftPercent: number; top: HotFunction[] }> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  const maps = new Map<string, SourceMap | null>();
  const self = new Map<string, { name: string; location: string; us: number }>();
  let totalUs = 0;
  for (const file of files) {
    const prof = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(prof.nodes.map((node) => [node.id, node]));
    const usById = new Map<number, number>();
    // timeDeltas[i] is the gap before sample i; the time until the next sample belongs to sample i.
    let at = prof.startTime;
    prof.samples.forEach((id, i) => {
      at += prof.timeDeltas[i] ?? 0;
      if (window !== undefined && (at < window.fromUs || at > window.toUs)) return;
      usById.set(id, (usById.get(id) ?? 0) + (prof.timeDeltas[i + 1] ?? 0));
    });
    for (const [id, us] of usById) {
      const f = byId.get(id)?.callFrame;
      if (f === undefined || f.functionName === '(idle)') continue;
      totalUs += us;
      const location = await locate(f, maps);
      const name = f.functionName === '' ? '(anonymous)' : f.functionName;
      const key = `${name}@${location}`;
      const cur = self.get(key) ?? { name, location, us: 0 };
      cur.us += us;
      self.set(key, cur);
    }
  }
  const top = [...self.values()].sort((a, b) => b.us - a.us).slice(0, n).map((e) => ({
    name: e.name,
    location: e.location,
    selfMs: Math.round(e.us / 100) / 10,
    percent: totalUs > 0 ? Math.round((e.us / totalUs) * 1000) / 10 : 0,
  }));
  // Weft's own share: functions whose source maps back into the repository's code folders.
  const ownUs = [...self.values()].filter((e) => /^(agent|common|control)\//.test(e.location)).reduce((a, e) => a + e.us, 0);
  const weftPercent = totalUs > 0 ? Math.round((ownUs / totalUs) * 1000) / 10 : 0;
  return { files: files.length, totalMs: Math.round(totalUs / 1000), weftPercent, top };
}
