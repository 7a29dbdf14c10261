// Control's copy of the openAPIV3Schema of the weft.dev/v1alpha1 CRDs. The CRD YAML belongs to the
// chart (helm/weft/templates/crd-*.yaml) and must carry the same schema: a test compares them. The
// file source has no API server validating objects for it, so control checks every object against
// this before translating; the schema says shape, translation says meaning. CEL rules
// (x-kubernetes-validations) are carried for the comparison and enforced by translate-policy.ts.
import type { JsonSchema } from './schema-validate.ts';

export const POLICY_API_GROUP = 'weft.dev';
export const POLICY_API_VERSION = 'weft.dev/v1alpha1';

const strings: JsonSchema = { type: 'array', items: { type: 'string' } };
const matchLabels: JsonSchema = { type: 'object', additionalProperties: { type: 'string' } };

const source: JsonSchema = {
  type: 'object',
  properties: {
    identities: { type: 'array', items: { type: 'string', pattern: '^spiffe://[^/]+(/[^/]+)*$' } },
    namespaces: strings,
    serviceAccounts: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9-]+/[a-z0-9.-]+$' } },
    ipBlocks: strings,
    unauthenticated: { type: 'boolean' },
  },
};

const operation: JsonSchema = {
  type: 'object',
  properties: {
    ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } },
    methods: { type: 'array', items: { type: 'string', pattern: '^[A-Z]+$' } },
    paths: {
      type: 'array',
      items: {
        type: 'object',
        'x-kubernetes-validations': [{ rule: 'has(self.exact) != has(self.prefix)', message: 'a path has exactly one of exact and prefix' }],
        properties: { exact: { type: 'string', pattern: '^/' }, prefix: { type: 'string', pattern: '^/' }, ignoreCase: { type: 'boolean' } },
      },
    },
    headers: {
      type: 'array',
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 }, present: { type: 'boolean', default: true } } },
    },
  },
};

const envelope = (spec: JsonSchema): JsonSchema => ({
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec,
    status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
});

export const AUTHORIZATION_POLICY_SCHEMA: JsonSchema = envelope({
  type: 'object',
  required: ['action'],
  'x-kubernetes-validations': [{ rule: '!(has(self.selector) && has(self.targetRef))', message: 'set selector or targetRef, not both' }],
  properties: {
    selector: {
      type: 'object',
      properties: {
        matchLabels,
        matchExpressions: {
          type: 'array',
          items: {
            type: 'object',
            required: ['key', 'operator'],
            properties: { key: { type: 'string' }, operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: strings },
          },
        },
      },
    },
    targetRef: {
      type: 'object',
      required: ['kind', 'name'],
      properties: { group: { type: 'string', enum: [''] }, kind: { type: 'string', enum: ['Service'] }, name: { type: 'string', minLength: 1, maxLength: 63 } },
    },
    action: { type: 'string', enum: ['ALLOW', 'DENY', 'AUDIT'] },
    rules: { type: 'array', items: { type: 'object', properties: { from: { type: 'array', items: source }, to: { type: 'array', items: operation } } } },
  },
});

export const MESH_POLICY_SCHEMA: JsonSchema = envelope({
  type: 'object',
  properties: {
    selector: { type: 'object', properties: { matchLabels } },
    mtls: { type: 'object', properties: { mode: { type: 'string', enum: ['STRICT', 'PERMISSIVE'] } } },
    defaultInbound: { type: 'string', enum: ['allow', 'deny', 'authenticated-only'] },
  },
});
