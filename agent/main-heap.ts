// The main thread's young generation gets the same cap as a proxy worker's. Workers are capped
// through worker_threads resourceLimits; the main isolate's heap is sized once, when the process
// starts, from command-line flags only (v8.setFlagsFromString is too late for it). Uncapped, Node
// 24 lets the main thread's new space grow to 128 MiB, and it did under a connection ramp: an
// inline agent holding 10 000 idle connections sat at 191–217 MiB of heap with 110 MiB live
// (bench/agent-memory.ts). So the agent re-executes itself once, at start, with
// --max-semi-space-size: process.execve replaces the program in the same process (same pid, same
// open descriptors), so whatever started the agent (the DaemonSet, a test, the bench) sees one
// process throughout, and a flag given by the operator (command line or NODE_OPTIONS) wins.

/** Flags the main isolate is missing; [] when the operator set one or the cap is off (0). */
export function mainHeapFlags(youngGenMb: number, execArgv: readonly string[], nodeOptions: string): string[] {
  if (youngGenMb <= 0) return [];
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  if (given.some((a) => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(a))) return [];
  // V8's young generation is two semi-spaces and a new large-object space of the same size, which
  // is how worker_threads turns maxYoungGenerationSizeMb into a semi-space size too.
  return [`--max-semi-space-size=${Math.max(1, Math.round(youngGenMb / 3))}`];
}

export interface Exec {
  execPath: string;
  execArgv: readonly string[];
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never;
}

/**
 * Re-executes this process with `flags` added; returns only when there is nothing to add, or when
 * execve is unavailable or fails (the agent then runs with V8's sizing, as before, and says so).
 */
export function reexecWithFlags(flags: readonly string[], p: Exec, warn: (msg: string, err: unknown) => void): void {
  if (flags.length === 0) return;
  if (p.execve === undefined) {
    warn('process.execve is unavailable: the main thread keeps V8\'s young generation size', undefined);
    return;
  }
  try {
    p.execve(p.execPath, [p.execPath, ...flags, ...p.execArgv, ...p.argv.slice(1)], p.env);
  } catch (err) {
    warn('re-executing with the young generation cap failed: the main thread keeps V8\'s size', err);
  }
}
