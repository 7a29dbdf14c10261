// A compact validator for the subset of OpenAPI v3 (as Kubernetes structural schemas use it) that
// the weft.dev CRDs need: type, properties, required, additionalProperties, enum, pattern,
// minLength, minimum/maximum, items, min/maxProperties. It reports EVERY problem with its field
// path, so an operator fixes an object in one go.
//
// One deliberate difference from an API server: unknown fields are refused, not pruned. With the
// file source nothing else catches a typo, and a silently dropped `rule:` (for `rules:`) would turn
// a policy into something its author did not write. `additionalProperties: true` opts a mapping out.

export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  /** true: any extra keys; a schema: extra keys' values; absent with `properties`: none allowed. */
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly (string | number)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  /** Kubernetes: keep any fields (like additionalProperties: true). */
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  /** Kubernetes CEL rules: not evaluated here (the translator enforces their meaning in code). */
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
  minimum?: number;
  maximum?: number;
  minProperties?: number;
  maxProperties?: number;
  default?: unknown;
}

export interface SchemaProblem {
  /** `spec.rules[0].from[1].ipBlocks[0]` */
  path: string;
  message: string;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function join(path: string, key: string): string {
  return path === '' ? key : /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

const patterns = new Map<string, RegExp>();
function regex(p: string): RegExp {
  let r = patterns.get(p);
  if (r === undefined) patterns.set(p, (r = new RegExp(p)));
  return r;
}

function check(schema: JsonSchema, v: unknown, path: string, out: SchemaProblem[]): void {
  const where = path === '' ? '(object)' : path;
  if (schema.type !== undefined) {
    const t = typeOf(v);
    const ok = t === schema.type || (schema.type === 'number' && t === 'integer');
    if (!ok) {
      const word = schema.type === 'object' ? 'mapping' : schema.type === 'array' ? 'list' : schema.type;
      out.push({ path: where, message: `must be ${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}, got ${t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : t}` });
      return;
    }
  }
  if (schema.enum !== undefined && !schema.enum.includes(v as string | number)) {
    out.push({ path: where, message: `must be one of ${schema.enum.join(', ')}; got ${JSON.stringify(v)}` });
  }
  if (typeof v === 'string') {
    if (schema.minLength !== undefined && v.length < schema.minLength) out.push({ path: where, message: v === '' ? 'must not be empty' : `must be at least ${schema.minLength} characters` });
    if (schema.maxLength !== undefined && v.length > schema.maxLength) out.push({ path: where, message: `must be at most ${schema.maxLength} characters` });
    if (schema.pattern !== undefined && !regex(schema.pattern).test(v)) out.push({ path: where, message: `${JSON.stringify(v)} does not match ${schema.pattern}` });
  }
  if (typeof v === 'number') {
    if (schema.minimum !== undefined && v < schema.minimum) out.push({ path: where, message: `must be ≥ ${schema.minimum}; got ${v}` });
    if (schema.maximum !== undefined && v > schema.maximum) out.push({ path: where, message: `must be ≤ ${schema.maximum}; got ${v}` });
  }
  if (Array.isArray(v) && schema.items !== undefined) {
    v.forEach((item, i) => check(schema.items as JsonSchema, item, `${path}[${i}]`, out));
  }
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    for (const r of schema.required ?? []) {
      if (o[r] === undefined || o[r] === null) out.push({ path: join(path, r), message: 'is required' });
    }
    if (schema.minProperties !== undefined && keys.length < schema.minProperties) out.push({ path: where, message: `needs at least ${schema.minProperties} field(s)${schema.properties ? ` of ${Object.keys(schema.properties).join(', ')}` : ''}` });
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) out.push({ path: where, message: `may set at most ${schema.maxProperties} field(s); got ${keys.join(', ')}` });
    const extra = schema['x-kubernetes-preserve-unknown-fields'] === true ? true : schema.additionalProperties;
    for (const k of keys) {
      const sub = schema.properties?.[k];
      if (sub !== undefined) {
        // YAML `field:` with nothing after it is null: treat as absent, as the API server does.
        if (o[k] !== null) check(sub, o[k], join(path, k), out);
      } else if (typeof extra === 'object') {
        check(extra, o[k], join(path, k), out);
      } else if (extra !== true && (schema.properties !== undefined || extra === false)) {
        const known = Object.keys(schema.properties ?? {});
        out.push({ path: join(path, k), message: `is not a known field${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}` });
      }
    }
  }
}

/** Every problem of `value` against `schema`; empty when valid. */
export function validateSchema(schema: JsonSchema, value: unknown): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  check(schema, value, '', out);
  return out;
}
