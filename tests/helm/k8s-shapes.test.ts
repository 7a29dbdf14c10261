// The structural checker must itself catch the mistakes it exists for, or a green render test
// proves nothing: each case breaks one thing in an otherwise valid rendered object.
import t from 'tap';
import { find, render, validate, type K8sObject } from './chart.ts';

const base = render();
const clone = (): K8sObject[] => structuredClone(base);
// Tests break rendered objects in arbitrary places: untyped access is the point here.
type Any = Record<string, any>;
const agentPod = (objs: K8sObject[]): Any => (find(objs, 'DaemonSet', 'weft-agent').spec as Any).template.spec;

const cases: Array<[string, (objs: K8sObject[]) => void, RegExp]> = [
  ['a misspelt container field', (o) => { const c = agentPod(o).containers[0]; c.readinesProbe = c.readinessProbe; delete c.readinessProbe; }, /readinesProbe: unknown field/],
  ['a probe with two handlers', (o) => { agentPod(o).containers[0].livenessProbe.tcpSocket = { port: 15020 }; }, /livenessProbe: needs exactly one of/],
  ['a probe port that is no container port', (o) => { agentPod(o).containers[0].livenessProbe.httpGet.port = 9999; }, /probe port 9999/],
  ['a mount of a missing volume', (o) => { agentPod(o).containers[0].volumeMounts.push({ name: 'nope', mountPath: '/x' }); }, /unknown volume nope/],
  ['a container without image', (o) => { delete agentPod(o).containers[0].image; }, /missing required field image/],
  ['a string where an integer belongs', (o) => { agentPod(o).terminationGracePeriodSeconds = '15'; }, /terminationGracePeriodSeconds: expected an integer/],
  ['an unknown kind', (o) => { o[0].apiVersion = 'policy/v1beta1'; }, /unknown apiVersion\/kind/],
  ['a selector that does not match the template', (o) => { (find(o, 'DaemonSet', 'weft-agent').spec as Any).selector.matchLabels['app.kubernetes.io/name'] = 'other'; }, /does not match the pod template/],
  ['a Service targeting an unknown port name', (o) => { (find(o, 'Service', 'weft-control').spec as Any).ports[0].targetPort = 'grpc'; }, /targetPort grpc/],
  ['a binding to a missing role', (o) => { (find(o, 'ClusterRoleBinding', 'weft-control') as Any).roleRef.name = 'gone'; }, /missing ClusterRole gone/],
  ['an untyped CRD schema node', (o) => { delete (find(o, 'CustomResourceDefinition', 'meshpolicies.weft.dev').spec as Any).versions[0].schema.openAPIV3Schema.properties.spec.properties.defaultInbound.type; }, /defaultInbound: structural schemas need a type/],
  ['a bad RBAC verb', (o) => { (find(o, 'ClusterRole', 'weft-control') as Any).rules[0].verbs.push('read'); }, /"read" is not one of/],
];

t.same(validate(base), [], 'the unbroken render is valid');
for (const [what, breakIt, expected] of cases) {
  const objs = clone();
  breakIt(objs);
  const errs = validate(objs);
  t.ok(errs.some((e) => expected.test(e)), `${what} is caught: ${errs.join('; ') || 'no error'}`);
}
