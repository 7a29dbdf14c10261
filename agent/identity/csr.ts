// Key pair and certificate request for one workload identity. The key is made here on the node
// and never leaves it; control sees only the CSR (PKCS#10, RFC 2986): an empty subject, the
// SPIFFE ID as the one URI SAN (critical), ECDSA P-256 signed with SHA-256.
//
// Written with the DER helpers the CA's leaf writer uses (common/der.ts, common/x509-der.ts)
// rather than @peculiar/x509: that library and its ASN.1 stack cost every agent ~9 MiB of heap and
// ~9 MiB of mapped code (measured: node -e "require('@peculiar/x509')" against a bare node with
// node:tls loaded) for one fixed structure per identity.
import { generateKeyPair, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { oid, seq, tlv } from '../../common/der.ts';
import { derToPem, signedDer, subjectAltNameExtension } from '../../common/x509-der.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { parseSpiffeId } from '../../control/api/identity.ts';

export interface GeneratedCsr {
  /** PKCS#8 PEM private key. */
  keyPem: string;
  /** PKCS#10 PEM request whose only SAN is the SPIFFE ID as a URI. */
  csrPem: string;
}

const generateEcKeyPair = promisify(generateKeyPair);
const VERSION_1 = tlv(0x02, Buffer.from([0]));
const EMPTY_NAME = seq();
/** PKCS#9 extensionRequest: the attribute that carries the extensions asked for. */
const OID_EXTENSION_REQUEST = oid('1.2.840.113549.1.9.14');

export async function generateCsr(spiffeId: string): Promise<GeneratedCsr> {
  if (parseSpiffeId(spiffeId) === null) {
    throw new WeftError(ErrorCodes.NO_IDENTITY, `cannot request a certificate for ${JSON.stringify(spiffeId)}: not a workload SPIFFE ID`);
  }
  const { publicKey, privateKey } = await generateEcKeyPair('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const extensionRequest = seq(OID_EXTENSION_REQUEST, tlv(0x31, seq(subjectAltNameExtension([{ type: 'url', value: spiffeId }]))));
  const info = seq(VERSION_1, EMPTY_NAME, spki, tlv(0xa0, extensionRequest));
  const csr = signedDer(info, sign('sha256', info, { key: privateKey, dsaEncoding: 'der' }));
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrPem: derToPem(csr, 'CERTIFICATE REQUEST') };
}
