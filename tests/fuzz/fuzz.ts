// Shared by the fuzz suites: how many runs a property gets (a CI-sized default, more with
// WEFT_FUZZ_RUNS=N), the corpus of interesting inputs kept in tests/fuzz/corpus/ (replayed on
// every run before the random ones, including every input that once found a bug), and the check
// that a parser only ever fails with one of its own stable codes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { isWeftError, type ErrorCode } from '../../common/errors.ts';

/** Runs per property: `ci` by default (a few seconds at most), WEFT_FUZZ_RUNS when set. */
export function runs(ci: number): number {
  const n = Number(process.env.WEFT_FUZZ_RUNS ?? '');
  return Number.isInteger(n) && n > 0 ? n : ci;
}

export interface CorpusEntry<T> {
  input: T;
  /** Why it is here (what it once broke, or which edge it covers). */
  note: string;
}

/** tests/fuzz/corpus/<name>.json: an array of {input, note}. */
export function corpus<T>(name: string): CorpusEntry<T>[] {
  const file = fileURLToPath(new URL(`./corpus/${name}.json`, import.meta.url));
  return JSON.parse(readFileSync(file, 'utf8')) as CorpusEntry<T>[];
}

/** Hex corpus entries (byte inputs) as Buffers. */
export function hexCorpus(name: string): CorpusEntry<Buffer>[] {
  return corpus<string>(name).map((e) => ({ input: Buffer.from(e.input, 'hex'), note: e.note }));
}

/** fc.assert with the given runs; the seed is printed on failure so a run can be replayed. */
export function assertProperty<Ts extends [unknown, ...unknown[]]>(prop: fc.IProperty<Ts>, numRuns: number): void {
  fc.assert(prop, { numRuns, verbose: 1 });
}

/** Calls f; returns its value, or undefined when it threw a WeftError with one of `codes`. Anything else is rethrown. */
export function onlyCodes<T>(codes: readonly ErrorCode[], f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (isWeftError(err) && codes.includes(err.code)) return undefined;
    throw err;
  }
}

/** The async form of onlyCodes. */
export async function onlyCodesAsync<T>(codes: readonly ErrorCode[], f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    if (isWeftError(err) && codes.includes(err.code)) return undefined;
    throw err;
  }
}
