// The HTTPRoute CRD for the end-to-end tests: chart-objects.ts's structural stand-in (the upstream
// CRD bundle is not vendored; see there) serving v1 and v1beta1, with the defaults the upstream
// schema sets on the fields Weft reads, so routes are stored as a real cluster stores them:
// parentRefs default to group gateway.networking.k8s.io kind Gateway (a mesh route must say
// `group: "", kind: Service`), backendRefs to the core Service with weight 1, and a rule without
// matches to PathPrefix "/". Everything else is kept as written (x-kubernetes-preserve-unknown-fields).
import { gatewayApiCrd } from './chart-objects.ts';
import type { KubeObject } from './kube-cluster.ts';

const refDefaults = (group: string, kind: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'object',
  'x-kubernetes-preserve-unknown-fields': true,
  required: ['name'],
  properties: {
    group: { type: 'string', default: group },
    kind: { type: 'string', default: kind },
    name: { type: 'string', minLength: 1 },
    namespace: { type: 'string' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    ...extra,
  },
});

const schema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
      properties: {
        parentRefs: { type: 'array', maxItems: 32, items: refDefaults('gateway.networking.k8s.io', 'Gateway', { sectionName: { type: 'string' } }) },
        hostnames: { type: 'array', items: { type: 'string' } },
        rules: {
          type: 'array',
          maxItems: 16,
          default: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }],
          items: {
            type: 'object',
            'x-kubernetes-preserve-unknown-fields': true,
            properties: {
              matches: {
                type: 'array',
                maxItems: 8,
                default: [{ path: { type: 'PathPrefix', value: '/' } }],
                items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
              backendRefs: { type: 'array', maxItems: 16, items: refDefaults('', 'Service', { weight: { type: 'integer', minimum: 0, maximum: 1000000, default: 1 } }) },
              timeouts: { type: 'object', properties: { request: { type: 'string' }, backendRequest: { type: 'string' } } },
              retry: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    },
    status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  },
};

const base = gatewayApiCrd(['v1', 'v1beta1']) as KubeObject & { spec: { versions: Array<Record<string, unknown>> } };
export const GATEWAY_HTTPROUTE_CRD: KubeObject = {
  ...base,
  spec: { ...base.spec, versions: base.spec.versions.map((v) => ({ ...v, schema: { openAPIV3Schema: schema } })) },
};
