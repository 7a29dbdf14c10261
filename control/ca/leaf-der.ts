// The leaf certificate (X.509-SVID) as DER, built from a fixed shape and signed with node:crypto.
// Everything variable is a parameter; nothing is copied from the request but the key and the SAN.
import { sign, type KeyObject } from 'node:crypto';
import { children, expectTag, octets, oid, readTlv, seq, time, tlv, uint } from '../../common/der.ts';
import { DER_TRUE as TRUE, ECDSA_SHA256_ALGORITHM as ECDSA_SHA256, signedDer, subjectAltNameExtension, type SubjectAltName } from '../../common/x509-der.ts';

export { derToPem, type SubjectAltName } from '../../common/x509-der.ts';

export interface LeafSpec {
  serial: Buffer;
  /** The issuer's subject Name, DER. */
  issuer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** subjectPublicKeyInfo DER of the holder's key. */
  spki: Buffer;
  sans: readonly SubjectAltName[];
  extKeyUsages: readonly ('serverAuth' | 'clientAuth')[];
  /** Subject key identifier (20 bytes). */
  ski: Buffer;
  /** The issuer's key identifier. */
  aki: Buffer;
}

const VERSION_3 = tlv(0xa0, tlv(0x02, Buffer.from([2])));
const EMPTY_NAME = seq();
const EKU: Record<'serverAuth' | 'clientAuth', Buffer> = { serverAuth: oid('1.3.6.1.5.5.7.3.1'), clientAuth: oid('1.3.6.1.5.5.7.3.2') };
// Fixed extensions, encoded once.
const BASIC_CONSTRAINTS_LEAF = seq(oid('2.5.29.19'), TRUE, octets(seq()));
const KEY_USAGE_DIGITAL_SIGNATURE = seq(oid('2.5.29.15'), TRUE, octets(tlv(0x03, Buffer.from([0x07, 0x80]))));
const OID_EKU = oid('2.5.29.37');
const OID_SKI = oid('2.5.29.14');
const OID_AKI = oid('2.5.29.35');

export function leafTbs(s: LeafSpec): Buffer {
  const extensions = [
    BASIC_CONSTRAINTS_LEAF,
    KEY_USAGE_DIGITAL_SIGNATURE,
    seq(OID_EKU, octets(seq(...s.extKeyUsages.map((u) => EKU[u])))),
    subjectAltNameExtension(s.sans),
    seq(OID_SKI, octets(octets(s.ski))),
    seq(OID_AKI, octets(seq(tlv(0x80, s.aki)))),
  ];
  return seq(VERSION_3, uint(s.serial), ECDSA_SHA256, s.issuer, seq(time(s.notBefore), time(s.notAfter)), EMPTY_NAME, s.spki, tlv(0xa3, seq(...extensions)));
}

/** Signs a TBSCertificate with the issuer's EC key; returns the Certificate DER. */
export function signTbs(tbs: Buffer, issuerKey: KeyObject): Buffer {
  return signedDer(tbs, sign('sha256', tbs, { key: issuerKey, dsaEncoding: 'der' }));
}

/** The subject Name DER of a certificate: what its children carry as their issuer. */
export function subjectNameDer(certDer: Buffer): Buffer {
  const cert = expectTag(readTlv(certDer, 0), 0x30, 'Certificate');
  const tbs = expectTag(children(certDer, cert)[0], 0x30, 'tbsCertificate');
  const fields = children(certDer, tbs);
  const i = fields[0]?.tag === 0xa0 ? 5 : 4;
  const subject = expectTag(fields[i], 0x30, 'subject');
  return certDer.subarray(subject.start, subject.end);
}
