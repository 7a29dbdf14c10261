// Reads a process's resident memory and CPU time from /proc, the way `ps` and `top` do, so the
// agents and HAProxy are measured by the same ruler whatever they report about themselves.
// Threads are included: /proc/<pid>/stat of the thread-group leader sums every thread's time.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every Linux we know, but ask). */
export function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** Resident set size in MiB (VmRSS), or undefined when the process is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** User + system CPU time in µs, or undefined when the process is gone. */
export function cpuMicros(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / clockTicks();
}

export interface WatchedProcess {
  /** e.g. "agent n1", "haproxy n2". */
  name: string;
  pid: number;
}

export interface ProcessUsage {
  name: string;
  /** CPU time used during the watch, µs. */
  cpuUs: number;
  rssStartMiB: number;
  /** Highest RSS seen by the sampler during the watch. */
  rssMaxMiB: number;
}

/** Samples RSS every `intervalMs` while a run goes on, and CPU time at its two ends. */
export class ProcessWatch {
  readonly #procs: WatchedProcess[];
  readonly #cpu0: number[];
  readonly #rss0: number[];
  readonly #rssMax: number[];
  readonly #timer: NodeJS.Timeout;

  constructor(procs: WatchedProcess[], intervalMs = 250) {
    this.#procs = procs;
    this.#cpu0 = procs.map((p) => cpuMicros(p.pid) ?? NaN);
    this.#rss0 = procs.map((p) => rssMiB(p.pid) ?? NaN);
    this.#rssMax = [...this.#rss0];
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    this.#procs.forEach((p, i) => {
      const r = rssMiB(p.pid);
      if (r !== undefined && !(r <= this.#rssMax[i])) this.#rssMax[i] = r;
    });
  }

  stop(): ProcessUsage[] {
    clearInterval(this.#timer);
    this.#sample();
    return this.#procs.map((p, i) => ({
      name: p.name,
      cpuUs: (cpuMicros(p.pid) ?? NaN) - this.#cpu0[i],
      rssStartMiB: this.#rss0[i],
      rssMaxMiB: this.#rssMax[i],
    }));
  }
}
