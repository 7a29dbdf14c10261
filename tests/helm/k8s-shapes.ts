// Hand-written structural schemas for every Kubernetes kind the chart emits, written from the
// Kubernetes API reference: known apiVersion/kind, required fields, field types, and no unknown
// fields (a misspelt `readinesProbe` is an error, where the API server would silently drop it).
// Deliberately compact: only the fields the chart uses or may reasonably use are listed.

export type Shape =
  | 'string' | 'int' | 'number' | 'bool' | 'int-or-string' | 'string-map' | 'any'
  | { enum: readonly (string | number | boolean)[] }
  | { array: Shape; minItems?: number }
  | { object: Record<string, Shape>; required?: readonly string[]; oneOf?: readonly string[] };

const obj = (object: Record<string, Shape>, required: readonly string[] = [], oneOf?: readonly string[]): Shape => ({ object, required, oneOf });
const arr = (array: Shape, minItems = 0): Shape => ({ array, minItems });
const oneOfEnum = (...values: (string | number | boolean)[]): Shape => ({ enum: values });

const metadata = obj({ name: 'string', namespace: 'string', labels: 'string-map', annotations: 'string-map' }, ['name']);
const namespacedMeta = obj({ name: 'string', namespace: 'string', labels: 'string-map', annotations: 'string-map' }, ['name', 'namespace']);
const labelSelector = obj({
  matchLabels: 'string-map',
  matchExpressions: arr(obj({ key: 'string', operator: oneOfEnum('In', 'NotIn', 'Exists', 'DoesNotExist'), values: arr('string') }, ['key', 'operator'])),
});

