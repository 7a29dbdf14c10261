// Control's own TLS serving certificate, kept valid for as long as control runs. It is re-issued
// when the signing anchor changes — after a rotation's last step the old anchor is gone from every
// agent's bundle, and a certificate it signed would lock every agent out of control until control
// restarted — and at half of its lifetime (a leaf never outlives its anchor, so near an anchor's
// end the lifetime is short). Servers take the new one with setSecureContext: open connections
// keep theirs, new handshakes get the new one.
import type { Logger } from '../../common/log.ts';
import type { ServerCertificate } from './issuer.ts';

/** Never renew more often than this, whatever the lifetime says (a tiny lifetime near an anchor's end). */
export const MIN_RENEW_DELAY_MS = 60_000;
/** setTimeout's ceiling (2^31-1 ms, about 24.8 days): longer delays are re-armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;

/** When a certificate valid from notBefore to notAfter should be replaced: half-way, not before `now` + the minimum. */
export function renewalDelayMs(notBefore: Date, notAfter: Date, now: number, minDelayMs = MIN_RENEW_DELAY_MS): number {
  const half = notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) / 2;
  return Math.max(minDelayMs, Math.round(half - now));
}

export interface ServingCertificateOptions {
  /** Issues a fresh certificate under the CA's current signing anchor. */
  issue: () => Promise<ServerCertificate>;
  /** Hands a renewed certificate to the servers. */
  onRenew: (cert: ServerCertificate) => void;
  log: Logger;
  now?: () => number;
  minDelayMs?: number;
}

export class ServingCertificate {
  #current: ServerCertificate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #stopped = false;
  /** One renewal at a time: an anchor change during a timer renewal waits for it, then runs. */
  #chain: Promise<void> = Promise.resolve();
  readonly #o: ServingCertificateOptions;
  readonly #now: () => number;

  constructor(opts: ServingCertificateOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Issues the first certificate (no onRenew: the servers are created with it) and arms the timer. */
  async start(): Promise<ServerCertificate> {
    const cert = await this.#o.issue();
    this.#current = cert;
    this.#schedule(cert);
    return cert;
  }

  get current(): ServerCertificate | undefined {
    return this.#current;
  }

  /** Re-issues now (the signing anchor changed, or the timer fired). A failure keeps the current one and retries. */
  renew(reason: string): Promise<void> {
    this.#chain = this.#chain.then(() => this.#renew(reason));
    return this.#chain;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  async #renew(reason: string): Promise<void> {
    if (this.#stopped) return;
    try {
      const cert = await this.#o.issue();
      if (this.#stopped) return;
      this.#current = cert;
      this.#o.onRenew(cert);
      this.#o.log.info('serving certificate renewed', { reason, notAfter: cert.notAfter.toISOString() });
      this.#schedule(cert);
    } catch (err) {
      const retryMs = this.#o.minDelayMs ?? MIN_RENEW_DELAY_MS;
      this.#o.log.error('serving certificate could not be renewed; keeping the current one', { reason, err, retryMs });
      this.#arm(this.#now() + retryMs, reason);
    }
  }

  #schedule(cert: ServerCertificate): void {
    this.#arm(this.#now() + renewalDelayMs(cert.notBefore, cert.notAfter, this.#now(), this.#o.minDelayMs), 'half of its lifetime passed');
  }

  #arm(due: number, reason: string): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#due = due;
    const fire = (): void => {
      const left = this.#due - this.#now();
      if (left > 0) {
        this.#timer = setTimeout(fire, Math.min(left, MAX_TIMER_MS));
        this.#timer.unref();
        return;
      }
      void this.renew(reason);
    };
    this.#timer = setTimeout(fire, Math.min(Math.max(0, due - this.#now()), MAX_TIMER_MS));
    this.#timer.unref();
  }
}
