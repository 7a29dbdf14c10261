// The CRD YAML belongs to the chart (helm/weft/templates/crd-*.yaml); control validates with its own
// copy of the schema. When the chart is present, its openAPIV3Schema must say what control's copy
// says (descriptions and defaults aside: see the note on defaults in docs/policy.md).
import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { AUTHORIZATION_POLICY_SCHEMA, MESH_POLICY_SCHEMA } from '../../../control/policy/crd-schema.ts';
import { validateSchema, type JsonSchema } from '../../../control/policy/schema-validate.ts';

const CRDS = fileURLToPath(new URL('../../../helm/weft/templates/', import.meta.url));

/** What a schema constrains, without documentation-only keys, for comparison. */
function shape(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(shape);
  if (s === null || typeof s !== 'object') return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (k !== 'description' && k !== 'default') out[k] = shape(v);
  return out;
}

t.test('the chart CRDs carry control\'s schema', { skip: existsSync(CRDS) ? false : 'the chart is not in this tree yet' }, async (t) => {
  const want: Record<string, JsonSchema> = { AuthorizationPolicy: AUTHORIZATION_POLICY_SCHEMA, MeshPolicy: MESH_POLICY_SCHEMA };
  const seen = new Set<string>();
  for (const f of (await readdir(CRDS)).filter((n) => /^crd-.*\.ya?ml$/.test(n))) {
    // Template lines ({{ ... }}) carry labels and the install switch, never schema: drop them.
    const text = (await readFile(join(CRDS, f), 'utf8')).split('\n').filter((l) => !l.trim().startsWith('{{')).join('\n');
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as { kind?: string; spec?: { group?: string; names?: { kind?: string }; versions?: Array<{ name: string; schema?: { openAPIV3Schema?: { properties?: { spec?: unknown } } } }> } } | null;
      const kind = crd?.spec?.names?.kind;
      if (crd?.kind !== 'CustomResourceDefinition' || crd.spec?.group !== 'weft.dev' || kind === undefined || !(kind in want)) continue;
      const v = crd.spec.versions?.find((x) => x.name === 'v1alpha1');
      t.ok(v, `${kind} serves v1alpha1`);
      t.same(shape(v?.schema?.openAPIV3Schema), shape(want[kind]), `${kind} schema matches control's copy (${f})`);
      seen.add(kind);
    }
  }
  t.same([...seen].sort(), Object.keys(want).sort(), 'both CRDs found');
});

t.test('the validator: types, required, enum, pattern, bounds, unknown fields, every problem at once', async (t) => {
  const s: JsonSchema = {
    type: 'object',
    required: ['a'],
    properties: { a: { type: 'string', pattern: '^x' }, n: { type: 'integer', minimum: 1, maximum: 3 }, e: { type: 'string', enum: ['A', 'B'] }, m: { type: 'object', additionalProperties: { type: 'string' } }, l: { type: 'array', items: { type: 'boolean' } } },
  };
  t.same(validateSchema(s, { a: 'xy', n: 2, e: 'A', m: { k: 'v' }, l: [true] }), []);
  t.same(validateSchema(s, { n: 9, e: 'C', m: { k: 1 }, l: [1], zz: 0 }).map((p) => `${p.path}: ${p.message}`), [
    'a: is required',
    'n: must be ≤ 3; got 9',
    'e: must be one of A, B; got "C"',
    'm.k: must be a string, got integer',
    'l[0]: must be a boolean, got integer',
    'zz: is not a known field (known: a, n, e, m, l)',
  ]);
  t.same(validateSchema(s, []).map((p) => p.message), ['must be a mapping, got a list']);
  t.same(validateSchema(s, { a: null }).map((p) => p.path), ['a'], 'null counts as absent for required');
});