const httpGet = obj({ path: 'string', port: 'int-or-string', host: 'string', scheme: oneOfEnum('HTTP', 'HTTPS'), httpHeaders: arr(obj({ name: 'string', value: 'string' }, ['name', 'value'])) }, ['port']);
const probe = obj({
  httpGet, tcpSocket: obj({ port: 'int-or-string', host: 'string' }, ['port']), exec: obj({ command: arr('string', 1) }, ['command']), grpc: obj({ port: 'int', service: 'string' }, ['port']),
  initialDelaySeconds: 'int', periodSeconds: 'int', timeoutSeconds: 'int', failureThreshold: 'int', successThreshold: 'int', terminationGracePeriodSeconds: 'int',
}, [], ['httpGet', 'tcpSocket', 'exec', 'grpc']);
const fieldRef = obj({ fieldPath: 'string', apiVersion: 'string' }, ['fieldPath']);
const envVar = obj({
  name: 'string', value: 'string',
  valueFrom: obj({ fieldRef, secretKeyRef: obj({ name: 'string', key: 'string', optional: 'bool' }, ['key']), configMapKeyRef: obj({ name: 'string', key: 'string', optional: 'bool' }, ['key']), resourceFieldRef: obj({ resource: 'string', containerName: 'string', divisor: 'int-or-string' }, ['resource']) }),
}, ['name']);
const quantityMap = obj({ cpu: 'int-or-string', memory: 'int-or-string', 'ephemeral-storage': 'int-or-string' });
const containerSecurity = obj({
  runAsUser: 'int', runAsGroup: 'int', runAsNonRoot: 'bool', privileged: 'bool', allowPrivilegeEscalation: 'bool', readOnlyRootFilesystem: 'bool',
  capabilities: obj({ add: arr('string'), drop: arr('string') }),
  seccompProfile: obj({ type: oneOfEnum('RuntimeDefault', 'Unconfined', 'Localhost'), localhostProfile: 'string' }, ['type']),
});
export const CAPABILITY = /^[A-Z_]+$/;
const container = obj({
  name: 'string', image: 'string', imagePullPolicy: oneOfEnum('Always', 'IfNotPresent', 'Never'), command: arr('string'), args: arr('string'),
  env: arr(envVar), envFrom: arr(obj({ configMapRef: obj({ name: 'string', optional: 'bool' }, ['name']), secretRef: obj({ name: 'string', optional: 'bool' }, ['name']), prefix: 'string' })),
  ports: arr(obj({ name: 'string', containerPort: 'int', hostPort: 'int', protocol: oneOfEnum('TCP', 'UDP', 'SCTP') }, ['containerPort'])),
  readinessProbe: probe, livenessProbe: probe, startupProbe: probe,
  resources: obj({ requests: quantityMap, limits: quantityMap }),
  securityContext: containerSecurity,
  volumeMounts: arr(obj({ name: 'string', mountPath: 'string', readOnly: 'bool', subPath: 'string', mountPropagation: oneOfEnum('None', 'HostToContainer', 'Bidirectional') }, ['name', 'mountPath'])),
}, ['name', 'image']);
const keyToPath = obj({ key: 'string', path: 'string', mode: 'int' }, ['key', 'path']);
const volume = obj({
  name: 'string',
  configMap: obj({ name: 'string', items: arr(keyToPath), defaultMode: 'int', optional: 'bool' }, ['name']),
  secret: obj({ secretName: 'string', items: arr(keyToPath), defaultMode: 'int', optional: 'bool' }, ['secretName']),
  emptyDir: obj({ medium: 'string', sizeLimit: 'int-or-string' }),
  hostPath: obj({ path: 'string', type: oneOfEnum('', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice') }, ['path']),
  projected: obj({
    sources: arr(obj({
      serviceAccountToken: obj({ audience: 'string', expirationSeconds: 'int', path: 'string' }, ['path']),
      configMap: obj({ name: 'string', items: arr(keyToPath) }, ['name']),
      secret: obj({ name: 'string', items: arr(keyToPath) }, ['name']),
    }), 1),
    defaultMode: 'int',
  }, ['sources']),
}, ['name'], ['configMap', 'secret', 'emptyDir', 'hostPath', 'projected']);
const toleration = obj({ key: 'string', operator: oneOfEnum('Exists', 'Equal'), value: 'string', effect: oneOfEnum('', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'), tolerationSeconds: 'int' });
const affinityTerm = obj({ topologyKey: 'string', labelSelector, namespaces: arr('string') }, ['topologyKey']);
const podSpec = obj({
  serviceAccountName: 'string', automountServiceAccountToken: 'bool', hostNetwork: 'bool', hostPID: 'bool',
  dnsPolicy: oneOfEnum('ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'),
  priorityClassName: 'string', terminationGracePeriodSeconds: 'int', nodeSelector: 'string-map', tolerations: arr(toleration),
  imagePullSecrets: arr(obj({ name: 'string' }, ['name'])),
  securityContext: obj({ runAsUser: 'int', runAsGroup: 'int', runAsNonRoot: 'bool', fsGroup: 'int', seccompProfile: obj({ type: 'string' }, ['type']) }),
  affinity: obj({
    podAntiAffinity: obj({
      requiredDuringSchedulingIgnoredDuringExecution: arr(affinityTerm, 1),
      preferredDuringSchedulingIgnoredDuringExecution: arr(obj({ weight: 'int', podAffinityTerm: affinityTerm }, ['weight', 'podAffinityTerm']), 1),
    }),
  }),
  containers: arr(container, 1),
  volumes: arr(volume),
}, ['containers']);
const podTemplate = obj({ metadata: obj({ labels: 'string-map', annotations: 'string-map' }, ['labels']), spec: podSpec }, ['metadata', 'spec']);
const servicePort = obj({ name: 'string', port: 'int', targetPort: 'int-or-string', protocol: oneOfEnum('TCP', 'UDP', 'SCTP'), appProtocol: 'string' }, ['port']);

// JSON schema as used inside CRDs (a loose but structural check: only known keywords).
const jsonSchemaKeywords: Record<string, Shape> = {
  type: 'string', description: 'string', enum: arr('any'), default: 'any', pattern: 'string', minLength: 'int', maxLength: 'int', minimum: 'number', maximum: 'number',
  required: arr('string'), items: 'any', properties: 'any', additionalProperties: 'any', format: 'string', minItems: 'int', maxItems: 'int',
  'x-kubernetes-validations': arr(obj({ rule: 'string', message: 'string' }, ['rule'])), 'x-kubernetes-preserve-unknown-fields': 'bool',
};
export const JSON_SCHEMA_KEYWORDS = new Set(Object.keys(jsonSchemaKeywords));

const rule = obj({ apiGroups: arr('string', 1), resources: arr('string', 1), verbs: arr(oneOfEnum('get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', '*'), 1), resourceNames: arr('string') }, ['apiGroups', 'resources', 'verbs']);

/** Shapes by "apiVersion kind". */
export const KINDS: Record<string, Shape> = {
  'v1 Namespace': obj({ apiVersion: 'string', kind: 'string', metadata }, ['metadata']),
  'v1 ServiceAccount': obj({ apiVersion: 'string', kind: 'string', metadata: namespacedMeta, automountServiceAccountToken: 'bool', imagePullSecrets: arr(obj({ name: 'string' }, ['name'])) }, ['metadata']),
  'v1 ConfigMap': obj({ apiVersion: 'string', kind: 'string', metadata: namespacedMeta, data: 'string-map' }, ['metadata']),
  'v1 Secret': obj({ apiVersion: 'string', kind: 'string', metadata: namespacedMeta, type: 'string', data: 'string-map', stringData: 'string-map' }, ['metadata']),
  'v1 Service': obj({
    apiVersion: 'string', kind: 'string', metadata: namespacedMeta,
    spec: obj({ type: oneOfEnum('ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'), clusterIP: 'string', selector: 'string-map', ports: arr(servicePort, 1) }, ['ports']),
  }, ['metadata', 'spec']),
  'apps/v1 Deployment': obj({
    apiVersion: 'string', kind: 'string', metadata: namespacedMeta,
    spec: obj({ replicas: 'int', selector: labelSelector, strategy: obj({ type: oneOfEnum('RollingUpdate', 'Recreate'), rollingUpdate: obj({ maxSurge: 'int-or-string', maxUnavailable: 'int-or-string' }) }), template: podTemplate }, ['selector', 'template']),
  }, ['metadata', 'spec']),
  'apps/v1 DaemonSet': obj({
    apiVersion: 'string', kind: 'string', metadata: namespacedMeta,
    spec: obj({ selector: labelSelector, updateStrategy: obj({ type: oneOfEnum('RollingUpdate', 'OnDelete'), rollingUpdate: obj({ maxSurge: 'int-or-string', maxUnavailable: 'int-or-string' }) }), template: podTemplate }, ['selector', 'template']),
  }, ['metadata', 'spec']),
  'policy/v1 PodDisruptionBudget': obj({
    apiVersion: 'string', kind: 'string', metadata: namespacedMeta,
    spec: obj({ minAvailable: 'int-or-string', maxUnavailable: 'int-or-string', selector: labelSelector }, ['selector']),
  }, ['metadata', 'spec']),
  'rbac.authorization.k8s.io/v1 ClusterRole': obj({ apiVersion: 'string', kind: 'string', metadata, rules: arr(rule, 1) }, ['metadata', 'rules']),
  'rbac.authorization.k8s.io/v1 ClusterRoleBinding': obj({
    apiVersion: 'string', kind: 'string', metadata,
    roleRef: obj({ apiGroup: 'string', kind: oneOfEnum('ClusterRole', 'Role'), name: 'string' }, ['apiGroup', 'kind', 'name']),
    subjects: arr(obj({ kind: oneOfEnum('ServiceAccount', 'User', 'Group'), name: 'string', namespace: 'string', apiGroup: 'string' }, ['kind', 'name']), 1),
  }, ['metadata', 'roleRef', 'subjects']),
  'apiextensions.k8s.io/v1 CustomResourceDefinition': obj({
    apiVersion: 'string', kind: 'string', metadata,
    spec: obj({
      group: 'string', scope: oneOfEnum('Namespaced', 'Cluster'),
      names: obj({ kind: 'string', listKind: 'string', plural: 'string', singular: 'string', shortNames: arr('string'), categories: arr('string') }, ['kind', 'plural']),
      versions: arr(obj({
        name: 'string', served: 'bool', storage: 'bool',
        schema: obj({ openAPIV3Schema: 'any' }, ['openAPIV3Schema']),
        subresources: obj({ status: 'any', scale: 'any' }),
        additionalPrinterColumns: arr(obj({ name: 'string', type: oneOfEnum('string', 'integer', 'number', 'boolean', 'date'), jsonPath: 'string', description: 'string', priority: 'int', format: 'string' }, ['name', 'type', 'jsonPath'])),
      }, ['name', 'served', 'storage', 'schema']), 1),
    }, ['group', 'scope', 'names', 'versions']),
  }, ['metadata', 'spec']),
  'monitoring.coreos.com/v1 ServiceMonitor': obj({
    apiVersion: 'string', kind: 'string', metadata: namespacedMeta,
    spec: obj({
      selector: labelSelector, namespaceSelector: obj({ matchNames: arr('string'), any: 'bool' }),
      endpoints: arr(obj({ port: 'string', path: 'string', interval: 'string', scheme: oneOfEnum('http', 'https'), scrapeTimeout: 'string' }), 1),
    }, ['selector', 'endpoints']),
  }, ['metadata', 'spec']),
};

/** Every structural problem of `value` against `shape`, with a JSON path. */
export function check(value: unknown, shape: Shape, path = '$'): string[] {
  if (shape === 'any') return [];
  if (shape === 'string') return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
  if (shape === 'bool') return typeof value === 'boolean' ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
  if (shape === 'number') return typeof value === 'number' ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`];
  if (shape === 'int') return Number.isInteger(value) ? [] : [`${path}: expected an integer, got ${JSON.stringify(value)}`];
  if (shape === 'int-or-string') return Number.isInteger(value) || (typeof value === 'string' && value !== '') ? [] : [`${path}: expected an integer or a string, got ${JSON.stringify(value)}`];
  if (shape === 'string-map') {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map of strings`];
    return Object.entries(value).filter(([, v]) => typeof v !== 'string').map(([k, v]) => `${path}.${k}: expected a string value, got ${JSON.stringify(v)}`);
  }
  if ('enum' in shape) return shape.enum.includes(value as string) ? [] : [`${path}: ${JSON.stringify(value)} is not one of ${shape.enum.join(', ')}`];
  if ('array' in shape) {
    if (!Array.isArray(value)) return [`${path}: expected an array, got ${JSON.stringify(value)}`];
    const errs = value.length < (shape.minItems ?? 0) ? [`${path}: needs at least ${shape.minItems} item(s)`] : [];
    return errs.concat(value.flatMap((v, i) => check(v, shape.array, `${path}[${i}]`)));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object, got ${JSON.stringify(value)}`];
  const o = value as Record<string, unknown>;
  const errs: string[] = [];
  for (const r of shape.required ?? []) if (!(r in o)) errs.push(`${path}: missing required field ${r}`);
  if (shape.oneOf !== undefined) {
    const present = shape.oneOf.filter((k) => k in o);
    if (present.length !== 1) errs.push(`${path}: needs exactly one of ${shape.oneOf.join(', ')} (has ${present.join(', ') || 'none'})`);
  }
  for (const [k, v] of Object.entries(o)) {
    const s = shape.object[k];
    if (s === undefined) errs.push(`${path}.${k}: unknown field`);
    else errs.push(...check(v, s, `${path}.${k}`));
  }
  return errs;
}

/** Walks a CRD's openAPIV3Schema: known keywords only, every node typed or preserving unknowns. */
export function checkCrdSchema(node: unknown, path = '$'): string[] {
  if (node === null || typeof node !== 'object') return [`${path}: schema node must be an object`];
  const n = node as Record<string, unknown>;
  const errs: string[] = [];
  for (const k of Object.keys(n)) if (!JSON_SCHEMA_KEYWORDS.has(k)) errs.push(`${path}.${k}: not a structural-schema keyword`);
  if (typeof n.type !== 'string' && n['x-kubernetes-preserve-unknown-fields'] !== true) errs.push(`${path}: structural schemas need a type`);
  for (const [k, v] of Object.entries((n.properties ?? {}) as Record<string, unknown>)) errs.push(...checkCrdSchema(v, `${path}.${k}`));
  if (n.items !== undefined) errs.push(...checkCrdSchema(n.items, `${path}[]`));
  if (typeof n.additionalProperties === 'object') errs.push(...checkCrdSchema(n.additionalProperties, `${path}{}`));
  if (n.type === 'object' && n.properties === undefined && n.additionalProperties === undefined && n['x-kubernetes-preserve-unknown-fields'] !== true && path !== '$.metadata') {
    errs.push(`${path}: an object with neither properties nor additionalProperties drops every field`);
  }
  return errs;
}
