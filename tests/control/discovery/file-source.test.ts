import t from 'tap';
import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WeftError } from '../../../common/errors.ts';
import { memoryLogger } from '../../../common/log.ts';
import type { ResourceRecord } from '../../../control/api/model.ts';
import { FileSource } from '../../../control/discovery/file-source.ts';
import { createDiscoverySource, discoverySourceNames } from '../../../control/discovery/source.ts';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ns = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    weft.dev/mesh: enabled
`;
const pod = (name: string, ip: string): string => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: shop
  uid: uid-${name}
  labels: { app: api }
spec:
  nodeName: node-a
  serviceAccountName: api
  containers: [{ name: c, image: x }]
status:
  phase: Running
  podIP: ${ip}
  conditions:
  - type: Ready
    status: "True"
`;
interface Cleanup { teardown(fn: () => unknown): void }
const keys = (rs: ResourceRecord[] | undefined): string[] => (rs ?? []).map((r) => `${r.kind}:${r.key}`);

async function tempDir(t: Cleanup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-file-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function startSource(t: Cleanup, path: string) {
  const log = memoryLogger();
  const emitted: ResourceRecord[][] = [];
  const errors: WeftError[] = [];
  const source = new FileSource({ path, trustDomain: 'cluster.local', log, pollIntervalMs: 150, debounceMs: 20, onError: (e) => errors.push(e) });
  t.teardown(() => source.stop());
  return { source, emitted, errors, start: () => source.start((rs) => emitted.push(rs)) };
}

t.test('directory: multi-document files, reload on change, last good kept on invalid YAML', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, '00-ns.yaml'), ns);
  await writeFile(join(dir, 'pods.yml'), `${pod('a', '10.1.0.1')}---\n${pod('b', '10.1.0.2')}---\n`);
  await writeFile(join(dir, 'notes.txt'), 'not a manifest');
  await writeFile(join(dir, '.hidden.yaml'), ': broken');
  const s = startSource(t, dir);
  // Rewrites are atomic (write + rename): a poll must never see half a file, which would make the
  // steps below race with the reader rather than test it.
  const rewrite = async (text: string): Promise<void> => {
    await writeFile(join(dir, '.next'), text);
    await rename(join(dir, '.next'), join(dir, 'pods.yml'));
  };
  await s.start();
  t.same(keys(s.emitted[0]), ['workload:shop/a', 'workload:shop/b'], 'first set emitted before start resolves');

  await rewrite(pod('c', '10.1.0.3'));
  await until('reload', () => s.emitted.length === 2);
  t.same(keys(s.emitted[1]), ['workload:shop/c']);

  await rewrite('apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n');
  await until('error report', () => s.errors.length === 1);
  t.equal(s.errors[0].code, 'WEFT_ERR_SOURCE_INVALID');
  t.match(s.errors[0].message, /pods\.yml.*invalid YAML/);
  t.equal(s.source.lastError, s.errors[0]);
  await new Promise((r) => setTimeout(r, 400)); // a few polls: reported once, nothing emitted
  t.equal(s.errors.length, 1, 'reported once, not on every poll');
  t.equal(s.emitted.length, 2, 'the last good model stays');

  // A valid YAML file whose object misses a required field: the whole load is refused.
  await rewrite(`${pod('d', '10.1.0.4')}---\napiVersion: v1\nkind: Pod\nmetadata: { name: nouid, namespace: shop }\nspec: {}\n`);
  await until('second error', () => s.errors.length === 2);
  t.match(s.errors[1].message, /pods\.yml#2: Pod "shop\/nouid": metadata\.uid is required/);
  t.equal(s.emitted.length, 2, 'not half-applied');

  // Atomic replace (write + rename), as careful writers do.
  await writeFile(join(dir, '.tmp'), pod('e', '10.1.0.5'));
  await rename(join(dir, '.tmp'), join(dir, 'pods.yml'));
  await until('recovery', () => s.emitted.length === 3);
  t.same(keys(s.emitted[2]), ['workload:shop/e']);
  t.equal(s.source.lastError, null);
});

t.test('single file source and List documents', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'cluster.yaml');
  await writeFile(file, `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: { name: node-a }\n  status: { addresses: [{ type: InternalIP, address: 192.168.0.1 }] }\n`);
  const s = startSource(t, file);
  await s.start();
  t.same(s.emitted[0], [{ kind: 'node', key: 'node-a', name: 'node-a', address: '192.168.0.1' }]);
  await writeFile(join(dir, 'other.yaml'), ns); // a sibling file is not part of this source
  await writeFile(file, `${ns}---\n${pod('a', '10.1.0.1')}`);
  await until('reload', () => s.emitted.length === 2);
  t.same(keys(s.emitted[1]), ['workload:shop/a']);
});

t.test('start rejects when the first load is invalid or missing', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'bad.yaml'), 'kind: [');
  const s = startSource(t, dir);
  await t.rejects(s.start(), { code: 'WEFT_ERR_SOURCE_INVALID', message: /bad\.yaml/ });
  const missing = startSource(t, join(dir, 'nope'));
  await t.rejects(missing.start(), { code: 'WEFT_ERR_SOURCE_INVALID', message: /nope/ });
});

t.test('registered as "file"', async (t) => {
  const dir = await tempDir(t);
  t.ok(discoverySourceNames().includes('file'));
  const source = createDiscoverySource('file', { trustDomain: 'td.test', log: memoryLogger(), options: { path: dir } });
  t.teardown(() => source.stop());
  const got: ResourceRecord[][] = [];
  await source.start((rs) => got.push(rs));
  t.same(got, [[]], 'an empty directory is an empty model');
  t.throws(() => createDiscoverySource('file', { trustDomain: 'x', log: memoryLogger(), options: {} }), { code: 'WEFT_ERR_CONFIG_INVALID' });
});
