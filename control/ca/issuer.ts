// The CA that signs workload certificates (X.509-SVIDs) from validated CSRs, and control's own
// TLS serving certificate from the same anchor so agents need only the trust bundle to trust it.
import { createHash, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { CsrResponse } from '../api/csr.ts';
import { DEFAULT_TRUST_DOMAIN } from '../api/identity.ts';
import type { TrustAnchor, TrustBundle } from './trust-anchor.ts';
import { derToPem, leafTbs, signTbs, subjectNameDer, type SubjectAltName } from './leaf-der.ts';
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
// 30 days: control renews it at half of that (control/ca/serving-cert.ts), so a copied key ages out.
const SERVER_TTL_SECONDS = 30 * 24 * 3600;

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
    const cert = this.#issue(csr.spki, [{ type: 'url', value: csr.spiffeId }], ttl, ['serverAuth', 'clientAuth'], bundle);
    return {
      certChain: [cert.pem],
      trustAnchors: [...bundle.anchorsPem],
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      issuedAt: new Date(this.#now()).toISOString(),
    };
  }

  /** A serving certificate for control itself (DNS and IP SANs), with a fresh key. */
  async issueServerCert(dnsNames: string[], opts: { ipAddresses?: string[]; ttlSeconds?: number } = {}): Promise<ServerCertificate> {
    const names: SubjectAltName[] = [
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    if (names.length === 0) throw new WeftError(ErrorCodes.CONFIG_INVALID, 'a server certificate needs at least one DNS name or IP address');
    const { publicKey, privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    // Not capped by the workload maximum: control renews it itself, and again when the signing anchor changes.
    const cert = this.#issue(spki, names, opts.ttlSeconds ?? SERVER_TTL_SECONDS, ['serverAuth']);
    return {
      keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      certChain: [cert.pem],
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

  #issue(spki: Buffer, sans: SubjectAltName[], ttlSeconds: number, usages: ('serverAuth' | 'clientAuth')[], bundle = this.#bundle): { pem: string; notBefore: Date; notAfter: Date } {
    const anchor = bundle.signing;
    const now = this.#now();
    // A leaf never outlives its issuer: peers would reject the chain after the anchor expires.
    // Whole seconds: what the certificate can encode, so the response states exactly what it holds.
    const notAfter = new Date(Math.floor(Math.min(now + ttlSeconds * 1000, anchor.notAfter.getTime()) / 1000) * 1000);
    if (notAfter.getTime() <= now) {
      throw new WeftError(ErrorCodes.CA_UNAVAILABLE, `the signing trust anchor expired at ${anchor.notAfter.toISOString()}; install a new root`, { expected: false });
    }
    const notBefore = new Date(Math.floor((now - this.#backdateMs) / 1000) * 1000);
    const signer = signerOf(anchor);
    const tbs = leafTbs({
      serial: serial(),
      issuer: signer.issuerName,
      notBefore,
      notAfter,
      spki,
      sans,
      extKeyUsages: usages,
      ski: keyIdentifier(spki),
      aki: signer.keyId,
    });
    return { pem: derToPem(signTbs(tbs, signer.key), 'CERTIFICATE'), notBefore, notAfter };
  }
}

const generateKeyPairAsync = promisify(generateKeyPair);

interface Signer {
  key: KeyObject;
  issuerName: Buffer;
  keyId: Buffer;
}

// Derived once per anchor: the signing KeyObject and the issuer fields every leaf repeats.
const signers = new WeakMap<TrustAnchor, Signer>();
function signerOf(anchor: TrustAnchor): Signer {
  let s = signers.get(anchor);
  if (s === undefined) {
    s = {
      key: anchor.privateKey,
      issuerName: subjectNameDer(Buffer.from(anchor.cert.rawData)),
      keyId: Buffer.from(anchor.keyId, 'hex'),
    };
    signers.set(anchor, s);
  }
  return s;
}

/** A 128-bit positive serial with its top byte non-zero, so the DER INTEGER is always 16 bytes. */
function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x40;
  return b;
}

/**
 * RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. For a P-256 SPKI (91 bytes) that
 * is the 65-byte uncompressed point at its end.
 */
function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
}
