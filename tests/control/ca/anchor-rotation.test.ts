// Trust anchor rotation pieces without sockets: the CA directory watcher, the trust record agents
// watch, the CA swapping anchors, and the agent side (record check, early re-issue, trust bundle).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '../../../common/log.ts';
import { CaDirWatcher, TRUST_BUNDLE_FILE, loadCaDir, trustRecordOf } from '../../../control/ca/anchor-rotation.ts';
import { LocalCa } from '../../../control/ca/issuer.ts';
import { generateTrustAnchor, writeTrustAnchor, type TrustBundle } from '../../../control/ca/trust-anchor.ts';
import { CachingSecretManager } from '../../../agent/identity/secret-manager.ts';
import { checkRecord } from '../../../agent/state/record-check.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';

const CART = 'spiffe://cluster.local/ns/shop/sa/cart';
const a = await generateTrustAnchor({ commonName: 'root A' });
const b = await generateTrustAnchor({ commonName: 'root B' });
const fpA = new X509Certificate(a.anchor.certPem).fingerprint256;
const fpB = new X509Certificate(b.anchor.certPem).fingerprint256;

async function caDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'k8s-ca-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeTrustAnchor(dir, a.anchor.certPem, a.keyPem);
  return dir;
}

t.test('the CA directory through the three rotation steps', async (t) => {
  const dir = await caDir(t);
  const seen: TrustBundle[] = [];
  const log = memoryLogger();
  const w = new CaDirWatcher({ dir, intervalMs: 60_000, log, onChange: (bundle) => seen.push(bundle) });
  await w.start();
  t.teardown(async () => w.stop());
  const first = trustRecordOf(await loadCaDir(dir));
  t.same({ signing: first.signing, anchors: first.anchors }, { signing: fpA, anchors: [fpA] });
  t.equal(await w.check(), false, 'nothing changed');

  await writeFile(join(dir, TRUST_BUNDLE_FILE), b.anchor.certPem);
  t.equal(await w.check(), true, 'step 1 seen');
  const s1 = trustRecordOf(seen[0]);
  t.same({ signing: s1.signing, anchors: s1.anchors }, { signing: fpA, anchors: [fpA, fpB] }, 'A signs, A and B trusted');
  t.not(s1.version, first.version);

  // A half-written switch (new cert, old key) is refused and the current anchors stay.
  await writeFile(join(dir, 'ca.crt'), b.anchor.certPem);
  t.equal(await w.check(), false, 'mismatched key refused');
  t.ok(log.lines.some((l) => l.msg === 'trust anchors in the CA directory are not usable; keeping the current ones'));
  await writeFile(join(dir, 'ca.key'), b.keyPem);
  await writeFile(join(dir, TRUST_BUNDLE_FILE), a.anchor.certPem);
  t.equal(await w.check(), true, 'step 2 seen');
  const s2 = trustRecordOf(seen[1]);
  t.same({ signing: s2.signing, anchors: s2.anchors }, { signing: fpB, anchors: [fpB, fpA] }, 'B signs, both trusted');
  t.not(s2.version, s1.version, 'a signer change alone changes the version');

  await unlink(join(dir, TRUST_BUNDLE_FILE));
  t.equal(await w.check(), true, 'step 3 seen');
  const s3 = trustRecordOf(seen[2]);
  t.same({ signing: s3.signing, anchors: s3.anchors }, { signing: fpB, anchors: [fpB] });
  t.equal(checkRecord(s3), null, 'agents accept the trust record');
  t.match(checkRecord({ ...s3, anchors: [] }), /anchors/);
});

t.test('the CA signs under the swapped bundle and the secret manager re-issues on demand', async (t) => {
  const dir = await caDir(t);
  const ca = new LocalCa({ bundle: await loadCaDir(dir) });
  const signer = { calls: 0, sign: async (csr: string) => (signer.calls++, ca.sign(csr)) };
  const sm = new CachingSecretManager({ signer, logger: memoryLogger() });
  t.teardown(() => sm.close());
  const underA = await sm.get(CART);
  t.ok(new X509Certificate(underA.certChainPem[0]).checkIssued(new X509Certificate(a.anchor.certPem)));

  await writeFile(join(dir, TRUST_BUNDLE_FILE), a.anchor.certPem);
  await writeFile(join(dir, 'ca.key'), b.keyPem);
  await writeFile(join(dir, 'ca.crt'), b.anchor.certPem);
  ca.setBundle(await loadCaDir(dir));
  const { csrPem } = await generateCsr(CART);
  const direct = await ca.sign(csrPem);
  t.ok(new X509Certificate(direct.certChain[0]).checkIssued(new X509Certificate(b.anchor.certPem)), 'new certificates come from B');
  t.equal(direct.trustAnchors.length, 2, 'answers carry both anchors');

  const rotated = new Promise<void>((resolve) => sm.on('rotated', () => resolve()));
  sm.renewAll();
  await rotated;
  const underB = await sm.get(CART);
  t.not(underB, underA);
  t.ok(new X509Certificate(underB.certChainPem[0]).checkIssued(new X509Certificate(b.anchor.certPem)), 're-issued under B before half its lifetime');
  t.same([...sm.trustBundle.anchors].map((p) => new X509Certificate(p).fingerprint256).sort(), [fpA, fpB].sort(), 'and the agent trusts both');
  t.equal(signer.calls, 2);
});
