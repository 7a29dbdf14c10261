// Keeps redirection in step with the model, one reconcile at a time: node scope hands the
// redirector the node's meshed workloads; pod scope reconciles the in-pod capture (pod-scope.ts).
// Its status is what /ready, /config_dump/redirect and `weft check` report (redirect-status.ts):
// pending until the first reconcile (which needs control's first snapshot), then installed or
// failed — a failed one is retried on the next change.
import { errorCode } from '../common/errors.ts';
import type { Logger } from '../common/log.ts';
import type { PodScope } from './pod-scope.ts';
import type { Redirector, RedirectWorkload } from './redirect/redirector.ts';
import type { RedirectStatus } from './redirect/redirect-status.ts';

export interface RedirectReconcilerOptions {
  /** Node scope's redirector; null in pod scope and with WEFT_REDIRECT_MODE=none. */
  redirector: Redirector | null;
  /** Pod scope: capture inside each pod (its PodScope is set once the proxies listen). */
  podScoped: boolean;
  /** Control's first snapshot has arrived (the model is complete). */
  modelReady(): boolean;
  /** The node's meshed workloads, what node scope captures. */
  workloads(): RedirectWorkload[];
  log: Logger;
  /** After every reconcile, whatever its outcome (readiness may have changed). */
  onSettled(): void;
}

export class RedirectReconciler {
  status: RedirectStatus;
  /** Pod scope's capture, once started. */
  pods: PodScope | null = null;
  readonly #o: RedirectReconcilerOptions;
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(o: RedirectReconcilerOptions) {
    this.#o = o;
    this.status = o.redirector === null && !o.podScoped ? { state: 'none' } : { state: 'pending' };
  }

  /** Queues a reconcile behind the one running (none before the model is complete or after stop). */
  reconcile(): void {
    const o = this.#o;
    if ((o.redirector === null && this.pods === null) || this.#stopped || !o.modelReady()) return;
    this.#chain = this.#chain.then(() => this.#run());
  }

  /** No reconcile starts after this; resolves when the running one is done. */
  stop(): Promise<void> {
    this.#stopped = true;
    return this.#chain;
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    const o = this.#o;
    try {
      const pods = this.pods;
      if (pods !== null) {
        // The model is complete here: stale capture from before a restart can go.
        await pods.manager.reconcile({ sweep: true });
        const st = pods.manager.status();
        const failed = st.pods.filter((p) => p.state === 'failed');
        this.status = failed.length === 0
          ? { state: 'installed', pods: { captured: st.captured, missing: st.missing.length } }
          : { state: 'failed', error: `${failed.length} pod(s) not captured: ${failed.map((p) => `${p.key}: ${p.error ?? ''}`).join('; ')}` };
      } else if (o.redirector !== null) {
        await o.redirector.reconcile(o.workloads());
        this.status = { state: 'installed' };
      }
    } catch (err) {
      this.status = { state: 'failed', error: `${errorCode(err)}: ${(err as Error).message}` };
      o.log.error('redirect reconcile failed; will retry on the next change', { err });
    }
    o.onSettled();
  }
}
