// What every test app shares as a standalone process: flag errors exit 2 with a usage line, output
// is one JSON object per stdout line (the harness parses stdout line by line), and SIGTERM/SIGINT
// run a cleanup and exit 0 so the testbed can tear pods down without reading failures into it.

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Writes one JSON line to stdout. Pipes are synchronous on Linux, so a following exit loses nothing. */
export function emit(record: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(record) + '\n');
}

/** An integer flag within [min, max]; absent gives the default. */
export function intFlag(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A non-negative number flag (fractions allowed: rates, seconds). */
export function numberFlag(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function choiceFlag<T extends string>(name: string, raw: string | undefined, def: T, values: readonly T[]): T {
  if (raw === undefined) return def;
  if (!(values as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name} must be one of ${values.join('|')}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && typeof (err as Error & { code?: unknown }).code === 'string' &&
    String((err as Error & { code: string }).code).startsWith('ERR_PARSE_ARGS_');
}

/**
 * Runs a CLI main. Usage mistakes (ours or node:util parseArgs's) print `<app>: <why>` and the
 * usage to stderr and exit 2; anything else is a crash and exits 1 with its stack.
 */
export function runCli(app: string, usage: string, main: (argv: string[]) => Promise<void> | void): void {
  const fail = (err: unknown): void => {
    if (err instanceof UsageError || isParseArgsError(err)) {
      process.stderr.write(`${app}: ${(err as Error).message}\nusage: ${usage}\n`);
      process.exit(2);
    }
    process.stderr.write(`${app}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  };
  try {
    Promise.resolve(main(process.argv.slice(2))).catch(fail);
  } catch (err) {
    fail(err);
  }
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits 0; a second signal or a stuck stop exits anyway. */
export function onShutdown(stop: () => Promise<void> | void, graceMs = 3000): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(0);
    stopping = true;
    setTimeout(() => process.exit(0), graceMs).unref();
    Promise.resolve()
      .then(stop)
      .catch((err: unknown) => process.stderr.write(`shutdown: ${String(err)}\n`))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
