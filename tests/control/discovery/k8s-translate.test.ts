import t from 'tap';
import { translateObjects, type SourceObject } from '../../../control/discovery/k8s-translate.ts';
import type { PendingWorkloadRecord, ResourceRecord, ServiceRecord, WorkloadRecord } from '../../../control/api/model.ts';

const opts = { trustDomain: 'example.org' };
const src = (...objects: unknown[]): SourceObject[] => objects.map((object, i) => ({ origin: `test.yaml#${i + 1}`, object }));

const meshedNs = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'weft.dev/mesh': 'enabled' } } };
const plainNs = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } };

interface PodOpts { ns?: string; name?: string; ip?: string | null; node?: string | null; sa?: string; ready?: boolean; phase?: string; annotations?: Record<string, string>; hostNetwork?: boolean }
function pod(o: PodOpts = {}): unknown {
  const name = o.name ?? 'api-1';
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: o.ns ?? 'shop', uid: `uid-${name}`, labels: { app: 'api' }, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { ...(o.node === null ? {} : { nodeName: o.node ?? 'node-a' }), ...(o.sa ? { serviceAccountName: o.sa } : {}), ...(o.hostNetwork ? { hostNetwork: true } : {}), containers: [{ name: 'c', image: 'x' }] },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.ip === null ? {} : { podIP: o.ip ?? '10.1.0.5' }),
      conditions: [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}
const workloads = (rs: ResourceRecord[]): WorkloadRecord[] => rs.filter((r): r is WorkloadRecord => r.kind === 'workload');

t.test('pods: table of meshing, skipping and identity rules', async (t) => {
  const cases: { name: string; objects: unknown[]; want: Partial<WorkloadRecord> | null }[] = [
    { name: 'meshed namespace → meshed, default SA', objects: [meshedNs, pod()], want: { key: 'shop/api-1', meshed: true, ready: true, serviceAccount: 'default', identity: 'spiffe://example.org/ns/shop/sa/default', node: 'node-a', ip: '10.1.0.5', uid: 'uid-api-1', labels: { app: 'api' } } },
    { name: 'named service account', objects: [meshedNs, pod({ sa: 'api' })], want: { serviceAccount: 'api', identity: 'spiffe://example.org/ns/shop/sa/api' } },
    { name: 'namespace without the label → not meshed', objects: [plainNs, pod({ ns: 'legacy' })], want: { key: 'legacy/api-1', meshed: false } },
    { name: 'namespace not declared → not meshed', objects: [pod({ ns: 'other' })], want: { meshed: false } },
    { name: 'opt-out annotation', objects: [meshedNs, pod({ annotations: { 'weft.dev/mesh': 'disabled' } })], want: { meshed: false } },
    { name: 'other annotation value keeps it meshed', objects: [meshedNs, pod({ annotations: { 'weft.dev/mesh': 'enabled' } })], want: { meshed: true } },
    { name: 'hostNetwork never meshed', objects: [meshedNs, pod({ hostNetwork: true })], want: { meshed: false } },
    { name: 'not ready', objects: [meshedNs, pod({ ready: false })], want: { ready: false, meshed: true } },
    { name: 'no IP → no workload (a pending one instead)', objects: [meshedNs, pod({ ip: null })], want: null },
    { name: 'not scheduled → skipped', objects: [meshedNs, pod({ node: null })], want: null },
    { name: 'Succeeded → skipped', objects: [meshedNs, pod({ phase: 'Succeeded' })], want: null },
    { name: 'Failed → skipped', objects: [meshedNs, pod({ phase: 'Failed' })], want: null },
  ];
  for (const c of cases) {
    const got = workloads(translateObjects(src(...c.objects), opts));
    if (c.want === null) t.same(got, [], c.name);
    else {
      t.equal(got.length, 1, c.name);
      t.match(got[0], c.want, c.name);
    }
  }
});

t.test('a scheduled pod without an address is a pending workload: enough for its agent to decide at CNI ADD', async (t) => {
  const pending = (rs: ResourceRecord[]): PendingWorkloadRecord[] => rs.filter((r): r is PendingWorkloadRecord => r.kind === 'pending-workload');
  const cases: { name: string; objects: unknown[]; want: PendingWorkloadRecord | null }[] = [
    {
      name: 'meshed namespace, named account',
      objects: [meshedNs, pod({ ip: null, sa: 'api', phase: 'Pending' })],
      want: { kind: 'pending-workload', key: 'shop/api-1', uid: 'uid-api-1', name: 'api-1', namespace: 'shop', node: 'node-a', serviceAccount: 'api', identity: 'spiffe://example.org/ns/shop/sa/api', labels: { app: 'api' }, meshed: true },
    },
    {
      name: 'unlabelled namespace: known, and known not meshed',
      objects: [plainNs, pod({ ns: 'legacy', ip: null, phase: 'Pending' })],
      want: { kind: 'pending-workload', key: 'legacy/api-1', uid: 'uid-api-1', name: 'api-1', namespace: 'legacy', node: 'node-a', serviceAccount: 'default', identity: 'spiffe://example.org/ns/legacy/sa/default', labels: { app: 'api' }, meshed: false },
    },
    { name: 'opt-out annotation → not meshed', objects: [meshedNs, pod({ ip: null, annotations: { 'weft.dev/mesh': 'disabled' } })], want: { kind: 'pending-workload', key: 'shop/api-1', uid: 'uid-api-1', name: 'api-1', namespace: 'shop', node: 'node-a', serviceAccount: 'default', identity: 'spiffe://example.org/ns/shop/sa/default', labels: { app: 'api' }, meshed: false } },
    { name: 'not scheduled → nothing', objects: [meshedNs, pod({ ip: null, node: null })], want: null },
    { name: 'finished before it had an address → nothing', objects: [meshedNs, pod({ ip: null, phase: 'Failed' })], want: null },
    { name: 'with an address → a workload, no pending record', objects: [meshedNs, pod()], want: null },
  ];
  for (const c of cases) {
    const got = pending(translateObjects(src(...c.objects), opts));
    t.same(got, c.want === null ? [] : [c.want], c.name);
  }
  const deleting = pod({ ip: null }) as { metadata: Record<string, unknown> };
  deleting.metadata.deletionTimestamp = '2026-12-07T00:00:00Z';
  t.same(translateObjects(src(meshedNs, deleting), opts).filter((r) => r.kind === 'pending-workload' || r.kind === 'workload'), [], 'a pod deleted before it had an address: nothing');
});

