// Pure parts of how refused Kubernetes objects and optional CRDs are handled: which served version
// an informer watches, how the agent checks the `refused` record, and what `weft check` says of it.
import t from 'tap';
import { chooseVersion, CUSTOM_KINDS, type ProbeAnswer } from '../../../control/discovery/crd-watch.ts';
import { checkRecord } from '../../../agent/state/record-check.ts';
import { refusedChecks } from '../../../agent/cli/check.ts';

t.test('chooseVersion: the most preferred served version', async (t) => {
  const cases: Array<[string, string[], Array<[string, ProbeAnswer]>, string | null]> = [
    ['v1 served', ['v1', 'v1beta1'], [['v1', 'served']], 'v1'],
    ['only v1beta1', ['v1', 'v1beta1'], [['v1', 'absent'], ['v1beta1', 'served']], 'v1beta1'],
    ['both served: v1', ['v1', 'v1beta1'], [['v1', 'served'], ['v1beta1', 'served']], 'v1'],
    ['none served', ['v1', 'v1beta1'], [['v1', 'absent'], ['v1beta1', 'absent']], null],
    ['not probed yet', ['v1alpha1'], [], null],
    ['a served version we do not understand is ignored', ['v1'], [['v2', 'served']], null],
  ];
  for (const [name, versions, answers, want] of cases) t.equal(chooseVersion(versions, new Map(answers)), want, name);
});

t.test('the custom kinds are every kind the file source reads beyond the built-in ones', async (t) => {
  t.same(CUSTOM_KINDS.map((c) => `${c.group}/${c.plural}: ${c.versions.join(',')}`), [
    'weft.dev/authorizationpolicies: v1alpha1',
    'weft.dev/meshpolicies: v1alpha1',
    'gateway.networking.k8s.io/httproutes: v1,v1beta1',
  ]);
});

t.test('the agent accepts a well-formed refused record and nothing else', async (t) => {
  const ok = { kind: 'refused', key: 'discovery', objects: [{ kind: 'AuthorizationPolicy', namespace: 'shop', name: 'deny', reason: 'bad CIDR', inForce: 'last-good' }] };
  t.equal(checkRecord(ok), null);
  t.equal(checkRecord({ ...ok, objects: [] }), null);
  t.match(checkRecord({ ...ok, objects: 'x' }), /objects must be a list/);
  t.match(checkRecord({ ...ok, objects: [{ kind: 'Node', namespace: '', name: 'n', reason: 'r', inForce: 'maybe' }] }), /inForce must be/);
  t.match(checkRecord({ ...ok, objects: [{ kind: 'Node', name: 'n', reason: 'r', inForce: 'none' }] }), /needs a kind, a namespace/);
});

t.test('weft check: ok with none refused, one warning per refused object', async (t) => {
  t.match(refusedChecks([]), [{ group: 'control', status: 'ok' }]);
  const rows = refusedChecks([
    { kind: 'AuthorizationPolicy', namespace: 'shop', name: 'deny', reason: 'ipBlocks[0] is not a CIDR', inForce: 'last-good' },
    { kind: 'Node', namespace: '', name: 'n9', reason: 'bad address', inForce: 'none' },
  ]);
  t.same(rows.map((r) => [r.name, r.status]), [['refused AuthorizationPolicy shop/deny', 'warn'], ['refused Node n9', 'warn']]);
  t.match(rows[0].detail, /not a CIDR.*last good version stays in force/);
  t.match(rows[1].detail, /not applied at all/);
});
