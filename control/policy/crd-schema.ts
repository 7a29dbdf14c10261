// Control's copy of the openAPIV3Schema of the weft.dev/v1alpha1 CRDs (the CRD YAML itself lives in
// the chart, helm/weft/crds, and must carry the same schema: tests compare them when the chart is
// present). The file source has no API server validating objects for it, so control checks every
// object against this before translating; the schema says shape, translation says meaning.
import type { JsonSchema } from './schema-validate.ts';

export const POLICY_API_GROUP = 'weft.dev';
export const POLICY_API_VERSION = 'weft.dev/v1alpha1';

const str: JsonSchema = { type: 'string', minLength: 1 };
const strList: JsonSchema = { type: 'array', items: str };
const matchLabels: JsonSchema = { type: 'object', additionalProperties: { type: 'string' } };
const selector: JsonSchema = {
  type: 'object',
  description: 'Workloads of the object\'s namespace whose labels include all of matchLabels.',
  properties: { matchLabels },
};

const source: JsonSchema = {
  type: 'object',
  description: 'A source; every field set must match (AND). Any entry of `from` may match (OR).',
  properties: {
    identities: { ...strList, description: 'SPIFFE ID patterns; * as a whole segment, a trailing /* for the rest, or * for any identity.' },
    namespaces: strList,
    serviceAccounts: { ...strList, description: '`name` (in the policy\'s namespace) or `namespace/name`.' },
    ipBlocks: { ...strList, description: 'CIDRs of the connection\'s source address.' },
    unauthenticated: { type: 'boolean', description: 'true: only peers without a verified identity (plaintext); false: only authenticated peers.' },
  },
};

const operation: JsonSchema = {
  type: 'object',
  description: 'What is reached; every field set must match (AND). methods, paths and headers need HTTP.',
  properties: {
    ports: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 65535 } },
    methods: { type: 'array', items: { type: 'string', pattern: '^[A-Z]+$' } },
    paths: {
      type: 'array',
      items: {
        type: 'object',
        minProperties: 1,
        maxProperties: 1,
        properties: { exact: { type: 'string', pattern: '^/' }, prefix: { type: 'string', pattern: '^/' } },
      },
    },
    headers: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' } },
  },
};

export const AUTHORIZATION_POLICY_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', additionalProperties: true },
    status: { type: 'object', additionalProperties: true },
    spec: {
      type: 'object',
      properties: {
        selector,
        targetRef: {
          type: 'object',
          required: ['kind', 'name'],
          properties: { group: { type: 'string' }, kind: { type: 'string', enum: ['Service'] }, name: str },
        },
        action: { type: 'string', enum: ['ALLOW', 'DENY', 'AUDIT'], default: 'ALLOW' },
        rules: {
          type: 'array',
          items: { type: 'object', properties: { from: { type: 'array', items: source }, to: { type: 'array', items: operation } } },
        },
      },
    },
  },
};

export const MESH_POLICY_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object', additionalProperties: true },
    status: { type: 'object', additionalProperties: true },
    spec: {
      type: 'object',
      properties: {
        selector,
        mtls: { type: 'object', required: ['mode'], properties: { mode: { type: 'string', enum: ['STRICT', 'PERMISSIVE'] } } },
        defaultInbound: { type: 'string', enum: ['allow', 'deny', 'authenticated-only'] },
      },
    },
  },
};