t.test('services: named and numeric ports, defaults, headless', async (t) => {
  const svc = (name: string, spec: unknown): unknown => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec });
  const rs = translateObjects(src(
    svc('web', { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' },
      { name: 'grpc', port: 9090, targetPort: 'grpc-port' },
      { name: 'metrics', port: 9100 },
      { name: 'dns', port: 53, targetPort: '5353', protocol: 'UDP' },
    ] }),
    svc('db', { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] }),
  ), opts) as ServiceRecord[];
  t.same(rs.map((r) => r.key), ['shop/db', 'shop/web'], 'sorted by resource id');
  const [db, web] = rs;
  t.same(web, {
    kind: 'service', key: 'shop/web', name: 'web', namespace: 'shop', clusterIP: '10.96.0.10', selector: { app: 'web' },
    ports: [
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', appProtocol: 'http' },
      { name: 'grpc', port: 9090, targetPort: 'grpc-port', protocol: 'TCP' },
      { name: 'metrics', port: 9100, targetPort: 9100, protocol: 'TCP' },
      { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
    ],
  });
  t.equal(db.clusterIP, null, 'headless');
  t.same(db.ports, [{ port: 5432, targetPort: 5432, protocol: 'TCP' }]);
});

t.test('nodes, service accounts and Lists', async (t) => {
  const rs = translateObjects(src({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'Hostname', address: 'a' }, { type: 'InternalIP', address: '192.168.1.10' }] } },
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' }, status: { addresses: [{ type: 'Hostname', address: 'b' }] } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop' } },
    ],
  }), opts);
  t.same(rs, [{ kind: 'node', key: 'node-a', name: 'node-a', address: '192.168.1.10' }], 'node without InternalIP skipped, SA accepted');
});

t.test('pods: named TCP container ports are carried for named target ports; other ports are not', async (t) => {
  const withPorts = (containers: unknown[]): unknown => {
    const p = pod() as { spec: Record<string, unknown> };
    return { ...p, spec: { ...p.spec, containers } };
  };
  const [w] = workloads(translateObjects(src(meshedNs, withPorts([
    { name: 'app', image: 'x', ports: [{ name: 'http', containerPort: 8080 }, { name: 'grpc', containerPort: 50051, protocol: 'TCP' }, { containerPort: 9999 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] },
    { name: 'side', image: 'y', ports: [{ name: 'metrics', containerPort: 9100 }] },
  ])), opts));
  t.same(w.namedPorts, { http: 8080, grpc: 50051, metrics: 9100 }, 'every container\'s named TCP ports; unnamed and UDP ones left out');
  const [plain] = workloads(translateObjects(src(meshedNs, pod()), opts));
  t.notOk('namedPorts' in plain, 'a pod that names no port has no field');
  t.throws(() => translateObjects(src(meshedNs, withPorts([{ name: 'app', ports: [{ name: 'http', containerPort: 70000 }] }])), opts),
    { code: 'WEFT_ERR_SOURCE_INVALID', message: /spec\.containers\[0\]\.ports\[0\]\.containerPort must be an integer/ });
});

t.test('invalid input names the object and the field', async (t) => {
  const cases: { name: string; objects: unknown[]; message: RegExp }[] = [
    { name: 'not an object', objects: ['hello'], message: /test\.yaml#1: not a Kubernetes object/ },
    { name: 'unknown kind', objects: [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } }], message: /Deployment "default\/d".*unknown kind/ },
    { name: 'wrong apiVersion', objects: [{ apiVersion: 'v2', kind: 'Pod', metadata: { name: 'p' } }], message: /apiVersion must be v1/ },
    { name: 'missing name', objects: [{ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: {} }], message: /Service "\(unnamed\)": metadata.name is required/ },
    { name: 'pod without uid', objects: [{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {} }], message: /Pod "default\/p": metadata.uid is required/ },
    { name: 'bad port', objects: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'x' }, spec: { ports: [{ port: 'http' }] } }], message: /test\.yaml#1: Service "x\/s": spec.ports\[0\].port must be an integer/ },
    { name: 'label not a string', objects: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n', labels: { 'weft.dev/mesh': true } } }], message: /metadata.labels.weft.dev\/mesh must be a string/ },
    { name: 'duplicate', objects: [meshedNs, meshedNs], message: /test\.yaml#2: Namespace "shop": defined twice \(first in test\.yaml#1\)/ },
    { name: 'two meshed pods on one IP', objects: [meshedNs, pod({ name: 'a' }), pod({ name: 'b' })], message: /10\.1\.0\.5 is also the IP of meshed pod shop\/a/ },
    { name: 'bad item in a List', objects: [{ apiVersion: 'v1', kind: 'List', items: [42] }], message: /test\.yaml#1 items\[0\]: not a Kubernetes object/ },
  ];
  for (const c of cases) {
    t.throws(() => translateObjects(src(...c.objects), opts), { code: 'WEFT_ERR_SOURCE_INVALID', message: c.message }, c.name);
  }
});
