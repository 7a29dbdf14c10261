import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { generateTrustAnchor, makeTrustBundle } from '../../../control/ca/trust-anchor.ts';
import { LocalCa } from '../../../control/ca/issuer.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';
import { isWeftError, type ErrorCode } from '../../../common/errors.ts';
import { makeCsr, tamper } from './csr-fixtures.ts';
import { x509 } from '../../../common/x509.ts';

const ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const { anchor } = await generateTrustAnchor({ commonName: 'weft test root' });
const other = await generateTrustAnchor({ commonName: 'old root' });
const bundle = makeTrustBundle(anchor, [other.anchor.certPem]);
const root = new X509Certificate(anchor.certPem);

async function refused(t: Test, p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  await p.then(
    () => t.fail('expected a refusal'),
    (err: unknown) => {
      t.ok(isWeftError(err, code), `code ${code}, got ${(err as { code?: string }).code}`);
      t.match((err as Error).message, message);
    },
  );
}

t.test('signs a CSR into a leaf that verifies against the anchor', async (t) => {
  const now = Date.now();
  const ca = new LocalCa({ bundle, now: () => now });
  const { csrPem } = await generateCsr(ID);
  const res = await ca.sign(csrPem, { allowedIdentities: new Set([ID]) });
  t.equal(res.certChain.length, 1);
  t.same(res.trustAnchors, bundle.anchorsPem, 'every anchor of the bundle is returned');
  t.equal(res.trustAnchors.length, 2);
  const leaf = new X509Certificate(res.certChain[0]);
  t.ok(leaf.verify(root.publicKey), 'signature verifies with the anchor key');
  t.ok(leaf.checkIssued(root), 'issuer and AKI match the anchor');
  t.equal(leaf.issuer, root.subject);
  t.equal(leaf.subjectAltName, `URI:${ID}`);
  t.equal(leaf.ca, false);
  t.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.same(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU serverAuth + clientAuth');
  t.equal(leaf.serialNumber.length, 32, '128-bit serial');
  // X509Certificate dates have second precision.
  t.equal(new Date(leaf.validFrom).getTime(), Math.floor((now - 300_000) / 1000) * 1000, 'backdated 5 minutes');
  t.equal(new Date(leaf.validTo).getTime(), Math.floor((now + 24 * 3600_000) / 1000) * 1000, 'default lifetime 24h');
  t.equal(res.notAfter, new Date(leaf.validTo).toISOString());
  const px = new x509.X509Certificate(res.certChain[0]);
  const ski = px.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  t.equal(ski, (await x509.SubjectKeyIdentifierExtension.create(px.publicKey)).keyId, 'SKI is the RFC 5280 key hash');
  t.equal(px.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, anchor.keyId, 'AKI is the anchor SKI');
  const other2 = await ca.sign(csrPem, {});
  t.not(new X509Certificate(other2.certChain[0]).serialNumber, leaf.serialNumber, 'serials are random');
});

t.test('caps the requested lifetime at the maximum and refuses nonsense', async (t) => {
  const now = Date.now();
  const ca = new LocalCa({ bundle, now: () => now, maxTtlSeconds: 3600 });
  const { csrPem } = await generateCsr(ID);
  const short = await ca.sign(csrPem, { ttlSeconds: 2 });
  t.equal(new Date(short.notAfter).getTime(), Math.floor((now + 2000) / 1000) * 1000);
  const long = await ca.sign(csrPem, { ttlSeconds: 10 * 24 * 3600 });
  t.equal(new Date(long.notAfter).getTime(), Math.floor((now + 3600_000) / 1000) * 1000, 'capped at max');
  await refused(t, ca.sign(csrPem, { ttlSeconds: -1 }), 'WEFT_ERR_CSR_INVALID', /ttlSeconds/);
});

t.test('refuses an identity not scheduled on the node', async (t) => {
  const ca = new LocalCa({ bundle });
  const { csrPem } = await generateCsr(ID);
  await refused(
    t,
    ca.sign(csrPem, { allowedIdentities: new Set(['spiffe://cluster.local/ns/shop/sa/web']), requester: 'node-1' }),
    'WEFT_ERR_CSR_FORBIDDEN',
    /node node-1 may not get certificates for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart: no pod with that service account is scheduled on it/,
  );
});

t.test('refuses malformed requests with WEFT_ERR_CSR_INVALID naming the problem', async (t) => {
  const ca = new LocalCa({ bundle });
  const url = (value: string) => ({ type: 'url' as const, value });
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['not PEM', async () => 'hello', /not a PEM PKCS#10/],
    ['garbage PEM', async () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', /does not parse/],
    ['wrong trust domain', () => makeCsr({ names: [url('spiffe://evil.example/ns/shop/sa/cart')] }), /trust domain evil\.example/],
    ['two URI SANs', () => makeCsr({ names: [url(ID), url('spiffe://cluster.local/ns/shop/sa/web')] }), /exactly one URI.*found 2/],
    ['DNS SAN', () => makeCsr({ names: [url(ID), { type: 'dns', value: 'cart.shop.svc' }] }), /only the SPIFFE URI, found DNS:cart\.shop\.svc/],
    ['no SAN', () => makeCsr({}), /no subjectAltName/],
    ['two SAN extensions', () => makeCsr({ names: [url(ID)], duplicateSan: true }), /2 subjectAltName extensions/],
    ['not a workload id', () => makeCsr({ names: [url('spiffe://cluster.local/node/n1')] }), /not a workload SPIFFE ID/],
    ['RSA key', () => makeCsr({ names: [url(ID)], key: 'rsa' }), /EC P-256, got RSA/],
    ['P-384 key', () => makeCsr({ names: [url(ID)], key: 'p384' }), /EC P-256, got EC secp384r1/],
    ['CA:true', () => makeCsr({ names: [url(ID)], ca: true }), /CA certificate/],
    ['bad signature', async () => tamper(await makeCsr({ names: [url(ID)] }), '/sa/cart', '/sa/cars'), /signature does not verify/],
  ];
  for (const [name, make, message] of cases) {
    await t.test(name, async (t) => refused(t, ca.sign(await make(), {}), 'WEFT_ERR_CSR_INVALID', message));
  }
  // CA:false asked explicitly is harmless.
  const ok = await ca.sign(await makeCsr({ names: [url(ID)], ca: false }), {});
  t.equal(ok.certChain.length, 1);
});

t.test('issues control a DNS/IP serving certificate from the same anchor', async (t) => {
  const ca = new LocalCa({ bundle });
  const s = await ca.issueServerCert(['weft-control.weft-system.svc'], { ipAddresses: ['127.0.0.1'] });
  const leaf = new X509Certificate(s.certChain[0]);
  t.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
  t.equal(leaf.subjectAltName, 'DNS:weft-control.weft-system.svc, IP Address:127.0.0.1');
  t.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(s.keyPem)), 'key matches');
  // 30 days: control renews it itself at half of that (serving-cert.test.ts).
  const days = (s.notAfter.getTime() - Date.now()) / (24 * 3600_000);
  t.ok(days > 29 && days <= 30, `lives 30 days (${days.toFixed(2)})`);
});

t.test('never issues past the anchor expiry', async (t) => {
  const short = await generateTrustAnchor({ lifetimeDays: 1 });
  const ca = new LocalCa({ bundle: makeTrustBundle(short.anchor), maxTtlSeconds: 30 * 24 * 3600 });
  const res = await ca.sign((await generateCsr(ID)).csrPem, { ttlSeconds: 7 * 24 * 3600 });
  t.equal(new Date(res.notAfter).getTime(), Math.floor(short.anchor.notAfter.getTime() / 1000) * 1000);
});
