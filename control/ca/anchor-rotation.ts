// Trust anchor rotation, driven by the CA directory (WEFT_CA_DIR; in a cluster a mounted Secret):
//
//   ca.crt, ca.key      the signing anchor (ca.crt may carry further anchors after the first)
//   trust-bundle.crt    optional: more anchors to accept — the next root before the switch, the
//                       previous root after it
//
// A rotation from root A to root B is three edits of that directory, each applied by control
// within one poll and pushed to agents as a new `trust` record version (agents then re-issue
// every certificate at once):
//   1. add B to trust-bundle.crt             → every agent accepts A and B; certificates stay A
//   2. make B the signer (ca.crt/ca.key = B), A in trust-bundle.crt
//                                             → every workload certificate is re-issued under B
//   3. drop A from trust-bundle.crt          → every agent accepts B only
// Waiting between steps until every agent has moved is what makes the sequence lossless: nobody
// sees a B certificate before trusting B, and A is dropped only after nobody presents one.
//
// Control replicas read the same directory and hold no signing state of their own, so any
// replica signs identically. The directory is polled (content digest), not watched: Secret
// volumes swap a `..data` symlink, which inotify on the files themselves does not see.
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isWeftError } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { TrustRecord } from '../api/model.ts';
import { CA_CERT_FILE, CA_KEY_FILE, loadTrustBundle, type TrustBundle } from './trust-anchor.ts';

export const TRUST_BUNDLE_FILE = 'trust-bundle.crt';
export const TRUST_RECORD_KEY = 'anchors';

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A digest of the directory's anchor files: equal digests mean nothing to reload. */
export async function caDirSignature(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of [CA_CERT_FILE, CA_KEY_FILE, TRUST_BUNDLE_FILE]) h.update(f).update('\0').update((await readOrNull(join(dir, f))) ?? '\u0001absent').update('\0');
  return h.digest('hex');
}

/** Loads signing anchor and every extra anchor from the directory. */
export async function loadCaDir(dir: string): Promise<TrustBundle> {
  const bundleFile = join(dir, TRUST_BUNDLE_FILE);
  const hasBundle = (await readOrNull(bundleFile)) !== null;
  return loadTrustBundle({ certFile: join(dir, CA_CERT_FILE), keyFile: join(dir, CA_KEY_FILE), ...(hasBundle ? { bundleFile } : {}) });
}

/** The record agents watch: fingerprints of the anchors and of the signer, and their digest. */
export function trustRecordOf(bundle: TrustBundle): TrustRecord {
  const anchors = bundle.anchorsPem.map((p) => new X509Certificate(p).fingerprint256);
  const signing = new X509Certificate(bundle.signing.certPem).fingerprint256;
  const version = createHash('sha256').update(signing).update('|').update([...anchors].sort().join(',')).digest('hex').slice(0, 16);
  return { kind: 'trust', key: TRUST_RECORD_KEY, version, signing, anchors };
}

export interface CaDirWatcherOptions {
  dir: string;
  intervalMs: number;
  log: Logger;
  /** Called with each new valid bundle (not with the one loaded at start). */
  onChange(bundle: TrustBundle): void;
}

/**
 * Polls the CA directory and hands over every new valid bundle. An invalid state (a key that does
 * not match, a half-written Secret) is logged once and skipped: the current anchors stay in use.
 */
export class CaDirWatcher {
  readonly #o: CaDirWatcherOptions;
  #timer: NodeJS.Timeout | null = null;
  #signature = '';
  #busy = false;
  #reported = '';

  constructor(o: CaDirWatcherOptions) {
    this.#o = o;
  }

  /** Remembers the current content as already applied, then polls. */
  async start(): Promise<void> {
    this.#signature = await caDirSignature(this.#o.dir);
    this.#timer = setInterval(() => void this.check(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One poll; resolves true when a new bundle was applied. */
  async check(): Promise<boolean> {
    if (this.#busy) return false;
    this.#busy = true;
    try {
      const sig = await caDirSignature(this.#o.dir);
      if (sig === this.#signature) return false;
      let bundle: TrustBundle;
      try {
        bundle = await loadCaDir(this.#o.dir);
      } catch (err) {
        if (this.#reported !== sig) {
          this.#reported = sig;
          this.#o.log.warn('trust anchors in the CA directory are not usable; keeping the current ones', { dir: this.#o.dir, ...(isWeftError(err) ? { code: err.code, reason: err.message } : { err }) });
        }
        return false;
      }
      this.#signature = sig;
      this.#o.onChange(bundle);
      return true;
    } catch (err) {
      this.#o.log.warn('reading the CA directory failed', { dir: this.#o.dir, err });
      return false;
    } finally {
      this.#busy = false;
    }
  }
}
