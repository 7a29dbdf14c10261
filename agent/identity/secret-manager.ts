// Keeps one current certificate per workload identity on this node: issues it on first use, shares
// one CSR among concurrent callers, rotates it at about half its lifetime, and when control cannot
// be reached keeps serving the old certificate (while it is valid) and retries with backoff.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { ErrorCodes, WeftError, errorCode } from '../../common/errors.ts';
import { createLogger, type Logger } from '../../common/log.ts';
import type { CsrResponse } from '../../control/api/csr.ts';
import type { CertificateSigner } from './csr-client.ts';
import { generateCsr, type GeneratedCsr } from './csr.ts';
import { AgentTrustBundle } from './trust-bundle.ts';

export interface WorkloadCertificate {
  readonly identity: string;
  readonly keyPem: string;
  /** Leaf first. */
  readonly certChainPem: readonly string[];
  readonly trustAnchorsPem: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CertificateSnapshot {
  identity: string;
  state: 'pending' | 'valid' | 'expired';
  serialNumber: string | null;
  notBefore: string | null;
  notAfter: string | null;
  rotateAt: string | null;
  /** Consecutive failed attempts (0 once one succeeds). */
  failures: number;
  /** Failed attempts since this identity appeared: the renewal-failures counter. */
  failuresTotal: number;
  lastError: string | null;
}

export interface SecretManagerEvents {
  /** A certificate (or its trust anchors) was replaced; consumers rebuild their TLS contexts. */
  rotated: (cert: WorkloadCertificate, previous: WorkloadCertificate) => void;
  /** A background rotation failed; the old certificate stays in use while valid. */
  error: (err: Error, identity: string) => void;
}

export interface SecretManager {
  get(spiffeId: string): Promise<WorkloadCertificate>;
  /** Drops the identity (its last pod left the node): no more rotations for it. */
  forget(spiffeId: string): void;
  /** Returns a function that removes the listener. */
  on<E extends keyof SecretManagerEvents>(event: E, listener: SecretManagerEvents[E]): () => void;
  /**
   * Re-issues every held certificate now (control rotated its trust anchors). Old certificates
   * keep serving until their replacements arrive; failures retry like any rotation.
   */
  renewAll(): void;
  /** For config dumps: dates and state, never the key. */
  snapshot(): CertificateSnapshot[];
  close(): void;
}

export type TimerHandle = unknown;
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Real time; timers are unref'd so pending rotations never keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms);
    h.unref();
    return h;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SecretManagerOptions {
  signer: CertificateSigner;
  trustBundle?: AgentTrustBundle;
  clock?: Clock;
  /** Uniform in [0, 1); injectable so jitter is deterministic in tests. */
  random?: () => number;
  /** Retry delays after a failed rotation: doubling from initialMs up to maxMs. */
  retry?: { initialMs?: number; maxMs?: number };
  generate?: (spiffeId: string) => Promise<GeneratedCsr>;
  logger?: Logger;
}

interface Entry {
  readonly id: string;
  current?: WorkloadCertificate;
  serial?: string;
  rotateAt?: number;
  inflight?: Promise<WorkloadCertificate>;
  timer?: TimerHandle;
  failures: number;
  failuresTotal: number;
  lastError?: string;
}

const JITTER = 0.1;
/** setTimeout's ceiling (~24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class CachingSecretManager implements SecretManager {
  readonly #signer: CertificateSigner;
  readonly #bundle: AgentTrustBundle;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #retryInitial: number;
  readonly #retryMax: number;
  readonly #generate: (id: string) => Promise<GeneratedCsr>;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners: { [E in keyof SecretManagerEvents]: Set<SecretManagerEvents[E]> } = { rotated: new Set(), error: new Set() };
  #closed = false;

  constructor(opts: SecretManagerOptions) {
    this.#signer = opts.signer;
    this.#bundle = opts.trustBundle ?? new AgentTrustBundle();
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? Math.random;
    this.#retryInitial = opts.retry?.initialMs ?? 1000;
    this.#retryMax = opts.retry?.maxMs ?? 60_000;
    this.#generate = opts.generate ?? generateCsr;
    this.#log = opts.logger ?? createLogger('agent.identity');
  }

  get trustBundle(): AgentTrustBundle {
    return this.#bundle;
  }

  get(spiffeId: string): Promise<WorkloadCertificate> {
    if (this.#closed) return Promise.reject(new WeftError(ErrorCodes.NO_IDENTITY, 'the secret manager is closed'));
    let entry = this.#entries.get(spiffeId);
    if (entry === undefined) {
      entry = { id: spiffeId, failures: 0, failuresTotal: 0 };
      this.#entries.set(spiffeId, entry);
    }
    const cur = entry.current;
    if (cur !== undefined && this.#clock.now() < cur.notAfter.getTime()) return Promise.resolve(cur);
    return this.#request(entry);
  }

  forget(spiffeId: string): void {
    const entry = this.#entries.get(spiffeId);
    if (entry === undefined) return;
    this.#entries.delete(spiffeId);
    this.#clearTimer(entry);
  }

  on<E extends keyof SecretManagerEvents>(event: E, listener: SecretManagerEvents[E]): () => void {
    const set = this.#listeners[event] as Set<SecretManagerEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  renewAll(): void {
    if (this.#closed) return;
    for (const entry of this.#entries.values()) {
      if (entry.current === undefined) continue; // a first issue is under way or will be asked for
      this.#clearTimer(entry);
      // A CSR already out may be signed under the old anchors: ask again once it is back.
      if (entry.inflight !== undefined) void entry.inflight.then(() => this.#rotate(entry), () => this.#rotate(entry));
      else this.#rotate(entry);
    }
  }

  snapshot(): CertificateSnapshot[] {
    const now = this.#clock.now();
    const iso = (t: number | Date | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());
    return [...this.#entries.values()].map((e) => ({
      identity: e.id,
      state: e.current === undefined ? 'pending' : now < e.current.notAfter.getTime() ? 'valid' : 'expired',
      serialNumber: e.serial ?? null,
      notBefore: iso(e.current?.notBefore),
      notAfter: iso(e.current?.notAfter),
      rotateAt: iso(e.rotateAt),
      failures: e.failures,
      failuresTotal: e.failuresTotal,
      lastError: e.lastError ?? null,
    }));
  }

  close(): void {
    this.#closed = true;
    for (const id of [...this.#entries.keys()]) this.forget(id);
    for (const set of Object.values(this.#listeners)) set.clear();
  }

  /** One CSR at a time per identity; every caller meanwhile gets the same promise. */
  #request(entry: Entry): Promise<WorkloadCertificate> {
    if (entry.inflight !== undefined) return entry.inflight;
    const p = this.#issue(entry).finally(() => {
      if (entry.inflight === p) entry.inflight = undefined;
    });
    entry.inflight = p;
    return p;
  }

  async #issue(entry: Entry): Promise<WorkloadCertificate> {
    const { keyPem, csrPem } = await this.#generate(entry.id);
    const response = await this.#signer.sign(csrPem);
    const receivedAt = this.#clock.now();
    const { leaf, chain, notBefore, notAfter } = checkResponse(entry.id, keyPem, response);
    this.#checkClock(entry.id, notBefore, notAfter, receivedAt);
    if (this.#bundle.update(response.trustAnchors, notBefore)) this.#anchorsChanged(entry.id);
    const cert: WorkloadCertificate = Object.freeze({
      identity: entry.id,
      keyPem,
      certChainPem: Object.freeze(chain),
      trustAnchorsPem: this.#bundle.anchors,
      notBefore,
      notAfter,
    });
    // Forgotten (or closed) while the CSR was out: hand the cert to whoever waited, cache nothing.
    if (this.#entries.get(entry.id) !== entry) return cert;
    const previous = entry.current;
    entry.current = cert;
    entry.serial = leaf.serialNumber;
    entry.failures = 0;
    entry.lastError = undefined;
    // Half the lifetime as seen from here: control backdates notBefore for clock skew, so the
    // span from receipt to expiry is what this node actually has.
    const lifetime = notAfter.getTime() - Math.max(receivedAt, notBefore.getTime());
    const jitter = 1 + JITTER * (2 * this.#random() - 1);
    this.#schedule(entry, receivedAt + Math.max(0, (lifetime / 2) * jitter));
    this.#log.info('workload certificate issued', { identity: entry.id, serial: leaf.serialNumber, notAfter: notAfter.toISOString() });
    if (previous !== undefined) this.#emit('rotated', cert, previous);
    return cert;
  }

  #schedule(entry: Entry, at: number): void {
    this.#clearTimer(entry);
    entry.rotateAt = at;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, at - this.#clock.now()));
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      if (this.#entries.get(entry.id) !== entry) return;
      if (this.#clock.now() < at) return this.#schedule(entry, at);
      this.#rotate(entry);
    }, wait);
  }

  #rotate(entry: Entry): void {
    this.#request(entry).catch((err: unknown) => {
      if (this.#entries.get(entry.id) !== entry) return;
      const error = err instanceof Error ? err : new Error(String(err));
      entry.failures += 1;
      entry.failuresTotal += 1;
      entry.lastError = error.message;
      const base = Math.min(this.#retryMax, this.#retryInitial * 2 ** (entry.failures - 1));
      const delay = base * (1 + JITTER * (2 * this.#random() - 1));
      this.#reportFailure(entry, error, delay);
      this.#schedule(entry, this.#clock.now() + delay);
      this.#emit('error', error, entry.id);
    });
  }

  /**
   * One line an operator can act on: what failed, how long the certificate in use has left, and
   * what happens then. Louder (error) once less than a quarter of the lifetime is left.
   */
  #reportFailure(entry: Entry, error: Error, retryInMs: number): void {
    const now = this.#clock.now();
    const cur = entry.current;
    const left = cur === undefined ? 0 : cur.notAfter.getTime() - now;
    const lifetime = cur === undefined ? 1 : cur.notAfter.getTime() - cur.notBefore.getTime();
    const fields = {
      code: ErrorCodes.CERT_RENEWAL_FAILED, identity: entry.id, cause: errorCode(error), reason: error.message,
      failures: entry.failures, retryInMs: Math.round(retryInMs),
      expiresAt: cur?.notAfter.toISOString() ?? null, expiresInSeconds: cur === undefined ? null : Math.round(left / 1000),
    };
    if (cur === undefined) {
      this.#log.error('workload certificate could not be issued; connections for this workload fail until it is — is control reachable?', fields);
    } else if (left <= 0) {
      this.#log.error('workload certificate expired and could not be renewed; connections for this workload fail — is control reachable?', fields);
    } else if (left < lifetime / 4) {
      this.#log.error('workload certificate expires soon and could not be renewed; the current one serves until then — is control reachable?', fields);
    } else {
      this.#log.warn('workload certificate renewal failed; the current one serves until it expires, retrying', fields);
    }
  }

  /**
   * Control backdates notBefore, so a certificate that is not yet valid (or already expired) by
   * this node's clock means the clocks disagree by more than that margin. Peers judge by their
   * own clocks, so say so plainly rather than leave a TLS error to be decoded later.
   */
  #checkClock(id: string, notBefore: Date, notAfter: Date, receivedAt: number): void {
    const ahead = notBefore.getTime() - receivedAt;
    if (ahead > 1000) {
      this.#log.error('control issued a certificate that is not valid yet by this node\'s clock; peers refuse it until then — check NTP on this node and on control', {
        code: ErrorCodes.CLOCK_SKEW, identity: id, notBefore: notBefore.toISOString(), aheadSeconds: Math.round(ahead / 1000),
      });
    } else if (notAfter.getTime() <= receivedAt) {
      this.#log.error('control issued a certificate that has already expired by this node\'s clock — check NTP on this node and on control', {
        code: ErrorCodes.CLOCK_SKEW, identity: id, notAfter: notAfter.toISOString(),
      });
    }
  }

  /** New anchors apply to every cached certificate, so peers signed by a new root verify. */
  #anchorsChanged(except: string): void {
    for (const e of this.#entries.values()) {
      if (e.id === except || e.current === undefined) continue;
      const previous = e.current;
      e.current = Object.freeze({ ...previous, trustAnchorsPem: this.#bundle.anchors });
      this.#emit('rotated', e.current, previous);
    }
  }

  #clearTimer(entry: Entry): void {
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  #emit<E extends keyof SecretManagerEvents>(event: E, ...args: Parameters<SecretManagerEvents[E]>): void {
    for (const listener of this.#listeners[event]) {
      try {
        (listener as (...a: Parameters<SecretManagerEvents[E]>) => void)(...args);
      } catch (err) {
        this.#log.error(`a '${event}' listener threw`, { err });
      }
    }
  }
}

