// The X.509 pieces that both of Weft's writers need: the CA's leaf certificate
// (control/ca/leaf-der.ts) and the agent's certificate request (agent/identity/csr.ts). Written
// once so the two cannot drift apart on how an identity is named or a signature is labelled.
import { bits, oid, seq, tlv } from './der.ts';

export interface SubjectAltName {
  type: 'url' | 'dns' | 'ip';
  value: string;
}

/** AlgorithmIdentifier for ecdsa-with-SHA256 (RFC 5758 §3.2: no parameters). */
export const ECDSA_SHA256_ALGORITHM = seq(oid('1.2.840.10045.4.3.2'));
export const DER_TRUE = tlv(0x01, Buffer.from([0xff]));
const OID_SAN = oid('2.5.29.17');

function generalName(n: SubjectAltName): Buffer {
  if (n.type === 'url') return tlv(0x86, Buffer.from(n.value, 'latin1'));
  if (n.type === 'dns') return tlv(0x82, Buffer.from(n.value, 'latin1'));
  return tlv(0x87, Buffer.from(n.value.split('.').map(Number)));
}

/**
 * The subjectAltName Extension. Weft's subjects are empty — the identity lives in the SAN alone —
 * so the SAN is critical (RFC 5280 §4.2.1.6).
 */
export function subjectAltNameExtension(sans: readonly SubjectAltName[]): Buffer {
  return seq(OID_SAN, DER_TRUE, tlv(0x04, seq(...sans.map(generalName))));
}

/** A signed structure (Certificate, CertificationRequest): body, algorithm, signature bits. */
export function signedDer(body: Buffer, signature: Buffer): Buffer {
  return seq(body, ECDSA_SHA256_ALGORITHM, bits(signature));
}

export function derToPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
