// PKCS#10 (RFC 2986) read with the DER helpers: the parts the CA needs — the signed body, the
// public key, the signature and the requested extensions — and the signature check, with
// node:crypto doing the ECDSA verify.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { children, decodeOid, DerError, expectTag, readTlv } from '../../common/der.ts';

export interface CsrExtension {
  oid: string;
  critical: boolean;
  /** The extnValue contents (the DER of the extension's own value). */
  value: Buffer;
}

export interface ParsedCsr {
  /** certificationRequestInfo, exactly as signed. */
  info: Buffer;
  /** subjectPublicKeyInfo DER: copied into the certificate as it is. */
  spki: Buffer;
  publicKey: KeyObject;
  signatureAlgorithm: string;
  signature: Buffer;
  extensions: CsrExtension[];
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
export const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export function pemToDer(pem: string, label: string): Buffer {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const a = pem.indexOf(begin);
  const b = pem.indexOf(end, a + begin.length);
  if (a < 0 || b < 0) throw new DerError(`no ${label} PEM block`);
  const body = pem.slice(a + begin.length, b).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new DerError(`${label} PEM body is not base64`);
  return Buffer.from(body, 'base64');
}

/** Parses a CSR's DER; throws DerError (or a crypto error for a bad key) on anything malformed. */
export function parseCsr(der: Buffer): ParsedCsr {
  const top = expectTag(readTlv(der, 0), 0x30, 'CertificationRequest');
  if (top.end !== der.length) throw new DerError('trailing bytes after the request');
  const [infoNode, algNode, sigNode] = children(der, top);
  expectTag(infoNode, 0x30, 'certificationRequestInfo');
  expectTag(algNode, 0x30, 'signatureAlgorithm');
  expectTag(sigNode, 0x03, 'signature');
  const [version, subject, spkiNode, attrs] = children(der, infoNode);
  expectTag(version, 0x02, 'version');
  expectTag(subject, 0x30, 'subject');
  expectTag(spkiNode, 0x30, 'subjectPKInfo');
  const spki = der.subarray(spkiNode.start, spkiNode.end);
  const publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });

  const extensions: CsrExtension[] = [];
  if (attrs !== undefined) {
    expectTag(attrs, 0xa0, 'attributes');
    for (const attr of children(der, attrs)) {
      const [type, values] = children(der, expectTag(attr, 0x30, 'attribute'));
      if (decodeOid(der, expectTag(type, 0x06, 'attribute type')) !== EXTENSION_REQUEST) continue;
      for (const exts of children(der, expectTag(values, 0x31, 'attribute values'))) {
        for (const ext of children(der, expectTag(exts, 0x30, 'extensions'))) {
          const parts = children(der, expectTag(ext, 0x30, 'extension'));
          const id = decodeOid(der, expectTag(parts[0], 0x06, 'extnID'));
          const critical = parts.length === 3 && parts[1].tag === 0x01 && der[parts[1].body] !== 0;
          const valueNode = expectTag(parts[parts.length - 1], 0x04, 'extnValue');
          extensions.push({ oid: id, critical, value: der.subarray(valueNode.body, valueNode.end) });
        }
      }
    }
  }
  const algOid = decodeOid(der, expectTag(children(der, algNode)[0], 0x06, 'algorithm'));
  if (der[sigNode.body] !== 0) throw new DerError('signature BIT STRING has unused bits');
  return {
    info: der.subarray(infoNode.start, infoNode.end),
    spki,
    publicKey,
    signatureAlgorithm: algOid,
    signature: der.subarray(sigNode.body + 1, sigNode.end),
    extensions,
  };
}

export function verifyCsrSignature(csr: ParsedCsr): boolean {
  if (csr.signatureAlgorithm !== ECDSA_WITH_SHA256) return false;
  try {
    return verify('sha256', csr.info, { key: csr.publicKey, dsaEncoding: 'der' }, csr.signature);
  } catch {
    return false;
  }
}

export interface GeneralName {
  type: 'url' | 'dns' | 'ip' | 'email' | 'other';
  value: string;
}

/** GeneralNames (RFC 5280 4.2.1.6) from a subjectAltName extension value. */
export function parseGeneralNames(value: Buffer): GeneralName[] {
  const list = expectTag(readTlv(value, 0), 0x30, 'GeneralNames');
  return children(value, list).map((n) => {
    const raw = value.subarray(n.body, n.end);
    switch (n.tag) {
      case 0x86: return { type: 'url', value: raw.toString('latin1') };
      case 0x82: return { type: 'dns', value: raw.toString('latin1') };
      case 0x81: return { type: 'email', value: raw.toString('latin1') };
      case 0x87: return { type: 'ip', value: raw.length === 4 ? [...raw].join('.') : raw.toString('hex') };
      default: return { type: 'other', value: `tag 0x${n.tag.toString(16)}` };
    }
  });
}

/** basicConstraints value → cA flag. */
export function isCaConstraint(value: Buffer): boolean {
  const s = expectTag(readTlv(value, 0), 0x30, 'BasicConstraints');
  const first = children(value, s)[0];
  return first !== undefined && first.tag === 0x01 && value[first.body] !== 0;
}
