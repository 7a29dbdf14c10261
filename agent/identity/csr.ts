// Key pair and certificate request for one workload identity. The key is made here on the node
// and never leaves it; control sees only the CSR. ECDSA P-256 via WebCrypto and @peculiar/x509
// (node-forge has no ECDSA, so it is not used).
import { webcrypto } from 'node:crypto';
import { x509, EC_P256, ECDSA_SHA256 } from '../../common/x509.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { parseSpiffeId } from '../../control/api/identity.ts';

export interface GeneratedCsr {
  /** PKCS#8 PEM private key. */
  keyPem: string;
  /** PKCS#10 PEM request whose only SAN is the SPIFFE ID as a URI. */
  csrPem: string;
}

export async function generateCsr(spiffeId: string): Promise<GeneratedCsr> {
  if (parseSpiffeId(spiffeId) === null) {
    throw new WeftError(ErrorCodes.NO_IDENTITY, `cannot request a certificate for ${JSON.stringify(spiffeId)}: not a workload SPIFFE ID`);
  }
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}
