// AuthorizationPolicy / MeshPolicy objects → records, and every way an object is refused: the
// schema (shape), the meaning (CIDR, SPIFFE pattern, contradictions), and the whole-load refusal
// through translateObjects, so an invalid object is never half-applied.
import t from 'tap';
import { translateObjects } from '../../../control/discovery/k8s-translate.ts';
import { translatePolicyObject, type PolicyObject } from '../../../control/policy/translate-policy.ts';
import type { PolicyRecord } from '../../../control/api/model.ts';
import { parseCidr, parseIdentityPattern, matchIdentity, parseAddress, cidrContains } from '../../../control/api/policy-patterns.ts';

function ap(spec: unknown, name = 'p', namespace = 'demo', apiVersion = 'weft.dev/v1alpha1'): PolicyObject {
  return { origin: 'cluster.yaml#4', kind: 'AuthorizationPolicy', namespace, name, object: { apiVersion, kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec } };
}
function mesh(spec: unknown, name = 'm', namespace = 'demo'): PolicyObject {
  return { origin: 'cluster.yaml#5', kind: 'MeshPolicy', namespace, name, object: { apiVersion: 'weft.dev/v1alpha1', kind: 'MeshPolicy', metadata: { name, namespace }, spec } };
}

t.test('a full AuthorizationPolicy normalizes', async (t) => {
  const r = translatePolicyObject(ap({
    selector: { matchLabels: { app: 'server' } },
    action: 'DENY',
    rules: [{
      from: [{ identities: ['spiffe://cluster.local/ns/*/sa/web'], namespaces: ['prod'], serviceAccounts: ['demo/web', 'other/db'], ipBlocks: ['10.0.0.0/8', 'fd00:0:0::/8'] }, { unauthenticated: true }],
      to: [{ ports: [8080, 80, 8080], methods: ['GET'], paths: [{ exact: '/a' }, { prefix: '/b/' }], headers: [{ name: 'X-User' }, { name: 'x-debug', present: false }] }],
    }],
  }));
  t.same(r, {
    kind: 'policy', key: 'demo/p', name: 'p', namespace: 'demo', meshWide: false, action: 'DENY',
    target: { kind: 'selector', matchLabels: { app: 'server' } },
    rules: [{
      from: [{ identities: ['spiffe://cluster.local/ns/*/sa/web'], namespaces: ['prod'], serviceAccounts: ['demo/web', 'other/db'], ipBlocks: ['10.0.0.0/8', 'fd00::/8'] }, { unauthenticated: true }],
      to: [{ ports: [80, 8080], methods: ['GET'], paths: [{ type: 'exact', value: '/a' }, { type: 'prefix', value: '/b/' }], headers: [{ name: 'x-user', present: true }, { name: 'x-debug', present: false }] }],
    }],
  });
});

