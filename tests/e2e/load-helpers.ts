// What the load suites share: how big to run (short in CI, full with WEFT_LONG_TESTS=1), and
// readings of an agent process from /proc — resident memory and open descriptors, the two things a
// leak of connections or buffers shows up in first.
import { readdir, readFile } from 'node:fs/promises';
import type { Mesh } from '../testbed/mesh.ts';

export const LONG = process.env.WEFT_LONG_TESTS === '1';

/** An integer from the environment (to run a size by hand), else the default for this mode. */
export function sized(name: string, short: number, long: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? NaN : Number(raw);
  return Number.isInteger(n) && n > 0 ? n : LONG ? long : short;
}

export interface ProcReading {
  /** ms since the test's start of sampling. */
  at: number;
  rssBytes: number;
  fds: number;
}

/** VmRSS and the number of open descriptors of a process (all its threads); undefined once it is gone. */
export async function readProc(pid: number): Promise<Omit<ProcReading, 'at'> | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1] ?? NaN);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { rssBytes: kb * 1024, fds };
  } catch {
    return undefined;
  }
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): number {
  return Math.round((bytes / MiB) * 10) / 10;
}

/** Samples one agent's process every `intervalMs` until stop(); `extra` adds a reading of its own (e.g. active connections). */
export class AgentSampler<E = undefined> {
  readonly samples: (ProcReading & { extra: E | undefined })[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #t0 = Date.now();
  #busy = false;

  constructor(mesh: Mesh, node: string, intervalMs: number, extra?: () => Promise<E>) {
    const pid = mesh.agentPid(node);
    if (pid === undefined) throw new Error(`no agent on ${node}`);
    const tick = async (): Promise<void> => {
      // A slow admin answer under load must not pile up readings.
      if (this.#busy) return;
      this.#busy = true;
      try {
        const [p, e] = await Promise.all([readProc(pid), extra?.().catch(() => undefined)]);
        if (p !== undefined) this.samples.push({ at: Date.now() - this.#t0, ...p, extra: e });
      } finally {
        this.#busy = false;
      }
    };
    void tick();
    this.#timer = setInterval(() => void tick(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get maxRss(): number {
    return this.samples.reduce((m, s) => Math.max(m, s.rssBytes), 0);
  }
}
