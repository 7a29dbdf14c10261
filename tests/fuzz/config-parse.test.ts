// Config parsing in control: the file source (YAML manifests → objects → the model), the
// translation of Kubernetes objects and weft.dev policies, and the frames agents send on the config
// stream. All of it is input someone else wrote. What must hold:
//   - nothing throws but WEFT_ERR_SOURCE_INVALID / WEFT_ERR_POLICY_INVALID (manifests, objects)
//     or WEFT_ERR_STREAM_PROTOCOL (stream frames): no TypeError, no RangeError, no hang;
//   - valid objects round-trip: pods written as YAML come back as workloads with their IP, node,
//     identity and mesh membership; valid policies keep their action and rules.
import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ErrorCodes } from '../../common/errors.ts';
import { readManifests } from '../../control/discovery/file-source.ts';
import { translateObjects } from '../../control/discovery/k8s-translate.ts';
import { translatePolicyObject } from '../../control/policy/translate-policy.ts';
import { parseAgentMessage } from '../../control/stream/agent-messages.ts';
import type { PolicyRecord, ResourceRecord, WorkloadRecord } from '../../control/api/model.ts';
import { namespace, node, pod, service } from '../k8s-fixture/objects.ts';
import { assertProperty, corpus, onlyCodes, onlyCodesAsync, runs } from './fuzz.ts';