/** Checks control's answer fits our request: our key, our identity, chaining to a sent anchor. */
function checkResponse(id: string, keyPem: string, r: CsrResponse): { leaf: X509Certificate; chain: string[]; notBefore: Date; notAfter: Date } {
  const bad = (why: string, cause?: unknown): WeftError =>
    new WeftError(ErrorCodes.CA_UNAVAILABLE, `control returned an unusable certificate for ${id}: ${why}`, { cause, expected: false });
  let certs: X509Certificate[];
  let anchors: X509Certificate[];
  try {
    certs = r.certChain.map((p) => new X509Certificate(p));
    anchors = r.trustAnchors.map((p) => new X509Certificate(p));
  } catch (err) {
    throw bad(`a certificate does not parse (${(err as Error).message})`, err);
  }
  const leaf = certs[0];
  if (leaf === undefined) throw bad('the chain is empty');
  if (!(leaf.subjectAltName ?? '').split(', ').includes(`URI:${id}`)) throw bad(`its SAN is ${leaf.subjectAltName ?? 'missing'}`);
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw bad('it is not for the key we sent');
  const top = certs[certs.length - 1];
  if (!anchors.some((a) => top.checkIssued(a) && top.verify(a.publicKey))) throw bad('it does not chain to any trust anchor sent with it');
  return { leaf, chain: certs.map((c) => c.toString().trim()), notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
}
