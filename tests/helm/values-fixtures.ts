// Values for the chart tests: one set that changes every documented option from its default (the
// render test proves each is accepted and rendered), and helpers to walk the schema's options.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART } from './chart.ts';

// Shaped like PEM (the schema checks the armour); the chart never parses it.
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBfixtureonlyAAAA\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHfixtureonlyAAAA\n-----END PRIVATE KEY-----\n';

export const ALL_OPTIONS = {
  trustDomain: 'mesh.example.org',
  logLevel: 'debug',
  pathNormalization: 'decode-and-merge-slashes',
  image: { registry: 'registry.local:5000/weft', tag: '0.2.0-rc.1', pullPolicy: 'Always', pullSecrets: ['regcred'] },
  namespace: { create: true, labels: { team: 'platform' } },
  crds: { install: true },
  redirect: { scope: 'node', cni: { binDir: '/home/kubernetes/bin', confDir: '/etc/cni/conf.d' } },
  trustAnchor: { secretName: 'mesh-root', bundleConfigMapName: 'mesh-root-bundle', certPem: CERT, keyPem: KEY },
  control: {
    replicas: 3,
    image: { repository: 'weft/control' },
    certTtlSeconds: 3600,
    certMaxTtlSeconds: 86400,
    antiAffinity: 'hard',
    podDisruptionBudget: { enabled: true, minAvailable: 2 },
    resources: { requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: 2, memory: '1Gi' } },
    nodeSelector: { 'node-role.kubernetes.io/control-plane': '' },
    tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
    podAnnotations: { 'example.org/owner': 'mesh' },
    dashboard: { enabled: true, port: 9084 },
  },
  agent: {
    image: { repository: 'weft/agent' },
    redirectMode: 'ebpf',
    drainMs: 30000,
    terminationMarginSeconds: 15,
    workers: 4,
    proxyInline: 'always',
    maxConnectionsPerWorkload: 20000,
    maxPendingRequestsPerWorkload: 0,
    maxHeldBytesPerWorkload: 8388608,
    l7H2Engine: 'node',
    l7H1Engine: 'node',
    certTtlSeconds: 7200,
    maxUnavailable: '20%',
    adminPort: 15120,
    metricsPort: 15190,
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '4', memory: '2Gi' } },
    nodeSelector: { 'weft.dev/node': 'true' },
    tolerations: [{ operator: 'Exists', effect: 'NoExecute' }],
    priorityClassName: 'mesh-critical',
    podAnnotations: { 'example.org/owner': 'mesh' },
  },
  telemetry: {
    queryValues: 'full',
    otlp: { endpoint: 'http://otel-collector.monitoring:4317', protocol: 'grpc', tracesSampleRatio: 0.5 },
    serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prometheus' } },
  },
};

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; $ref?: string; additionalProperties?: unknown; description?: string; items?: Schema; [k: string]: unknown };

export function loadSchema(): Schema {
  return JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Schema;
}

/** The schema node a `$ref` or plain node stands for. */
export function resolve(root: Schema, node: Schema): Schema {
  if (node.$ref === undefined) return node;
  const target = node.$ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], root) as Schema;
  // A description beside a $ref documents this use of the definition.
  return { ...target, description: node.description ?? target.description };
}

/** Dotted paths of every option: objects with fixed properties are walked, anything else is a leaf. */
export function optionPaths(root: Schema, node: Schema = root, prefix = ''): { path: string; node: Schema }[] {
  const n = resolve(root, node);
  if (n.properties === undefined) return [{ path: prefix, node: n }];
  return Object.entries(n.properties).flatMap(([k, child]) => optionPaths(root, child, prefix === '' ? k : `${prefix}.${k}`));
}

export function get(values: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o === undefined || o === null ? undefined : (o as Record<string, unknown>)[k]), values);
}