t.test('a path rule may ignore case; its value is kept as written', async (t) => {
  const r = translatePolicyObject(ap({ action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/Admin', ignoreCase: true }, { exact: '/x' }] }] }] }));
  t.same((r as PolicyRecord).rules[0].to[0].paths, [{ type: 'prefix', value: '/Admin', ignoreCase: true }, { type: 'exact', value: '/x' }]);
});

t.test("rule paths are checked against the mesh's own normalisation mode", async (t) => {
  // What each mode leaves of a request path decides what a rule may name (docs/policy.md's table):
  // base keeps "//", none keeps everything raw; merge-slashes (the default) and
  // decode-and-merge-slashes merge it, so "//admin" could never match there.
  const dslash = ap({ action: 'DENY', rules: [{ to: [{ paths: [{ exact: '//admin' }] }] }] });
  const escaped = ap({ action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/%61dmin' }] }] }] });
  const rows: Array<[string, PolicyObject, 'none' | 'base' | 'merge-slashes' | 'decode-and-merge-slashes', boolean]> = [
    ['"//admin" under merge-slashes', dslash, 'merge-slashes', false],
    ['"//admin" under decode-and-merge-slashes', dslash, 'decode-and-merge-slashes', false],
    ['"//admin" under base', dslash, 'base', true],
    ['"//admin" under none', dslash, 'none', true],
    ['"/%61dmin" under base (unreserved escapes are decoded)', escaped, 'base', false],
    ['"/%61dmin" under none (raw paths)', escaped, 'none', true],
  ];
  for (const [name, obj, mode, accepted] of rows) {
    const run = (): unknown => translatePolicyObject(obj, mode);
    if (accepted) t.doesNotThrow(run, `${name}: accepted`);
    else t.throws(run, /is not normalised/, `${name}: refused`);
  }
  const viaTranslate = (mode: 'none' | 'merge-slashes'): unknown => translateObjects([{ origin: 'x', object: dslash.object }], { trustDomain: 'cluster.local', pathNormalization: mode });
  t.doesNotThrow(() => viaTranslate('none'), 'translateObjects passes the mode through');
  t.throws(() => viaTranslate('merge-slashes'), /is not normalised/);
});

t.test('targets: namespace by default, Service by targetRef, mesh-wide in weft-system', async (t) => {
  t.same((translatePolicyObject(ap({ action: 'ALLOW' })) as { target: unknown }).target, { kind: 'namespace' });
  t.same((translatePolicyObject(ap({ action: 'ALLOW', selector: {} })) as { target: unknown }).target, { kind: 'namespace' }, 'an empty selector selects the namespace');
  t.same((translatePolicyObject(ap({ action: 'ALLOW', targetRef: { kind: 'Service', name: 'server' } })) as { target: unknown }).target, { kind: 'service', name: 'server' });
  t.same((translatePolicyObject(ap({ action: 'ALLOW', selector: { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['x'] }, { key: 'c', operator: 'Exists' }] } })) as { target: unknown }).target, {
    kind: 'selector', matchLabels: { a: 'b' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['x'] }, { key: 'c', operator: 'Exists', values: [] }],
  });
  const root = translatePolicyObject(ap({ action: 'DENY', rules: [{}] }, 'global', 'weft-system'));
  t.equal((root as { meshWide: boolean }).meshWide, true);
});

t.test('MeshPolicy scopes', async (t) => {
  t.match(translatePolicyObject(mesh({ mtls: { mode: 'STRICT' } })), { kind: 'meshpolicy', scope: 'namespace', mtls: 'STRICT' });
  t.match(translatePolicyObject(mesh({ defaultInbound: 'deny' }, 'mesh', 'weft-system')), { scope: 'mesh', defaultInbound: 'deny' });
  t.match(translatePolicyObject(mesh({ selector: { matchLabels: { app: 'x' } }, defaultInbound: 'authenticated-only' })), { scope: 'workload', matchLabels: { app: 'x' } });
});

const invalid: Array<[string, PolicyObject, RegExp]> = [
  ['unknown action', ap({ action: 'PERMIT' }), /spec\.action: must be one of ALLOW, DENY, AUDIT; got "PERMIT"/],
  ['bad CIDR', ap({ action: 'ALLOW', rules: [{ from: [{ ipBlocks: ['10.0.0.300/8'] }] }] }), /spec\.rules\[0\]\.from\[0\]\.ipBlocks\[0\]: "10\.0\.0\.300\/8" is not a CIDR/],
  ['CIDR with host bits', ap({ action: 'ALLOW', rules: [{ from: [{ ipBlocks: ['10.1.2.3/8'] }] }] }), /host bits set; did you mean 10\.0\.0\.0\/8/],
  ['CIDR prefix too long', ap({ action: 'ALLOW', rules: [{ from: [{ ipBlocks: ['10.0.0.0/33'] }] }] }), /prefix length "33" must be 0–32/],
  ['SPIFFE pattern without scheme', ap({ action: 'ALLOW', rules: [{ from: [{ identities: ['cluster.local/ns/a/sa/b'] }] }] }), /identities\[0\]: "cluster\.local\/ns\/a\/sa\/b" does not match \^spiffe/],
  ['partial wildcard', ap({ action: 'ALLOW', rules: [{ from: [{ identities: ['spiffe://cluster.local/ns/pr*d/sa/web'] }] }] }), /mixes \* with text/],
  ['empty segment', ap({ action: 'ALLOW', rules: [{ from: [{ identities: ['spiffe://cluster.local/ns//sa/web'] }] }] }), /identities\[0\]: .* does not match/],
  ['unknown field (typo)', ap({ action: 'ALLOW', rule: [] }), /spec\.rule: is not a known field \(known: selector, targetRef, action, rules\)/],
  ['missing action', ap({ rules: [] }), /spec\.action: is required/],
  ['In without values', ap({ action: 'ALLOW', selector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }), /spec\.selector\.matchExpressions\[0\]\.values: In needs at least one value/],
  ['header without name', ap({ action: 'ALLOW', rules: [{ to: [{ headers: [{ present: true }] }] }] }), /headers\[0\]\.name: is required/],
  ['wrong type', ap({ action: 'ALLOW', rules: { from: [] } }), /spec\.rules: must be a list, got a mapping/],
  ['port out of range', ap({ action: 'ALLOW', rules: [{ to: [{ ports: [0] }] }] }), /ports\[0\]: must be ≥ 1/],
  ['lowercase method', ap({ action: 'ALLOW', rules: [{ to: [{ methods: ['get'] }] }] }), /methods\[0\]: "get" does not match/],
  ['path with both exact and prefix', ap({ action: 'ALLOW', rules: [{ to: [{ paths: [{ exact: '/a', prefix: '/b' }] }] }] }), /paths\[0\]: a path has exactly one of exact and prefix/],
  ['path with neither', ap({ action: 'ALLOW', rules: [{ to: [{ paths: [{}] }] }] }), /paths\[0\]: a path has exactly one of exact and prefix/],
  ['a path with a dot segment (never matches a normalised request)', ap({ action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/a/../admin' }] }] }] }), /paths\[0\]\.prefix: "\/a\/\.\.\/admin" is not normalised and would never match a request \(paths are normalised first\): write "\/admin"/],
  ['a path with "//"', ap({ action: 'DENY', rules: [{ to: [{ paths: [{ exact: '//admin' }] }] }] }), /paths\[0\]\.exact: "\/\/admin" is not normalised .*write "\/admin"/],
  ['a path with an escaped unreserved letter', ap({ action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/%61dmin' }] }] }] }), /write "\/admin"/],
  ['a path with an encoded slash', ap({ action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/a%2Fb' }] }] }] }), /"\/a%2Fb" is a path the agent refuses \(encoded slash\), so it can never match/],
  ['a path with a query', ap({ action: 'ALLOW', rules: [{ to: [{ paths: [{ exact: '/a?x=1' }] }] }] }), /has a query or fragment; rules match the path only/],
  ['ignoreCase that is not a boolean', ap({ action: 'ALLOW', rules: [{ to: [{ paths: [{ exact: '/a', ignoreCase: 'yes' }] }] }] }), /ignoreCase/],
  ['relative path', ap({ action: 'ALLOW', rules: [{ to: [{ paths: [{ prefix: 'api' }] }] }] }), /paths\[0\]\.prefix: "api" does not match \^\//],
  ['selector and targetRef', ap({ action: 'ALLOW', selector: { matchLabels: { a: 'b' } }, targetRef: { kind: 'Service', name: 's' } }), /spec\.targetRef: cannot be combined with spec\.selector/],
  ['targetRef to another group', ap({ action: 'ALLOW', targetRef: { group: 'apps', kind: 'Service', name: 's' } }), /spec\.targetRef\.group: must be one of ; got "apps"/],
  ['targetRef to a Deployment', ap({ action: 'ALLOW', targetRef: { kind: 'Deployment', name: 's' } }), /spec\.targetRef\.kind: must be one of Service/],
  ['unauthenticated with identities', ap({ action: 'ALLOW', rules: [{ from: [{ unauthenticated: true, namespaces: ['x'] }] }] }), /unauthenticated: true cannot be combined/],
  ['bad service account', ap({ action: 'ALLOW', rules: [{ from: [{ serviceAccounts: ['a/b/c'] }] }] }), /serviceAccounts\[0\]: "a\/b\/c" does not match/],
  ['bare service account name', ap({ action: 'ALLOW', rules: [{ from: [{ serviceAccounts: ['web'] }] }] }), /serviceAccounts\[0\]: "web" does not match/],
  ['bad namespace', ap({ action: 'ALLOW', rules: [{ from: [{ namespaces: ['Not_A_Namespace'] }] }] }), /namespaces\[0\]: "Not_A_Namespace" is not a namespace name/],
  ['missing spec', { ...ap({}), object: { apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'demo' } } }, /spec: is required/],
  ['wrong version', ap({ action: 'ALLOW' }, 'p', 'demo', 'weft.dev/v1'), /apiVersion: must be weft\.dev\/v1alpha1/],
  ['MeshPolicy unknown mode', mesh({ mtls: { mode: 'STRICTER' } }), /spec\.mtls\.mode: must be one of STRICT, PERMISSIVE/],
  ['MeshPolicy unknown default', mesh({ defaultInbound: 'maybe' }), /spec\.defaultInbound: must be one of allow, deny, authenticated-only/],
  ['MeshPolicy that sets nothing', mesh({}), /sets neither mtls\.mode nor defaultInbound/],
];

for (const [name, obj, why] of invalid) {
  t.test(`invalid: ${name}`, async (t) => {
    t.throws(() => translatePolicyObject(obj), { code: 'WEFT_ERR_POLICY_INVALID', message: why });
    try {
      translatePolicyObject(obj);
    } catch (err) {
      // The reason names where the object came from, its kind and namespace/name.
      t.match((err as Error).message, new RegExp(`^cluster\\.yaml#\\d: ${obj.kind} "${obj.namespace}/${obj.name}" is invalid — `));
    }
  });
}

t.test('every problem of an object is reported at once', async (t) => {
  t.throws(() => translatePolicyObject(ap({ action: 'ALLOW', rules: [{ from: [{ ipBlocks: ['nope'], identities: ['spiffe://cluster.local/ns/a*/sa/b'] }] }] })), { message: /ipBlocks\[0\].*; spec\.rules\[0\]\.from\[0\]\.identities\[0\]|identities\[0\].*; .*ipBlocks\[0\]/ });
});

const base = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo', labels: { 'weft.dev/mesh': 'enabled' } } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'demo', uid: 'u1' }, spec: { nodeName: 'n1' }, status: { podIP: '10.0.0.1' } },
];

t.test('the file translator accepts policy kinds next to core objects', async (t) => {
  const records = translateObjects([...base, ap({ action: 'DENY', rules: [{}] }).object, mesh({ mtls: { mode: 'STRICT' } }).object].map((object, i) => ({ origin: `f#${i}`, object })), { trustDomain: 'cluster.local' });
  t.same(records.map((r) => `${r.kind}:${r.key}`), ['meshpolicy:demo/m', 'policy:demo/p', 'workload:demo/a']);
});

t.test('an invalid policy refuses the whole load: nothing of it is half-applied', async (t) => {
  const good = ap({ action: 'DENY', rules: [{}] }, 'good').object;
  const bad = ap({ action: 'ALLOW', rules: [{ from: [{ ipBlocks: ['10.0.0.0/99'] }] }] }, 'bad').object;
  t.throws(() => translateObjects([...base, good, bad].map((object, i) => ({ origin: `cluster.yaml#${i + 1}`, object })), { trustDomain: 'cluster.local' }), {
    code: 'WEFT_ERR_POLICY_INVALID',
    message: /cluster\.yaml#4: AuthorizationPolicy "demo\/bad" is invalid — spec\.rules\[0\]\.from\[0\]\.ipBlocks\[0\]/,
  });
  t.throws(() => translateObjects([{ origin: 'x', object: { apiVersion: 'weft.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'x' } } }], { trustDomain: 'cluster.local' }), { code: 'WEFT_ERR_SOURCE_INVALID', message: /unknown kind "TrafficPolicy"/ });
});

t.test('patterns: identities', async (t) => {
  const m = (p: string, id: string): boolean => {
    const parsed = parseIdentityPattern(p);
    if (typeof parsed === 'string') throw new Error(parsed);
    return matchIdentity(parsed, id);
  };
  t.ok(m('spiffe://cluster.local/ns/*/sa/web', 'spiffe://cluster.local/ns/a/sa/web'));
  t.notOk(m('spiffe://cluster.local/ns/*/sa/web', 'spiffe://cluster.local/ns/a/b/sa/web'), '* is one segment');
  t.ok(m('spiffe://cluster.local/ns/prod/*', 'spiffe://cluster.local/ns/prod/sa/x'), 'a trailing * is the rest');
  t.notOk(m('spiffe://cluster.local/ns/prod/*', 'spiffe://cluster.local/ns/prod'), 'the rest is at least one segment');
  t.ok(m('spiffe://*/ns/prod/sa/web', 'spiffe://other/ns/prod/sa/web'));
  t.ok(m('*', 'spiffe://x/y'));
  t.notOk(m('spiffe://cluster.local/ns/prod/sa/web', 'spiffe://cluster.local/ns/prod/sa/web2'));
});

t.test('patterns: CIDRs', async (t) => {
  const c = parseCidr('10.244.0.0/16');
  if (typeof c === 'string') throw new Error(c);
  t.ok(cidrContains(c, parseAddress('10.244.3.4')!));
  t.notOk(cidrContains(c, parseAddress('10.245.0.1')!));
  t.equal((parseCidr('10.1.2.3') as { text: string }).text, '10.1.2.3/32', 'a bare address is a host');
  t.equal((parseCidr('0.0.0.0/0') as { text: string }).text, '0.0.0.0/0');
  t.equal((parseCidr('2001:db8:0:0:0:0:0:0/32') as { text: string }).text, '2001:db8::/32');
  const all6 = parseCidr('::/0');
  if (typeof all6 === 'string') throw new Error(all6);
  t.ok(cidrContains(all6, parseAddress('fe80::1')!));
  t.equal(parseAddress('not-an-ip'), null);
});
