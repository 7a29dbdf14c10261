// Test-only PKI: makes CAs and leaf certificates with any SAN, lifetime or issuer, including the
// bad ones (expired, wrong SAN, foreign CA) the real CA refuses to issue. Not for production code.
import { x509, EC_P256, ECDSA_SHA256 } from '../../common/x509.ts';
import { webcrypto, randomBytes } from 'node:crypto';

export interface TestCa {
  certPem: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

export interface TestLeaf {
  certPem: string;
  keyPem: string;
  /** Leaf then issuer chain, PEM, as a TLS endpoint presents it. */
  chainPem: string;
}

const HOUR = 3600_000;

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

export async function makeTestCa(name = 'weft-test-ca', opts: { notBefore?: Date; notAfter?: Date } = {}): Promise<TestCa> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}, O=weft-test`,
    notBefore: opts.notBefore ?? new Date(Date.now() - HOUR),
    notAfter: opts.notAfter ?? new Date(Date.now() + 24 * HOUR),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keys, cert };
}

export interface LeafOptions {
  /** URI SANs (SPIFFE IDs); DNS names go in `dns`. */
  uris?: string[];
  dns?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

export async function makeTestLeaf(ca: TestCa, opts: LeafOptions): Promise<TestLeaf> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names: x509.JsonGeneralName[] = [
    ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: '',
    issuer: ca.cert.subject,
    notBefore: opts.notBefore ?? new Date(Date.now() - HOUR),
    notAfter: opts.notAfter ?? new Date(Date.now() + HOUR),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names, true),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  const certPem = cert.toString('pem');
  return { certPem, keyPem, chainPem: `${certPem}\n${ca.certPem}\n` };
}
