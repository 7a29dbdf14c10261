// The SPIFFE identity of a TLS peer, read from its certificate's subjectAltName. An X.509 SVID
// carries exactly one URI SAN and it is the SPIFFE ID; anything else (none, two, a non-SPIFFE URI,
// another trust domain) is refused rather than guessed at.
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { ErrorCodes, WeftError } from '../../../common/errors.ts';
import { parseSpiffeId } from '../../../control/api/identity.ts';

/**
 * The URI entries of Node's subjectAltName string ("DNS:a, URI:spiffe://…"). Node quotes an
 * entry as a JSON string when it contains a separator or quote, so a crafted SAN cannot smuggle
 * an extra entry past this split.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  const out: string[] = [];
  if (subjectAltName === undefined || subjectAltName === '') return out;
  for (const part of subjectAltName.split(', ')) {
    if (!part.startsWith('URI:')) continue;
    let value = part.slice(4);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        value = '';
      }
    }
    out.push(value);
  }
  return out;
}

/** The peer's SPIFFE ID, or a WEFT_ERR_PEER_IDENTITY error saying why it has none we accept. */
export function spiffeIdFromSan(subjectAltName: string | undefined, trustDomain: string): string | WeftError {
  const uris = uriSans(subjectAltName);
  if (uris.length !== 1) {
    return new WeftError(ErrorCodes.PEER_IDENTITY, `peer certificate has ${uris.length} URI SANs, expected exactly one SPIFFE ID — was it issued by the mesh CA?`);
  }
  const id = uris[0];
  const parsed = parseSpiffeId(id);
  if (parsed === null) {
    return new WeftError(ErrorCodes.PEER_IDENTITY, `peer URI SAN ${JSON.stringify(id)} is not a workload SPIFFE ID (spiffe://<td>/ns/<ns>/sa/<sa>)`);
  }
  if (parsed.trustDomain !== trustDomain) {
    return new WeftError(ErrorCodes.PEER_IDENTITY, `peer ${id} is in trust domain ${parsed.trustDomain}, not ${trustDomain}`);
  }
  return id;
}

/** The verified peer identity of an authenticated TLS socket. */
export function peerSpiffeId(socket: TLSSocket, trustDomain: string): string | WeftError {
  if (!socket.authorized) {
    return new WeftError(ErrorCodes.PEER_IDENTITY, `peer certificate not verified: ${String(socket.authorizationError ?? 'no certificate')}`);
  }
  const cert: PeerCertificate = socket.getPeerCertificate();
  return spiffeIdFromSan(cert.subjectaltname, trustDomain);
}

/**
 * A tls checkServerIdentity that accepts only a server whose SPIFFE ID is `expected` (the chain
 * was already verified against the trust anchors; hostnames mean nothing in the mesh).
 */
export function expectServerIdentity(expected: string, trustDomain: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const id = spiffeIdFromSan(cert.subjectaltname, trustDomain);
    if (id instanceof WeftError) return id;
    if (id !== expected) {
      return new WeftError(ErrorCodes.PEER_IDENTITY, `HBONE peer presented ${id}, expected ${expected} — stale endpoint or misrouted traffic?`);
    }
    return undefined;
  };
}
