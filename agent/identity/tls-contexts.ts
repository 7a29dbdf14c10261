// Workload certificates as the TLS layer sees them, and a cache of one tls.SecureContext per
// SPIFFE identity. Building a SecureContext parses PEM and loads keys into OpenSSL, which is far
// too costly per connection; the cache rebuilds only when the certificate (or the trust anchors)
// actually changed, so a rotation is picked up by the next handshake without any restart.
import { createSecureContext, type SecureContext } from 'node:tls';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

// One workload's current certificate: the secret manager's type, the one definition.
import type { WorkloadCertificate } from './secret-manager.ts';
export type { WorkloadCertificate };

/** The seam to the secret manager: the current certificate of an identity (it renews them). */
export interface CertificateProvider {
  get(identity: string): Promise<WorkloadCertificate>;
}

export interface TlsContextCacheOptions {
  certificates: CertificateProvider;
  /**
   * Overrides the certificate's own trust anchors (e.g. a trust bundle kept apart from the
   * certificates, so a new root can be trusted before any workload is re-issued).
   */
  trustAnchors?: () => string[];
}

/** What the cache hands out: the context plus the certificate it was built from. */
export interface CachedContext {
  readonly identity: string;
  readonly context: SecureContext;
  readonly certificate: WorkloadCertificate;
}

interface Entry extends CachedContext {
  readonly anchors: readonly string[];
}

// Strings compare by reference first in V8, so unchanged PEM arrays compare in O(n) pointer checks.
function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameCertificate(a: WorkloadCertificate, b: WorkloadCertificate): boolean {
  if (a === b) return true;
  return (
    a.notAfter.getTime() === b.notAfter.getTime() &&
    a.keyPem === b.keyPem &&
    sameStrings(a.certChainPem, b.certChainPem)
  );
}

/**
 * Builds the context both ends of a tunnel use: our chain and key, the mesh trust anchors as the
 * only roots (never the public web PKI), TLS 1.3 only. Works for client and server sockets.
 */
export function buildSecureContext(cert: WorkloadCertificate, anchors: readonly string[]): SecureContext {
  if (cert.certChainPem.length === 0) {
    throw new WeftError(ErrorCodes.NO_IDENTITY, `certificate for ${cert.identity} has an empty chain — the secret manager returned no leaf`);
  }
  if (anchors.length === 0) {
    throw new WeftError(ErrorCodes.NO_IDENTITY, `no trust anchors for ${cert.identity} — is the trust bundle loaded?`);
  }
  return createSecureContext({
    key: cert.keyPem,
    cert: cert.certChainPem.join('\n'),
    ca: anchors.join('\n'),
    minVersion: 'TLSv1.3',
  });
}

export class TlsContextCache {
  readonly #certificates: CertificateProvider;
  readonly #trustAnchors: (() => string[]) | undefined;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: TlsContextCacheOptions) {
    this.#certificates = opts.certificates;
    this.#trustAnchors = opts.trustAnchors;
  }

  /**
   * The current context of an identity. Asks the provider every time (it keeps the current cert
   * in memory); the returned object is the same as last time unless the certificate changed,
   * which lets callers detect a rotation by identity comparison.
   */
  async get(identity: string): Promise<CachedContext> {
    let cert: WorkloadCertificate;
    try {
      cert = await this.#certificates.get(identity);
    } catch (err) {
      throw new WeftError(ErrorCodes.NO_IDENTITY, `no certificate for ${identity} — is the workload scheduled on this node and the CA reachable?`, { cause: err });
    }
    const anchors = this.#trustAnchors?.() ?? cert.trustAnchorsPem;
    const prev = this.#entries.get(identity);
    if (prev !== undefined && sameCertificate(prev.certificate, cert) && sameStrings(prev.anchors, anchors)) {
      return prev;
    }
    const entry: Entry = { identity, context: buildSecureContext(cert, anchors), certificate: cert, anchors };
    this.#entries.set(identity, entry);
    return entry;
  }

  /** Forgets an identity (its workload left the node). */
  delete(identity: string): void {
    this.#entries.delete(identity);
  }

  get size(): number {
    return this.#entries.size;
  }
}
