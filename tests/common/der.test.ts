import t from 'tap';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { children, decodeOid, oid, readTlv, seq, time, tlv, uint } from '../../common/der.ts';
import { derToPem, leafTbs, signTbs } from '../../control/ca/leaf-der.ts';

t.test('lengths: short, one-byte and two-byte forms round-trip', async (t) => {
  for (const n of [0, 127, 128, 255, 256, 70_000]) {
    const enc = tlv(0x04, Buffer.alloc(n));
    const node = readTlv(enc, 0);
    t.equal(node.end - node.body, n, `${n} bytes`);
  }
  t.throws(() => readTlv(Buffer.from([0x04, 0x81, 0x05, 1, 2, 3, 4, 5]), 0), /non-minimal/);
  t.throws(() => readTlv(Buffer.from([0x04, 0x05, 1]), 0), /runs past/);
  t.throws(() => readTlv(Buffer.from([0x30, 0x80]), 0), /unsupported/, 'indefinite lengths refused');
});

t.test('INTEGER is minimal and positive', async (t) => {
  t.same([...uint(Buffer.from([0, 0, 5]))], [0x02, 0x01, 0x05]);
  t.same([...uint(Buffer.from([0x80]))], [0x02, 0x02, 0x00, 0x80], 'sign byte added');
  t.same([...uint(Buffer.from([0, 0x80]))], [0x02, 0x02, 0x00, 0x80], 'needed zero kept');
});

t.test('OIDs round-trip, including multi-byte arcs', async (t) => {
  for (const o of ['2.5.29.17', '1.2.840.10045.4.3.2', '1.2.840.113549.1.9.14', '1.3.6.1.5.5.7.3.1']) {
    const enc = oid(o);
    t.equal(decodeOid(enc, readTlv(enc, 0)), o);
  }
});

t.test('times: UTCTime before 2050, GeneralizedTime after (RFC 5280)', async (t) => {
  t.equal(time(new Date('2026-11-25T16:00:01Z')).subarray(2).toString(), '261125160001Z');
  t.equal(time(new Date('2026-11-25T16:00:01Z'))[0], 0x17);
  const g = time(new Date('2051-01-02T03:04:05Z'));
  t.equal(g[0], 0x18);
  t.equal(g.subarray(2).toString(), '20510102030405Z');
});

t.test('a built leaf parses with OpenSSL and carries what was asked', async (t) => {
  const issuer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const holder = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const name = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('test-root')))));
  const tbs = leafTbs({
    serial: Buffer.from('4a'.repeat(16), 'hex'),
    issuer: name,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2026-01-02T00:00:00Z'),
    spki: holder.publicKey.export({ type: 'spki', format: 'der' }),
    sans: [{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }],
    extKeyUsages: ['serverAuth', 'clientAuth'],
    ski: Buffer.alloc(20, 1),
    aki: Buffer.alloc(20, 2),
  });
  const cert = new X509Certificate(derToPem(signTbs(tbs, issuer.privateKey), 'CERTIFICATE'));
  t.ok(cert.verify(issuer.publicKey), 'signature verifies');
  t.equal(cert.subjectAltName, 'URI:spiffe://cluster.local/ns/a/sa/b');
  t.equal(cert.issuer, 'CN=test-root');
  t.equal(cert.serialNumber.toLowerCase(), '4a'.repeat(16));
  t.equal(cert.validTo, 'Jan  2 00:00:00 2026 GMT');
  t.notOk(cert.ca);
  t.same(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  t.equal(children(tbs, readTlv(tbs, 0)).length, 8, 'version, serial, alg, issuer, validity, subject, key, extensions');
});
