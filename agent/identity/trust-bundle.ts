// The set of trust anchors the agent accepts for peers. Every CSR answer carries control's current
// anchors; the newest answer wins, so a root rotation (new root added, later the old one removed)
// reaches every agent with its next certificate. Answers that complete out of order are ordered by
// their issue time, so a slow old answer cannot bring back a removed root.
import { X509Certificate } from 'node:crypto';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

export interface TrustBundleSnapshot {
  anchors: Array<{ subject: string; fingerprint256: string; notAfter: string }>;
  issuedAt: string | null;
}

export class AgentTrustBundle {
  #anchors: readonly string[] = [];
  #fingerprints = '';
  #issuedAt = -Infinity;

  /** Anchors as PEM, in control's order (signing anchor first). */
  get anchors(): readonly string[] {
    return this.#anchors;
  }

  /**
   * Offers the anchors of one answer, issued at `issuedAt` (control's notBefore for the leaf).
   * Returns true when the accepted set changed. Older answers than the current one are ignored.
   */
  update(anchorsPem: readonly string[], issuedAt: Date): boolean {
    const at = issuedAt.getTime();
    if (at < this.#issuedAt) return false;
    if (anchorsPem.length === 0) {
      throw new WeftError(ErrorCodes.CA_UNAVAILABLE, 'control sent no trust anchors; refusing to trust nothing');
    }
    const seen = new Set<string>();
    const pems: string[] = [];
    for (const pem of anchorsPem) {
      let fp: string;
      try {
        fp = new X509Certificate(pem).fingerprint256;
      } catch (err) {
        throw new WeftError(ErrorCodes.CA_UNAVAILABLE, `control sent a trust anchor that does not parse: ${(err as Error).message}`, { cause: err });
      }
      if (seen.has(fp)) continue;
      seen.add(fp);
      pems.push(pem.trim());
    }
    this.#issuedAt = at;
    const fingerprints = [...seen].sort().join(',');
    if (fingerprints === this.#fingerprints) return false;
    this.#fingerprints = fingerprints;
    this.#anchors = Object.freeze(pems);
    return true;
  }

  snapshot(): TrustBundleSnapshot {
    return {
      anchors: this.#anchors.map((pem) => {
        const c = new X509Certificate(pem);
        return { subject: c.subject, fingerprint256: c.fingerprint256, notAfter: new Date(c.validTo).toISOString() };
      }),
      issuedAt: Number.isFinite(this.#issuedAt) ? new Date(this.#issuedAt).toISOString() : null,
    };
  }
}
