// The main thread's certificates follow the model: every meshed workload on the node (and, in pod
// scope, every pod captured before it was networked) gets its certificate fetched ahead, so its
// first connection does not wait for a CSR; a workload that left is forgotten. A change of
// control's trust anchors is a root rotation step: every certificate is re-issued at once, so
// workloads move to the new signing anchor and learn the new anchor set from the CSR answers
// instead of waiting for half their lifetime.
import { errorCode } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { TrustRecord } from '../control/api/model.ts';
import type { CachingSecretManager } from './identity/secret-manager.ts';

export class IdentitySync {
  readonly #secrets: CachingSecretManager;
  readonly #log: Logger;
  readonly #known = new Set<string>();
  #trustVersion: string | null = null;

  constructor(secrets: CachingSecretManager, log: Logger) {
    this.#secrets = secrets;
    this.#log = log;
  }

  /** The version of control's trust anchors last seen (/config_dump/trust). */
  get trustVersion(): string | null {
    return this.#trustVersion;
  }

  /** Makes the fetched set exactly `identities`. */
  sync(identities: Iterable<string>): void {
    const now = new Set(identities);
    for (const id of now) {
      if (this.#known.has(id)) continue;
      this.#known.add(id);
      this.#secrets.get(id).catch((err: unknown) => this.#log.warn('certificate request failed', { identity: id, code: errorCode(err), message: (err as Error).message }));
    }
    for (const id of this.#known) {
      if (now.has(id)) continue;
      this.#known.delete(id);
      this.#secrets.forget(id);
    }
  }

  /** Control's trust record arrived (the first, or a change). */
  trust(r: TrustRecord): void {
    if (this.#trustVersion !== null && this.#trustVersion !== r.version) {
      this.#log.info('trust anchors changed; re-issuing certificates', { version: r.version, signing: r.signing, anchors: r.anchors.length });
      this.#secrets.renewAll();
    }
    this.#trustVersion = r.version;
  }
}
