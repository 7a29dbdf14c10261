import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { x509 } from '../../../common/x509.ts';
import { generateCsr } from '../../../agent/identity/csr.ts';
import { validateCsr } from '../../../control/ca/csr-validation.ts';

t.test('makes a P-256 key and a self-signed CSR whose only SAN is the SPIFFE ID', async (t) => {
  const id = 'spiffe://cluster.local/ns/shop/sa/cart';
  const { keyPem, csrPem } = await generateCsr(id);
  t.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  t.ok(await csr.verify(), 'self-signature verifies');
  const raw = csr.getExtension('2.5.29.17');
  t.ok(raw, 'has a SAN');
  t.same(new x509.SubjectAlternativeNameExtension(raw!.rawData).names.toJSON(), [{ type: 'url', value: id }]);
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  t.ok(spki.equals(Buffer.from(csr.publicKey.rawData)), 'CSR carries the generated key');
  const valid = await validateCsr(csrPem, 'cluster.local');
  t.equal(valid.spiffeId, id, 'the CA accepts it');
});

t.test('OpenSSL reads the request as PKCS#10: self-signature, empty subject, the critical URI SAN', async (t) => {
  // A second, independent reader of the DER (the test above uses @peculiar/x509).
  const id = 'spiffe://cluster.local/ns/shop/sa/cart';
  const { keyPem, csrPem } = await generateCsr(id);
  const text = execFileSync('openssl', ['req', '-noout', '-verify', '-text'], { input: csrPem, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  t.match(text, /Version: 1 \(0x0\)/, 'version 1');
  t.match(text, /Subject: *\n/, 'an empty subject');
  t.match(text, /X509v3 Subject Alternative Name: critical\n\s+URI:spiffe:\/\/cluster\.local\/ns\/shop\/sa\/cart\n/, 'one URI SAN, critical');
  t.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  t.match(text, /NIST CURVE: P-256/);
  const verified = execFileSync('openssl', ['req', '-noout', '-verify'], { input: csrPem, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  t.notMatch(verified, /fail/i);
  const keyText = execFileSync('openssl', ['pkey', '-noout', '-text'], { input: keyPem, encoding: 'utf8' });
  t.match(keyText, /Private-Key: \(256 bit/, 'the key is a P-256 PKCS#8 key OpenSSL reads');
});

t.test('refuses to make a CSR for something that is not a workload ID', async (t) => {
  await t.rejects(generateCsr('spiffe://cluster.local/not-a-workload'), { code: 'WEFT_ERR_NO_IDENTITY' });
});
