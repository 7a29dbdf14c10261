// scripts/helm-trust-anchor.sh makes what the chart expects: a Secret with an ECDSA P-256 CA that
// control's own loader accepts and signs with, and a ConfigMap with the same certificate only.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadOrCreateTrustBundle } from '../../control/ca/index.ts';
import { ROOT } from './chart.ts';

const out = execFileSync('bash', [join(ROOT, 'scripts/helm-trust-anchor.sh'), '--namespace', 'mesh', '--trust-domain', 'example.org'], { encoding: 'utf8' });
const [secret, bundle] = parseAllDocuments(out).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace: string }; data: Record<string, string> });

t.same([secret.kind, secret.metadata.name, secret.metadata.namespace], ['Secret', 'weft-trust-anchor', 'mesh'], 'the Secret the chart mounts into control');
t.same([bundle.kind, bundle.metadata.name], ['ConfigMap', 'weft-trust-bundle'], 'the ConfigMap the agents mount');
t.same(Object.keys(bundle.data), ['ca.crt'], 'the ConfigMap holds no key');
const certPem = Buffer.from(secret.data['ca.crt'], 'base64').toString('utf8');
const keyPem = Buffer.from(secret.data['ca.key'], 'base64').toString('utf8');
t.equal(bundle.data['ca.crt'].trim(), certPem.trim(), 'same certificate in both');
const key = createPrivateKey(keyPem);
t.same([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve], ['ec', 'prime256v1'], 'ECDSA P-256');
const cert = new X509Certificate(certPem);
t.ok(cert.ca, 'a CA certificate');
t.ok(cert.checkPrivateKey(key), 'the key belongs to the certificate');

t.test('control loads it as its trust anchor', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'helm-anchor-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ca.crt'), certPem);
  await writeFile(join(dir, 'ca.key'), keyPem, { mode: 0o600 });
  const { bundle: loaded, created } = await loadOrCreateTrustBundle(dir);
  t.equal(created, false, 'loaded, not generated');
  t.equal(loaded.anchorsPem.length, 1);
});
