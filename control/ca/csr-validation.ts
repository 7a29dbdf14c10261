// Checks a PKCS#10 request before anything is signed. The CA copies nothing from the request but
// the public key and the SPIFFE ID, yet a request that asks for more (a CA certificate, a DNS
// name, a second identity) is refused outright rather than silently trimmed: it is either a bug
// in an agent or someone probing, and both deserve a clear answer.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { parseSpiffeId, type WorkloadIdentity } from '../api/identity.ts';
import { isCaConstraint, parseCsr, parseGeneralNames, pemToDer, verifyCsrSignature, type GeneralName, type ParsedCsr } from './csr-der.ts';

export interface ValidCsr {
  /** The one SPIFFE ID the request is for. */
  spiffeId: string;
  identity: WorkloadIdentity;
  /** The requester's P-256 public key (subjectPublicKeyInfo DER), to put in the certificate. */
  spki: Buffer;
}

function invalid(message: string, cause?: unknown): WeftError {
  return new WeftError(ErrorCodes.CSR_INVALID, message, cause === undefined ? undefined : { cause });
}

const BASIC_CONSTRAINTS_OID = '2.5.29.19';
const SAN_OID = '2.5.29.17';

/** Parses and checks a PEM CSR for a workload identity in `trustDomain`; throws WEFT_ERR_CSR_INVALID. */
export async function validateCsr(csrPem: string, trustDomain: string): Promise<ValidCsr> {
  if (typeof csrPem !== 'string' || !csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw invalid('csr is not a PEM PKCS#10 request (expected "-----BEGIN CERTIFICATE REQUEST-----")');
  }
  let csr: ParsedCsr;
  try {
    csr = parseCsr(pemToDer(csrPem, 'CERTIFICATE REQUEST'));
  } catch (err) {
    throw invalid(`csr does not parse as PKCS#10: ${(err as Error).message}`, err);
  }

  // The key type first: an RSA request is refused for its key even if its signature is fine.
  const keyType = csr.publicKey.asymmetricKeyType;
  const curve = csr.publicKey.asymmetricKeyDetails?.namedCurve;
  if (keyType !== 'ec' || curve !== 'prime256v1') {
    throw invalid(`csr key must be EC P-256, got ${keyType === 'ec' ? `EC ${curve ?? 'unknown curve'}` : (keyType ?? 'unknown').toUpperCase()}`);
  }
  if (!verifyCsrSignature(csr)) throw invalid('csr signature does not verify: the request was altered or not signed by its own key');

  for (const ext of csr.extensions) {
    if (ext.oid === BASIC_CONSTRAINTS_OID) {
      let ca: boolean;
      try {
        ca = isCaConstraint(ext.value);
      } catch (err) {
        throw invalid(`csr basicConstraints does not parse: ${(err as Error).message}`, err);
      }
      if (ca) throw invalid('csr asks for a CA certificate (basicConstraints CA:true); workloads get leaf certificates only');
    }
  }
  const sans = csr.extensions.filter((e) => e.oid === SAN_OID);
  if (sans.length === 0) throw invalid('csr has no subjectAltName; it must carry exactly one URI SAN, the SPIFFE ID');
  if (sans.length > 1) throw invalid(`csr has ${sans.length} subjectAltName extensions; it must have exactly one`);
  let names: GeneralName[];
  try {
    names = parseGeneralNames(sans[0].value);
  } catch (err) {
    throw invalid(`csr subjectAltName does not parse: ${(err as Error).message}`, err);
  }
  const other = names.filter((n) => n.type !== 'url');
  if (other.length > 0) {
    throw invalid(`csr subjectAltName may hold only the SPIFFE URI, found ${other.map((n) => `${n.type.toUpperCase()}:${n.value}`).join(', ')}`);
  }
  if (names.length !== 1) {
    throw invalid(`csr subjectAltName must hold exactly one URI (the SPIFFE ID), found ${names.length}${names.length > 0 ? `: ${names.map((n) => n.value).join(', ')}` : ''}`);
  }
  const spiffeId = names[0].value;
  const identity = parseSpiffeId(spiffeId);
  if (identity === null) {
    throw invalid(`csr URI SAN ${JSON.stringify(spiffeId)} is not a workload SPIFFE ID (spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>)`);
  }
  if (identity.trustDomain !== trustDomain) {
    throw invalid(`csr is for trust domain ${identity.trustDomain} but this CA signs for ${trustDomain}`);
  }
  return { spiffeId, identity, spki: csr.spki };
}
