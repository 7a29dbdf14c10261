// helm template with default values and with every documented option: every object passes the
// structural Kubernetes check (tests/helm/k8s-shapes.ts) and the cross-object references hold;
// then the fields that matter for security and upgrades are asserted one by one.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHART, find, render, validate, type K8sObject } from './chart.ts';
import { ALL_OPTIONS, get, loadSchema, optionPaths } from './values-fixtures.ts';

const SWITCHED_OFF_ELSEWHERE = new Set(['crds.install', 'control.podDisruptionBudget.enabled', 'control.dashboard.enabled']);
const DEFAULTS = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as unknown;

interface Container {
  name: string;
  image: string;
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports: Array<{ name: string; containerPort: number }>;
  securityContext: { capabilities: { add?: string[]; drop: string[] }; privileged?: boolean; readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; runAsNonRoot?: boolean };
  readinessProbe: { httpGet: { path: string; port: number | string; host?: string; scheme?: string } };
  livenessProbe: { httpGet: { path: string; port: number | string; host?: string; scheme?: string } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}
interface PodSpec {
  hostNetwork?: boolean;
  dnsPolicy?: string;
  priorityClassName?: string;
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  serviceAccountName: string;
  tolerations?: Array<Record<string, string>>;
  securityContext?: { runAsNonRoot?: boolean };
  affinity?: { podAntiAffinity: Record<string, unknown> };
  containers: Container[];
  volumes: Array<{ name: string; hostPath?: { path: string; type?: string }; configMap?: { name: string }; secret?: { secretName: string }; projected?: { sources: Array<{ serviceAccountToken?: { audience: string; path: string; expirationSeconds: number } }> } }>;
}
const podSpec = (o: K8sObject): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec;
const env = (c: Container, name: string): string | undefined => c.env.find((e) => e.name === name)?.value;
const hostPaths = (p: PodSpec): string[] => p.volumes.flatMap((v) => (v.hostPath === undefined ? [] : [v.hostPath.path])).sort();

t.test('default values render valid manifests', async (t) => {
  const objs = render();
  t.same(validate(objs), [], 'every object is structurally valid and its references resolve');
  t.same(objs.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'CustomResourceDefinition', 'DaemonSet', 'Deployment', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount'], 'the expected objects, no Secret (the trust anchor is pre-created)');
});

t.test('every documented option renders valid manifests', async (t) => {
  const schema = loadSchema();
  for (const { path } of optionPaths(schema)) {
    t.not(get(ALL_OPTIONS, path), undefined, `the all-options fixture sets ${path}`);
    // Switches that default to on keep their objects here; 'optional objects' renders them off.
    if (!SWITCHED_OFF_ELSEWHERE.has(path)) t.notSame(get(ALL_OPTIONS, path), get(DEFAULTS, path), `and changes ${path} from its default`);
  }
  const objs = render(ALL_OPTIONS);
  t.same(validate(objs), [], 'every object is structurally valid and its references resolve');
  for (const kind of ['Namespace', 'Secret', 'ServiceMonitor']) t.ok(objs.some((o) => o.kind === kind), `${kind} rendered`);
  const ds = find(objs, 'DaemonSet', 'weft-agent');
  const agent = podSpec(ds).containers[0];
  t.equal(env(agent, 'WEFT_DRAIN_MS'), '30000');
  t.equal(podSpec(ds).terminationGracePeriodSeconds, 45, 'grace = ceil(30000 ms) + 15 s margin');
  t.equal(env(agent, 'WEFT_ADMIN_PORT'), '15120');
  t.equal(agent.readinessProbe.httpGet.port, 15120, 'probes follow the admin port');
  t.equal(env(agent, 'WEFT_CONTROL_CA_FILE'), '/etc/weft/trust/ca.crt');
  t.ok(podSpec(ds).volumes.some((v) => v.configMap?.name === 'mesh-root-bundle'), 'agents mount the renamed bundle');
  t.equal(agent.readinessProbe.httpGet.host, '127.0.0.1', 'admin stays on loopback with the ServiceMonitor on, and the probes with it');
  t.equal(env(agent, 'WEFT_ADMIN_HOST'), '127.0.0.1', 'admin is never bound to the node IP');
  t.same(agent.env.find((e) => e.name === 'HOST_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP');
  t.equal(env(agent, 'WEFT_METRICS_ADDRESS'), '$(HOST_IP):15190', 'the metrics port on the node IP (Kubernetes expands $(HOST_IP))');
  t.ok(agent.env.findIndex((e) => e.name === 'HOST_IP') < agent.env.findIndex((e) => e.name === 'WEFT_METRICS_ADDRESS'), 'defined before it is referenced, as expansion requires');
  t.same(agent.ports.map((p) => p.name), ['tcp-outbound', 'tcp-inbound', 'tls-hbone', 'http-admin', 'http-metrics'], 'the metrics port is declared too');
  t.equal((find(objs, 'ConfigMap', 'weft-mesh') as unknown as { data: Record<string, string> }).data.WEFT_TRUST_DOMAIN, 'mesh.example.org');
  t.equal((find(objs, 'ConfigMap', 'weft-mesh') as unknown as { data: Record<string, string> }).data.WEFT_PATH_NORMALIZATION, 'decode-and-merge-slashes', 'the path normalisation mode reaches every agent');
  const dep = find(objs, 'Deployment', 'weft-control');
  t.ok('requiredDuringSchedulingIgnoredDuringExecution' in (podSpec(dep).affinity?.podAntiAffinity ?? {}), 'hard anti-affinity');
  t.equal(podSpec(dep).containers[0].image, 'registry.local:5000/weft/weft/control:0.2.0-rc.1');
  t.equal((find(objs, 'Service', 'weft-dashboard').spec as { ports: Array<{ port: number }> }).ports[0].port, 9084);
});

t.test('agent DaemonSet: node-level privileges only as far as the mode needs', async (t) => {
  // Node scope first (the least a node can grant); pod scope, the default, adds what it needs below.
  const NODE = { redirect: { scope: 'node' } };
  t.equal(env(podSpec(find(render(), 'DaemonSet', 'weft-agent')).containers[0], 'WEFT_CAPTURE_SCOPE'), 'pod', 'pod scope by default');
  const iptables = podSpec(find(render(NODE), 'DaemonSet', 'weft-agent'));
  const c = iptables.containers[0];
  t.equal(iptables.hostNetwork, true, 'hostNetwork');
  t.equal(iptables.dnsPolicy, 'ClusterFirstWithHostNet', 'still resolves cluster DNS');
  t.same(c.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW'], 'iptables mode: NET_ADMIN and NET_RAW only');
  t.same(c.securityContext.capabilities.drop, ['ALL']);
  t.equal(c.securityContext.privileged, false, 'not privileged');
  t.equal(c.securityContext.allowPrivilegeEscalation, false);
  t.equal(c.securityContext.readOnlyRootFilesystem, true);
  t.same(hostPaths(iptables), ['/run/xtables.lock', '/var/run/weft'], 'iptables mode mounts no bpf or cgroup filesystem');
  t.equal(iptables.priorityClassName, 'system-node-critical');
  t.ok(iptables.tolerations?.some((x) => x.operator === 'Exists' && x.key === undefined && x.effect === undefined), 'tolerates every taint');
  t.equal(iptables.terminationGracePeriodSeconds, 15, 'grace = WEFT_DRAIN_MS (5 s) + 10 s margin');
  t.equal(env(c, 'WEFT_DRAIN_MS'), '5000');
  const nodeName = c.env.find((e) => e.name === 'WEFT_NODE_NAME');
  t.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', 'WEFT_NODE_NAME from the downward API');
  t.equal(iptables.automountServiceAccountToken, false, 'no Kubernetes API token');
  const tokenVol = iptables.volumes.find((v) => v.projected !== undefined);
  const sat = tokenVol?.projected?.sources[0].serviceAccountToken;
  t.equal(sat?.audience, 'weft-control', 'the credential is a projected token for audience weft-control');
  const mount = c.volumeMounts.find((m) => m.name === tokenVol?.name);
  t.equal(`${mount?.mountPath}/${sat?.path}`, env(c, 'WEFT_CREDENTIAL_FILE'), 'mounted exactly where WEFT_CREDENTIAL_FILE points');
  t.same([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path], ['/ready', '/healthz']);
  t.same([c.readinessProbe.httpGet.port, c.readinessProbe.httpGet.host], [15020, '127.0.0.1'], 'probes reach the loopback-only admin server');
  t.equal(env(c, 'WEFT_ADMIN_HOST'), '127.0.0.1');
  t.equal(c.env.find((e) => e.name === 'WEFT_METRICS_ADDRESS'), undefined, 'no metrics port without the ServiceMonitor');
  t.notOk(c.ports.some((p) => p.name === 'http-metrics'));
  t.equal(env(c, 'WEFT_QUERY_VALUES'), 'redacted', 'query values redacted by default');
  t.equal(env(c, 'WEFT_REDIRECT_MODE'), 'iptables');
  const strategy = (find(render(NODE), 'DaemonSet', 'weft-agent').spec as { updateStrategy: { type: string; rollingUpdate: { maxUnavailable: unknown } } }).updateStrategy;
  t.same(strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });

  const ebpf = podSpec(find(render({ ...NODE, agent: { redirectMode: 'ebpf' } }), 'DaemonSet', 'weft-agent'));
  t.same(ebpf.containers[0].securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW', 'BPF', 'SYS_ADMIN'], 'ebpf mode adds BPF and SYS_ADMIN');
  t.same(hostPaths(ebpf), ['/run/xtables.lock', '/sys/fs/bpf', '/sys/fs/cgroup', '/var/run/weft'], 'and mounts bpffs and the cgroup hierarchy');
  t.equal(env(ebpf.containers[0], 'WEFT_REDIRECT_MODE'), 'ebpf');
  t.equal(env(c, 'WEFT_CAPTURE_SCOPE'), 'node', 'node scope when asked');
  t.notOk((find(render(NODE), 'DaemonSet', 'weft-agent').spec as { template: { spec: { hostPID?: boolean } } }).template.spec.hostPID, 'no hostPID in node scope');

  const inpodDs = find(render({ redirect: { scope: 'pod', cni: { binDir: '/home/kubernetes/bin', confDir: '/etc/cni/net.d' } } }), 'DaemonSet', 'weft-agent');
  const inpod = podSpec(inpodDs);
  const ic = inpod.containers[0];
  t.equal(env(ic, 'WEFT_CAPTURE_SCOPE'), 'pod');
  t.ok((inpodDs.spec as { template: { spec: { hostPID?: boolean } } }).template.spec.hostPID, 'pod scope: hostPID for the /proc scan');
  t.same(ic.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'], 'pod scope adds SYS_ADMIN (setns) and nothing else');
  t.same(hostPaths(inpod), ['/etc/cni/net.d', '/home/kubernetes/bin', '/run/netns', '/run/xtables.lock', '/var/run/weft'], 'and mounts /run/netns and the CNI directories');
  const netnsMount = ic.volumeMounts.find((m) => m.mountPath === '/run/netns') as { mountPropagation?: string } | undefined;
  t.equal(netnsMount?.mountPropagation, 'HostToContainer', 'namespaces made after the agent started appear inside');
  t.same([env(ic, 'WEFT_CNI_BIN_DIR'), env(ic, 'WEFT_CNI_CONF_DIR')], ['/host/opt/cni/bin', '/host/etc/cni/net.d']);
  for (const [dir, path] of [['WEFT_CNI_BIN_DIR', '/home/kubernetes/bin'], ['WEFT_CNI_CONF_DIR', '/etc/cni/net.d']] as const) {
    const m = ic.volumeMounts.find((v) => v.mountPath === env(ic, dir));
    const vol = (inpod.volumes as Array<{ name: string; hostPath?: { path: string } }>).find((v) => v.name === m?.name);
    t.equal(vol?.hostPath?.path, path, `${dir} is the host's ${path}`);
  }
});

t.test('RBAC: control reads what discovery needs and reviews tokens; the agent gets nothing', async (t) => {
  const objs = render();
  const role = find(objs, 'ClusterRole', 'weft-control') as unknown as { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }> };
  const grants = role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g || 'core'}/${res}: ${[...r.verbs].sort().join(',')}`))).sort();
  t.same(grants, [
    'authentication.k8s.io/tokenreviews: create',
    'core/namespaces: list,watch',
    'core/nodes: list,watch',
    'core/pods: list,watch',
    'core/services: list,watch',
    'discovery.k8s.io/endpointslices: list,watch',
    'gateway.networking.k8s.io/httproutes: list,watch',
    'weft.dev/authorizationpolicies: list,watch',
    'weft.dev/meshpolicies: list,watch',
  ], 'exactly these grants (what the informers ask for: list and watch): no get, no secrets, no writes but TokenReview');
  const bindings = objs.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
  t.notOk(JSON.stringify(bindings).includes('weft-agent'), 'no binding names the agent ServiceAccount');
  t.equal((find(objs, 'ServiceAccount', 'weft-agent') as unknown as { automountServiceAccountToken: boolean }).automountServiceAccountToken, false);
});

t.test('control Deployment: replicas, disruption budget, probes, hardening', async (t) => {
  const objs = render();
  const dep = find(objs, 'Deployment', 'weft-control');
  t.equal((dep.spec as { replicas: number }).replicas, 2);
  const p = podSpec(dep);
  const c = p.containers[0];
  t.equal(p.securityContext?.runAsNonRoot, true, 'non-root');
  t.equal(c.securityContext.readOnlyRootFilesystem, true, 'read-only root filesystem');
  t.same(c.securityContext.capabilities.drop, ['ALL']);
  t.equal(c.securityContext.capabilities.add, undefined);
  t.same(c.readinessProbe.httpGet, { path: '/healthz', port: 'https-control', scheme: 'HTTPS' });
  t.same(c.livenessProbe.httpGet, { path: '/healthz', port: 'https-control', scheme: 'HTTPS' });
  t.ok(c.resources?.requests?.cpu !== undefined && c.resources?.limits?.memory !== undefined, 'resources set');
  t.ok('preferredDuringSchedulingIgnoredDuringExecution' in (p.affinity?.podAntiAffinity ?? {}), 'soft anti-affinity by default');
  t.same(p.volumes.find((v) => v.secret !== undefined)?.secret?.secretName, 'weft-trust-anchor', 'the CA Secret goes to control');
  t.notOk(JSON.stringify(podSpec(find(objs, 'DaemonSet', 'weft-agent')).volumes).includes('weft-trust-anchor'), 'and never to the agents');
  t.equal(env(c, 'WEFT_TOKEN_AUDIENCE'), 'weft-control', 'control checks the audience the agents\' tokens carry');
  t.equal((find(objs, 'PodDisruptionBudget', 'weft-control').spec as { minAvailable: number }).minAvailable, 1);
  const svc = (name: string): { type: string; ports: Array<{ port: number }> } => find(objs, 'Service', name).spec as { type: string; ports: Array<{ port: number }> };
  t.same([svc('weft-control').type, svc('weft-control').ports.map((x) => x.port)], ['ClusterIP', [15012]]);
  t.same([svc('weft-dashboard').type, svc('weft-dashboard').ports.map((x) => x.port)], ['ClusterIP', [8084]], 'dashboard is ClusterIP only');
});

t.test('CRDs: versioned, with schemas and printer columns, kept on uninstall', async (t) => {
  const objs = render();
  for (const [name, columns] of [['authorizationpolicies.weft.dev', ['Action', 'Service', 'Age']], ['meshpolicies.weft.dev', ['mTLS', 'Inbound', 'Age']]] as const) {
    const crd = find(objs, 'CustomResourceDefinition', name);
    const v = (crd.spec as { versions: Array<{ name: string; additionalPrinterColumns: Array<{ name: string }> }> }).versions;
    t.same(v.map((x) => x.name), ['v1alpha1'], `${name}: v1alpha1`);
    t.same(v[0].additionalPrinterColumns.map((x) => x.name), columns, `${name}: printer columns`);
    t.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep', `${name}: helm keeps it on uninstall`);
  }
  const authz = JSON.stringify(find(objs, 'CustomResourceDefinition', 'authorizationpolicies.weft.dev'));
  for (const s of ['"ALLOW","DENY","AUDIT"', 'identities', 'serviceAccounts', 'ipBlocks', 'unauthenticated', 'methods', 'prefix', 'exact', 'present', 'targetRef']) t.ok(authz.includes(s), `AuthorizationPolicy schema has ${s}`);
  const mesh = JSON.stringify(find(objs, 'CustomResourceDefinition', 'meshpolicies.weft.dev'));
  for (const s of ['"STRICT","PERMISSIVE"', '"allow","deny","authenticated-only"']) t.ok(mesh.includes(s), `MeshPolicy schema has ${s}`);
  t.notOk(render({ crds: { install: false } }).some((o) => o.kind === 'CustomResourceDefinition'), 'crds.install=false leaves them out');
});

t.test('optional objects follow their switches', async (t) => {
  const off = render({ control: { dashboard: { enabled: false }, podDisruptionBudget: { enabled: false } } });
  t.same(validate(off), []);
  t.notOk(off.some((o) => o.metadata.name === 'weft-dashboard'), 'no dashboard Service');
  t.notOk(off.some((o) => o.kind === 'PodDisruptionBudget'), 'no PDB');
  const sm = render({ telemetry: { serviceMonitor: { enabled: true } } });
  t.same(validate(sm), []);
  const monitor = find(sm, 'ServiceMonitor', 'weft-agent').spec as { endpoints: Array<{ port: string; path: string }>; selector: { matchLabels: Record<string, string> } };
  t.same(monitor.endpoints.map((e) => [e.port, e.path]), [['http-metrics', '/metrics']], 'scrapes the metrics port at /metrics');
  const metricsSvc = find(sm, 'Service', 'weft-agent-metrics');
  t.ok(Object.entries(monitor.selector.matchLabels).every(([k, v]) => metricsSvc.metadata.labels?.[k] === v), 'and selects the agents\' metrics Service');
  t.same((metricsSvc.spec as { ports: Array<{ name: string; port: number }> }).ports.map((p) => [p.name, p.port]), [['http-metrics', 15090]], 'the metrics port, not admin');
  const smAgent = podSpec(find(sm, 'DaemonSet', 'weft-agent')).containers[0];
  t.equal(env(smAgent, 'WEFT_ADMIN_HOST'), '127.0.0.1', 'admin stays on loopback');
  t.equal(env(smAgent, 'WEFT_METRICS_ADDRESS'), '$(HOST_IP):15090');
  t.equal(env(podSpec(find(render({ telemetry: { queryValues: 'full' } }), 'DaemonSet', 'weft-agent')).containers[0], 'WEFT_QUERY_VALUES'), 'full', 'telemetry.queryValues=full opts in');
  const otlp = render({ telemetry: { otlp: { endpoint: 'http://collector:4318' } } });
  const meshData = (find(otlp, 'ConfigMap', 'weft-mesh') as unknown as { data: Record<string, string> }).data;
  t.equal((find(render(), 'ConfigMap', 'weft-mesh') as unknown as { data: Record<string, string> }).data.WEFT_PATH_NORMALIZATION, 'merge-slashes', 'paths are normalised by default (the secure mode)');
  t.equal(meshData.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://collector:4318', 'the standard OTel SDK variable');
  t.equal(meshData.OTEL_TRACES_SAMPLER, 'parentbased_traceidratio');
  t.equal(meshData.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf', 'the encoding: the specification\'s default unless set');
  const grpc = render({ telemetry: { otlp: { endpoint: 'http://collector:4317', protocol: 'grpc' } } });
  t.equal((find(grpc, 'ConfigMap', 'weft-mesh') as unknown as { data: Record<string, string> }).data.OTEL_EXPORTER_OTLP_PROTOCOL, 'grpc', 'telemetry.otlp.protocol');
  const a1 = find(render(), 'DaemonSet', 'weft-agent').spec as { template: { metadata: { annotations: Record<string, string> } } };
  const a2 = find(otlp, 'DaemonSet', 'weft-agent').spec as { template: { metadata: { annotations: Record<string, string> } } };
  t.not(a1.template.metadata.annotations['checksum/mesh'], a2.template.metadata.annotations['checksum/mesh'], 'changing mesh settings rolls the agents');
});
