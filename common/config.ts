// The config pattern every process uses: named WEFT_* settings with a default and a reason,
// parsed from an injectable lookup, all errors reported at once, then frozen.
import { ErrorCodes, WeftError } from './errors.ts';

export type Env = (key: string) => string | undefined;
export const processEnv: Env = (key) => process.env[key];

export interface Setting<T> {
  readonly env: string;
  readonly default: T;
  /** Why the default is what it is: printed by `--help` and in the docs. */
  readonly why: string;
  /** An explicitly empty value is a value (e.g. "" disables a listener) rather than "unset". */
  readonly emptyIsValue?: boolean;
  parse(raw: string): T;
}

export function str(env: string, def: string, why: string): Setting<string> {
  return { env, default: def, why, emptyIsValue: true, parse: (raw) => raw };
}

export function int(env: string, def: number, why: string, min = 0, max = Number.MAX_SAFE_INTEGER): Setting<number> {
  return {
    env, default: def, why,
    parse(raw) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`expected an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
      return n;
    },
  };
}

export function bool(env: string, def: boolean, why: string): Setting<boolean> {
  return {
    env, default: def, why,
    parse(raw) {
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new Error(`expected true or false, got ${JSON.stringify(raw)}`);
    },
  };
}

export function oneOf<T extends string>(env: string, def: T, values: readonly T[], why: string): Setting<T> {
  return {
    env, default: def, why,
    parse(raw) {
      if (!(values as readonly string[]).includes(raw)) throw new Error(`expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw as T;
    },
  };
}

export type Settings = Record<string, Setting<unknown>>;
export type Parsed<S extends Settings> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Parses every setting; throws one WEFT_ERR_CONFIG_INVALID listing every bad value. */
export function parseSettings<S extends Settings>(settings: S, env: Env): Parsed<S> {
  const out: Record<string, unknown> = {};
  const errors: string[] = [];
  for (const [name, s] of Object.entries(settings)) {
    const raw = env(s.env);
    if (raw === undefined || (raw === '' && s.emptyIsValue !== true)) {
      out[name] = s.default;
      continue;
    }
    try {
      out[name] = s.parse(raw);
    } catch (err) {
      errors.push(`${s.env}: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n  ${errors.join('\n  ')}`);
  }
  return Object.freeze(out) as Parsed<S>;
}

export function describeSettings(settings: Settings): string {
  return Object.values(settings)
    .map((s) => `${s.env} (default ${JSON.stringify(s.default)}): ${s.why}`)
    .join('\n');
}
