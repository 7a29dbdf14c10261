// The SPIFFE identity of a TLS peer, read from its certificate's subjectAltName. An X.509 SVID
// carries exactly one URI SAN and it is the SPIFFE ID; anything else (none, two, a non-SPIFFE URI,
// another trust domain) is refused rather than guessed at.
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { ErrorCodes, WeftError } from '../../../common/errors.ts';
import { parseSpiffeId } from '../../../control/api/identity.ts';

/**
 * The URI entries of Node's subjectAltName string ("DNS:a, URI:spiffe://…"). Node writes an
 * entry as a JSON string when it contains a separator or quote; those are read as one value, so
 * a crafted SAN cannot smuggle an extra entry past a naive split on ", ".
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  const out: string[] = [];
  const s = subjectAltName ?? '';
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const type = s.slice(i, colon);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      // Find the closing quote that is not escaped.
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        value = '';
      }
      next = j + 1;
    } else {
      const sep = s.indexOf(', ', colon + 1);
      next = sep < 0 ? s.length : sep;
      value = s.slice(colon + 1, next);
    }
    if (type === 'URI') out.push(value);
    i = s.startsWith(', ', next) ? next + 2 : next;
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
