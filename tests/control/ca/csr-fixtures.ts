// Test-only CSR builder: makes requests the agent never would (RSA keys, DNS SANs, two URIs,
// CA:true, broken signatures) so the CA's refusals can be checked one by one.
import { webcrypto } from 'node:crypto';
import { x509, EC_P256, ECDSA_SHA256 } from '../../../common/x509.ts';

export interface CsrSpec {
  names?: x509.JsonGeneralName[];
  key?: 'p256' | 'p384' | 'rsa';
  ca?: boolean;
  /** Put the SAN twice, in two extensions. */
  duplicateSan?: boolean;
}

export async function makeCsr(spec: CsrSpec): Promise<string> {
  const alg =
    spec.key === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : spec.key === 'p384'
        ? { name: 'ECDSA', namedCurve: 'P-384' }
        : EC_P256;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const extensions: x509.Extension[] = [];
  if (spec.names !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(spec.names, true));
  if (spec.duplicateSan === true && spec.names !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(spec.names, false));
  if (spec.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(spec.ca, undefined, true));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: spec.key === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : spec.key === 'p384' ? { name: 'ECDSA', hash: 'SHA-384' } : ECDSA_SHA256,
    extensions,
  });
  return csr.toString('pem');
}

/** A well-formed CSR whose signature no longer matches its content (one byte of the SAN changed). */
export function tamper(csrPem: string, from: string, to: string): string {
  const der = Buffer.from(x509.PemConverter.decodeFirst(csrPem));
  const at = der.indexOf(Buffer.from(from));
  if (at < 0 || from.length !== to.length) throw new Error('tamper: text not found or lengths differ');
  Buffer.from(to).copy(der, at);
  return x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
}
