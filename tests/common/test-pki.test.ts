import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { makeTestCa, makeTestLeaf } from './test-pki.ts';

t.test('test PKI issues a leaf that chains to its CA with the SPIFFE URI SAN', async (t) => {
  const ca = await makeTestCa();
  const leaf = await makeTestLeaf(ca, { uris: ['spiffe://cluster.local/ns/a/sa/b'] });
  const cert = new X509Certificate(leaf.certPem);
  t.ok(cert.verify(new X509Certificate(ca.certPem).publicKey), 'signed by the CA');
  t.match(cert.subjectAltName ?? '', /URI:spiffe:\/\/cluster\.local\/ns\/a\/sa\/b/);
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});