const SOURCE_CODES = [ErrorCodes.SOURCE_INVALID, ErrorCodes.POLICY_INVALID];
const dir = await mkdtemp(join(tmpdir(), 'weft-fuzz-config-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
let fileN = 0;

const dns = fc.stringMatching(/^[a-z]([-a-z0-9]{0,8}[a-z0-9])?$/);
interface Cluster { objects: Record<string, unknown>[]; pods: { name: string; namespace: string; node: string; ip: string; sa: string; meshed: boolean }[] }
const cluster: fc.Arbitrary<Cluster> = fc.tuple(
  fc.uniqueArray(dns, { minLength: 1, maxLength: 3 }),
  fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  fc.uniqueArray(dns, { minLength: 1, maxLength: 3 }),
  fc.uniqueArray(fc.tuple(dns, fc.nat(2), fc.nat(2), dns), { minLength: 0, maxLength: 6, selector: (p) => p[0] }),
).map(([namespaces, meshed, nodes, podSpecs]) => {
  const objects: Record<string, unknown>[] = [];
  namespaces.forEach((n, i) => objects.push(namespace(n, meshed[i])));
  nodes.forEach((n, i) => objects.push(node(n, `192.168.0.${i + 1}`)));
  const pods = podSpecs.map(([name, nsi, ni, sa], i) => ({ name, namespace: namespaces[nsi % namespaces.length], node: nodes[ni % nodes.length], ip: `10.0.${i >> 8}.${(i % 250) + 1}`, sa, meshed: meshed[nsi % namespaces.length] }));
  for (const p of pods) objects.push(pod({ name: p.name, namespace: p.namespace, node: p.node, ip: p.ip, serviceAccount: p.sa, labels: { app: p.name }, uid: `uid-${p.name}` }));
  if (pods.length > 0) objects.push(service({ name: 'svc', namespace: pods[0].namespace, clusterIP: '10.96.0.10', selector: { app: pods[0].name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
  return { objects, pods };
});

async function load(yamlText: string): Promise<ResourceRecord[] | undefined> {
  const file = join(dir, `m${fileN++}.yaml`);
  await writeFile(file, yamlText);
  return onlyCodesAsync(SOURCE_CODES, async () => translateObjects((await readManifests(file)).objects, { trustDomain: 'cluster.local' }));
}

t.test('valid manifests round-trip: YAML → model keeps every pod', async (t) => {
  const n = runs(60);
  await fc.assert(fc.asyncProperty(cluster, async (c) => {
    const records = await load(c.objects.map((o) => stringify(o)).join('---\n'));
    if (records === undefined) return false;
    for (const p of c.pods) {
      const w = records.find((r): r is WorkloadRecord => r.kind === 'workload' && r.key === `${p.namespace}/${p.name}`);
      if (w === undefined || w.ip !== p.ip || w.node !== p.node || w.identity !== `spiffe://cluster.local/ns/${p.namespace}/sa/${p.sa}` || w.meshed !== p.meshed) return false;
    }
    return true;
  }), { numRuns: n });
  t.pass(`${n} clusters`);
});

/** Sets (or deletes) the value at a random path of a JSON value. */
function mutate(v: unknown, path: number[], replacement: unknown, del: boolean): unknown {
  if (path.length === 0 || v === null || typeof v !== 'object') return replacement;
  const keys = Object.keys(v);
  if (keys.length === 0) return replacement;
  const k = keys[path[0] % keys.length];
  const copy: Record<string, unknown> = Array.isArray(v) ? ([...v] as unknown as Record<string, unknown>) : { ...(v as Record<string, unknown>) };
  if (del && path.length === 1) {
    if (Array.isArray(copy)) copy.splice(Number(k), 1);
    else delete copy[k];
  }
  else copy[k] = mutate(copy[k], path.slice(1), replacement, del);
  return copy;
}
const junk = fc.oneof(fc.anything({ maxDepth: 2 }), fc.constantFrom(null, '', -1, 1e308, '10.0.0.1', '999.0.0.1', 'spiffe://x/ns/a/sa/b', '__proto__', [], {}, true));
const mutation = fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), junk, fc.boolean());

t.test('mutated objects: a model or WEFT_ERR_SOURCE_INVALID / POLICY_INVALID, nothing else', async (t) => {
  const n = runs(1500);
  assertProperty(fc.property(cluster, fc.array(mutation, { minLength: 1, maxLength: 3 }), (c, ms) => {
    let objects: unknown = c.objects;
    for (const [path, r, del] of ms) objects = mutate(objects, path, r, del);
    const input = (Array.isArray(objects) ? objects : [objects]).map((object, i) => ({ origin: `fuzz#${i}`, object }));
    onlyCodes(SOURCE_CODES, () => translateObjects(input, { trustDomain: 'cluster.local' }));
    return true;
  }), n);
  t.pass(`${n} mutated clusters`);
});

t.test('mangled YAML text: a model or WEFT_ERR_SOURCE_INVALID, nothing else', async (t) => {
  const n = runs(150);
  const kept = corpus<string>('manifests');
  for (const e of kept) t.resolves(load(e.input), e.note);
  await fc.assert(fc.asyncProperty(cluster, fc.array(fc.tuple(fc.nat(), fc.constantFrom(':', '-', '[', ']', '{', '}', '&a', '*a', '!!binary', '|', '>', "'", '"', '%', '@', '`', '#', '\n', '  ', '\t', '---\n', '<<: *a', '\u0000', '\ufeff')), { minLength: 1, maxLength: 4 }), async (c, edits) => {
    let text = c.objects.map((o) => stringify(o)).join('---\n');
    for (const [at, s] of edits) {
      const i = at % (text.length + 1);
      text = text.slice(0, i) + s + text.slice(i);
    }
    await load(text);
    return true;
  }), { numRuns: n });
  t.pass(`${n + kept.length} YAML files`);
});

const authz = fc.record({
  action: fc.constantFrom('ALLOW', 'DENY', 'AUDIT'),
  from: fc.array(fc.record({ identities: fc.constantFrom(['spiffe://cluster.local/ns/demo/sa/web'], ['spiffe://cluster.local/ns/demo/*']), namespaces: fc.constant(['demo']) }, { requiredKeys: [] }), { maxLength: 2 }),
  to: fc.array(fc.record({ ports: fc.constant([8080]), methods: fc.constant(['GET']), paths: fc.constantFrom([{ prefix: '/api' }], [{ exact: '/healthz' }]) }, { requiredKeys: [] }), { maxLength: 2 }),
}).map(({ action, from, to }) => ({
  apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'demo' },
  spec: { selector: { matchLabels: { app: 'server' } }, action, rules: [{ from, to }] },
}));

t.test('policies: valid ones round-trip, mutated ones are WEFT_ERR_POLICY_INVALID or valid', async (t) => {
  const n = runs(1500);
  assertProperty(fc.property(authz, (o) => {
    const r = translatePolicyObject({ origin: 'fuzz', kind: o.kind, namespace: 'demo', name: 'p', object: o }) as PolicyRecord;
    return r.kind === 'policy' && r.action === o.spec.action && r.rules.length === 1 && r.rules[0].from.length === o.spec.rules[0].from.length && r.rules[0].to.length === o.spec.rules[0].to.length;
  }), n);
  assertProperty(fc.property(authz, fc.array(mutation, { minLength: 1, maxLength: 3 }), (o, ms) => {
    let object: unknown = o;
    for (const [path, r, del] of ms) object = mutate(object, path, r, del);
    if (object === null || typeof object !== 'object' || Array.isArray(object)) return true;
    onlyCodes([ErrorCodes.POLICY_INVALID], () => translatePolicyObject({ origin: 'fuzz', kind: 'AuthorizationPolicy', namespace: 'demo', name: 'p', object: object as Record<string, unknown> }));
    return true;
  }), n);
  t.pass(`${n * 2} policies`);
});

t.test('config-stream frames: a message or WEFT_ERR_STREAM_PROTOCOL, nothing else', async (t) => {
  const n = runs(3000);
  for (const e of corpus<string>('stream-frames')) {
    const m = onlyCodes([ErrorCodes.STREAM_PROTOCOL], () => parseAgentMessage(e.input));
    t.equal(m === undefined ? 'refused' : m.type, e.note.split(': ')[0], e.note);
  }
  const valid = fc.constantFrom<Record<string, unknown>>(
    { type: 'hello', protocol: 1, node: 'n1', agentVersion: '1.0', credential: 'tok' },
    { type: 'ack', version: 3 },
    { type: 'nack', version: 3, reason: 'bad' },
    { type: 'summary', seq: 1, at: '2026-11-25T00:00:00Z', edges: [] },
    { type: 'tap-events', tapId: 't', events: [] },
  );
  assertProperty(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.json({ maxDepth: 3 }), fc.tuple(valid, fc.array(mutation, { maxLength: 3 })).map(([v, ms]) => {
    let o: unknown = v;
    for (const [path, r, del] of ms) o = mutate(o, path, r, del);
    return JSON.stringify(o) ?? 'undefined';
  })), (text) => {
    onlyCodes([ErrorCodes.STREAM_PROTOCOL], () => parseAgentMessage(text));
    return true;
  }), n);
  t.pass(`${n} frames`);
});
