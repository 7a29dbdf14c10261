// The TLS server name that tells the destination agent which workload certificate to present.
// Readable in packet captures: `<sa>.<ns>.<td-hash>.hbone.weft`, read from the right so service
// accounts with dots stay unambiguous. The trust domain is only a short hash: the server knows
// its own. Names too long for DNS fall back to `<hash-of-id>.id.hbone.weft`, which the server maps
// back by hashing the identities it hosts.
import { createHash } from 'node:crypto';
import { parseSpiffeId, spiffeId } from '../../../control/api/identity.ts';

const SUFFIX = 'hbone.weft';
const MAX_NAME = 253;
const MAX_LABEL = 63;

function hex(s: string, chars: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, chars);
}

function hashedName(identity: string): string {
  return `${hex(identity, 32)}.id.${SUFFIX}`;
}

/** The SNI for a destination identity; throws if it is not a workload SPIFFE ID. */
export function sniForIdentity(identity: string): string {
  const id = parseSpiffeId(identity);
  if (id === null) throw new TypeError(`not a workload SPIFFE ID: ${identity}`);
  const name = `${id.serviceAccount}.${id.namespace}.${hex(id.trustDomain, 8)}.${SUFFIX}`;
  if (name.length > MAX_NAME || id.serviceAccount.split('.').some((l) => l.length > MAX_LABEL)) return hashedName(identity);
  return name;
}

/**
 * The local identity an SNI asks for, or null if it names none of `local` (an unknown name gets
 * no certificate at all, so a scanner learns nothing about who lives on the node).
 */
export function identityForSni(sni: string, trustDomain: string, local: Iterable<string>): string | null {
  const labels = sni.toLowerCase().split('.');
  const n = labels.length;
  if (n < 4 || labels[n - 2] !== 'hbone' || labels[n - 1] !== 'weft') return null;
  let wanted: string | null = null;
  if (n === 4 && labels[1] === 'id') {
    for (const candidate of local) {
      if (hex(candidate, 32) === labels[0]) return candidate;
    }
    return null;
  }
  if (n >= 5 && labels[n - 3] === hex(trustDomain, 8)) {
    wanted = spiffeId(trustDomain, labels[n - 4], labels.slice(0, n - 4).join('.'));
  }
  if (wanted === null) return null;
  for (const candidate of local) {
    if (candidate === wanted) return wanted;
  }
  return null;
}
