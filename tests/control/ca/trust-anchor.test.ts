import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateTrustAnchor,
  loadOrCreateTrustBundle,
  loadTrustBundle,
  makeTrustBundle,
  trustAnchorFromPem,
  writeTrustAnchor,
} from '../../../control/ca/trust-anchor.ts';
import { isWeftError } from '../../../common/errors.ts';
import { makeTestCa, makeTestLeaf } from '../../common/test-pki.ts';

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a generated root is a 10-year P-256 CA that may sign certificates', async (t) => {
  const { anchor, keyPem } = await generateTrustAnchor({ commonName: 'weft root cluster.local' });
  const cert = new X509Certificate(anchor.certPem);
  t.equal(cert.ca, true);
  t.ok(cert.checkIssued(cert) && cert.verify(cert.publicKey), 'self-signed');
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (new Date(cert.validTo).getTime() - Date.now()) / (365 * 24 * 3600_000);
  t.ok(years > 9.9 && years < 10.1, `about ten years (${years.toFixed(2)})`);
  t.match(cert.subject, /CN=weft root cluster\.local/);
  t.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
  t.match(anchor.keyId, /^[0-9a-f]{40}$/);
});

t.test('writes the key 0600 and loads the same anchor back', async (t) => {
  const dir = await tmp(t);
  const { anchor, keyPem } = await generateTrustAnchor();
  const { certFile, keyFile } = await writeTrustAnchor(join(dir, 'ca'), anchor.certPem, keyPem);
  t.equal((await stat(keyFile)).mode & 0o777, 0o600);
  const loaded = await loadTrustBundle({ certFile, keyFile });
  t.equal(loaded.signing.certPem, anchor.certPem);
  t.same(loaded.anchorsPem, [anchor.certPem.trim()]);
});

t.test('loadOrCreate generates once, then loads; refuses half a pair', async (t) => {
  const dir = await tmp(t);
  const first = await loadOrCreateTrustBundle(dir);
  t.equal(first.created, true);
  const second = await loadOrCreateTrustBundle(dir);
  t.equal(second.created, false);
  t.equal(second.bundle.signing.certPem, first.bundle.signing.certPem);
  await rm(join(dir, 'ca.key'));
  await t.rejects(loadOrCreateTrustBundle(dir), { code: 'WEFT_ERR_CONFIG_INVALID', message: /holds ca\.crt but not ca\.key/ });
});

t.test('a bundle carries several anchors, signing anchor first, without duplicates', async (t) => {
  const dir = await tmp(t);
  const a = await generateTrustAnchor({ commonName: 'new' });
  const b = await generateTrustAnchor({ commonName: 'old' });
  const { certFile, keyFile } = await writeTrustAnchor(dir, a.anchor.certPem, a.keyPem);
  const bundleFile = join(dir, 'extra.pem');
  await writeFile(bundleFile, `${b.anchor.certPem}\n${a.anchor.certPem}\n`);
  const bundle = await loadTrustBundle({ certFile, keyFile, bundleFile });
  t.equal(bundle.anchorsPem.length, 2);
  t.match(new X509Certificate(bundle.anchorsPem[0]).subject, /CN=new/);
  t.match(new X509Certificate(bundle.anchorsPem[1]).subject, /CN=old/);
  t.same(makeTrustBundle(a.anchor, [a.anchor.certPem]).anchorsPem.length, 1);
  t.ok(await readFile(certFile, 'utf8'));
});

t.test('refuses a key that is not the certificate\'s, a leaf, and garbage', async (t) => {
  const a = await generateTrustAnchor();
  const b = await generateTrustAnchor();
  await t.rejects(trustAnchorFromPem(a.anchor.certPem, b.keyPem), { code: 'WEFT_ERR_CONFIG_INVALID', message: /does not belong/ });
  const ca = await makeTestCa();
  const leaf = await makeTestLeaf(ca, { uris: ['spiffe://cluster.local/ns/a/sa/b'] });
  await t.rejects(trustAnchorFromPem(leaf.certPem, leaf.keyPem), { code: 'WEFT_ERR_CONFIG_INVALID', message: /not a CA/ });
  await trustAnchorFromPem(a.anchor.certPem, 'nope').then(
    () => t.fail('accepted'),
    (err: unknown) => t.ok(isWeftError(err, 'WEFT_ERR_CONFIG_INVALID')),
  );
  await t.rejects(trustAnchorFromPem('nope', a.keyPem), { code: 'WEFT_ERR_CONFIG_INVALID' });
});
