// The CA that signs workload certificates (X.509-SVIDs) from validated CSRs, and control's own
// TLS serving certificate from the same anchor so agents need only the trust bundle to trust it.
import { createHash, webcrypto } from 'node:crypto';
import { x509, EC_P256, ECDSA_SHA256 } from '../../common/x509.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { CsrResponse } from '../api/csr.ts';
import { DEFAULT_TRUST_DOMAIN } from '../api/identity.ts';
import { randomSerial, type TrustBundle } from './trust-anchor.ts';
import { validateCsr } from './csr-validation.ts';

export interface SignOptions {
  /** Identities the requester may have; absent means any identity in the trust domain. */
  allowedIdentities?: ReadonlySet<string>;
  /** Requested lifetime; capped at the CA's maximum. */
  ttlSeconds?: number;
  /** Who asked (node name), for the refusal message. */
  requester?: string;
}

export interface CertificateAuthority {
  sign(csrPem: string, opts: SignOptions): Promise<CsrResponse>;
}

export interface ServerCertificate {
  keyPem: string;
  /** Leaf first. */
  certChain: string[];
  trustAnchors: string[];
  notBefore: Date;
  notAfter: Date;
}

export interface LocalCaOptions {
  bundle: TrustBundle;
  trustDomain?: string;
  /** Lifetime when the request names none. */
  defaultTtlSeconds?: number;
  /** Upper bound on any requested lifetime. */
  maxTtlSeconds?: number;
  /** How far notBefore is set in the past, for nodes whose clocks run behind. */
  backdateSeconds?: number;
  now?: () => number;
}

export const DEFAULT_TTL_SECONDS = 24 * 3600;
export const DEFAULT_MAX_TTL_SECONDS = 7 * 24 * 3600;
export const DEFAULT_BACKDATE_SECONDS = 5 * 60;
const SERVER_TTL_SECONDS = 365 * 24 * 3600;

export class LocalCa implements CertificateAuthority {
  readonly trustDomain: string;
  #bundle: TrustBundle;
  readonly #defaultTtl: number;
  readonly #maxTtl: number;
  readonly #backdateMs: number;
  readonly #now: () => number;

  constructor(opts: LocalCaOptions) {
    this.#bundle = opts.bundle;
    this.trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    this.#maxTtl = opts.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
    this.#defaultTtl = Math.min(opts.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS, this.#maxTtl);
    this.#backdateMs = (opts.backdateSeconds ?? DEFAULT_BACKDATE_SECONDS) * 1000;
    this.#now = opts.now ?? Date.now;
    if (!(this.#defaultTtl > 0) || !(this.#maxTtl > 0) || !(this.#backdateMs >= 0)) {
      throw new WeftError(ErrorCodes.CONFIG_INVALID, 'CA lifetimes must be positive and the backdate not negative');
    }
  }

  get trustAnchors(): readonly string[] {
    return this.#bundle.anchorsPem;
  }

  get bundle(): TrustBundle {
    return this.#bundle;
  }

  /**
   * Swaps the anchors (a rotation step read from the CA directory). Signing reads the bundle once
   * per certificate, so a certificate is wholly under the old or wholly under the new anchors.
   */
  setBundle(bundle: TrustBundle): void {
    this.#bundle = bundle;
  }

  async sign(csrPem: string, opts: SignOptions = {}): Promise<CsrResponse> {
    const ttl = this.#ttl(opts.ttlSeconds);
    const csr = await validateCsr(csrPem, this.trustDomain);
    if (opts.allowedIdentities !== undefined && !opts.allowedIdentities.has(csr.spiffeId)) {
      const who = opts.requester === undefined ? 'this requester' : `node ${opts.requester}`;
      throw new WeftError(
        ErrorCodes.CSR_FORBIDDEN,
        `${who} may not get certificates for ${csr.spiffeId}: no pod with that service account is scheduled on it`,
      );
    }
    const bundle = this.#bundle;
    const cert = await this.#issue(csr.publicKey, [{ type: 'url', value: csr.spiffeId }], ttl, [
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ], bundle);
    return {
      certChain: [cert.toString('pem')],
      trustAnchors: [...bundle.anchorsPem],
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
    };
  }

  /** A serving certificate for control itself (DNS and IP SANs), with a fresh key. */
  async issueServerCert(dnsNames: string[], opts: { ipAddresses?: string[]; ttlSeconds?: number } = {}): Promise<ServerCertificate> {
    const names: x509.JsonGeneralName[] = [
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    if (names.length === 0) throw new WeftError(ErrorCodes.CONFIG_INVALID, 'a server certificate needs at least one DNS name or IP address');
    const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const publicKey = await x509.PublicKey.create(keys.publicKey);
    // Not capped by the workload maximum: control rotates it with its own restarts and the anchor.
    const cert = await this.#issue(publicKey, names, opts.ttlSeconds ?? SERVER_TTL_SECONDS, [x509.ExtendedKeyUsage.serverAuth]);
    const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
      certChain: [cert.toString('pem')],
      trustAnchors: [...this.#bundle.anchorsPem],
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
    };
  }

  #ttl(requested: number | undefined): number {
    if (requested === undefined) return this.#defaultTtl;
    if (typeof requested !== 'number' || !Number.isInteger(requested) || requested <= 0) {
      throw new WeftError(ErrorCodes.CSR_INVALID, `ttlSeconds must be a positive integer, got ${JSON.stringify(requested)}`);
    }
    return Math.min(requested, this.#maxTtl);
  }

  async #issue(publicKey: x509.PublicKey, names: x509.JsonGeneralName[], ttlSeconds: number, usages: x509.ExtendedKeyUsageType[], bundle = this.#bundle): Promise<x509.X509Certificate> {
    const anchor = bundle.signing;
    const now = this.#now();
    // A leaf never outlives its issuer: peers would reject the chain after the anchor expires.
    const notAfter = Math.min(now + ttlSeconds * 1000, anchor.notAfter.getTime());
    if (notAfter <= now) {
      throw new WeftError(ErrorCodes.CA_UNAVAILABLE, `the signing trust anchor expired at ${anchor.notAfter.toISOString()}; install a new root`, { expected: false });
    }
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // Empty subject: the identity lives in the SAN alone (X.509-SVID), hence the SAN is critical.
      subject: '',
      issuer: anchor.cert.subjectName,
      notBefore: new Date(now - this.#backdateMs),
      notAfter: new Date(notAfter),
      publicKey,
      signingKey: anchor.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(usages),
        new x509.SubjectAlternativeNameExtension(names, true),
        new x509.SubjectKeyIdentifierExtension(keyIdentifier(publicKey)),
        new x509.AuthorityKeyIdentifierExtension(anchor.keyId),
      ],
    });
  }
}

/**
 * RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. For a P-256 SPKI (91 bytes) that
 * is the 65-byte uncompressed point at its end. Hashing it here skips a WebCrypto key import and
 * export per certificate, a visible share of signing time.
 */
function keyIdentifier(publicKey: x509.PublicKey): string {
  const spki = Buffer.from(publicKey.rawData);
  return createHash('sha1').update(spki.subarray(spki.length - 65)).digest('hex');
}
