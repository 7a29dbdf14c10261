// The Gateway API HTTPRoute CRD for the real-API-server tests. The upstream CRD bundle is not
// vendored in this repository (Gateway API is optional for Weft), so this is a written-down
// stand-in: same group, kind, plural, versions (v1 storage, v1beta1 served) and the defaults the
// upstream schema sets on the fields Weft reads — parentRefs default to group
// gateway.networking.k8s.io kind Gateway (so a mesh route must say `group: "", kind: Service`, as
// in a real cluster), backendRefs to the core Service with weight 1, and a rule without matches to
// PathPrefix "/", and the approval annotation a k8s.io group needs. Everything else is kept as written (x-kubernetes-preserve-unknown-fields).
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

export const GATEWAY_HTTPROUTE_CRD: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'httproutes.gateway.networking.k8s.io', annotations: { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/gateway-api/pull/2466', 'weft.dev/test-stand-in': 'Gateway API HTTPRoute (v1 storage, v1beta1 served)' } },
  spec: {
    group: 'gateway.networking.k8s.io',
    names: { kind: 'HTTPRoute', listKind: 'HTTPRouteList', plural: 'httproutes', singular: 'httproute' },
    scope: 'Namespaced',
    versions: [
      { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema }, subresources: { status: {} } },
      { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: schema }, subresources: { status: {} } },
    ],
  },
};
