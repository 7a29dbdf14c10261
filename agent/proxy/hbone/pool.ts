// Pooled HTTP/2 sessions to peer agents, keyed by (source identity, destination identity, node
// address): one TLS handshake carries many tunnels. A session leaves the pool when it closes,
// errors or receives GOAWAY; a full session (its stream limit reached) makes the pool open another;
// a session built with an older client certificate is retired — it takes no new streams and closes
// once its last stream ends — so a rotation reaches the wire without cutting live connections.
import type { ClientHttp2Session } from 'node:http2';
import type { SecureContext } from 'node:tls';
import { deadlineQueue, type DeadlineEntry, type DeadlineQueue } from '../../deadline-queue.ts';
import { DEFAULT_LIVENESS, watchLiveness, type LivenessOptions } from './liveness.ts';

export interface PoolEntry {
  readonly key: string;
  readonly session: ClientHttp2Session;
  /** The client context the session was built with; a different current one means rotated. */
  readonly context: SecureContext;
  /** Streams open on this session, counted by the pool (acquire → release). */
  active: number;
  /** False once the session must take no new streams. */
  usable: boolean;
  /** What the server said when it sent GOAWAY, if it did. */
  goaway: { errorCode: number; detail: string } | undefined;
  /** The session's error, if it failed. */
  failure: Error | undefined;
}

/**
 * A pooled session: the entry, and its idle bounds as a deadline-queue entry (agent/deadline-queue.ts).
 * At an open-loop rate a peer's session drops to no streams after almost every request, so a
 * setTimeout per release (a Timeout, a closure, a timer-list insert) and a clearTimeout per
 * acquire were paid per request; arming and disarming a queue entry is a few link changes.
 */
class PooledSession implements PoolEntry, DeadlineEntry {
  readonly key: string;
  readonly session: ClientHttp2Session;
  readonly context: SecureContext;
  active = 0;
  usable = true;
  goaway: { errorCode: number; detail: string } | undefined = undefined;
  failure: Error | undefined = undefined;
  readonly #expired: (e: PooledSession) => void;
  dqQueue: DeadlineQueue | null = null;
  dqPrev: DeadlineEntry | null = null;
  dqNext: DeadlineEntry | null = null;
  dqAt = 0;

  /** Which idle bound the entry waits in: 1 the surplus one, 2 the rest of the full one. */
  idleStage: 1 | 2 = 1;

  constructor(key: string, session: ClientHttp2Session, context: SecureContext, expired: (e: PooledSession) => void) {
    this.key = key;
    this.session = session;
    this.context = context;
    this.#expired = expired;
  }

  /** An idle bound passed: the pool decides (retire, or wait out the rest of the full bound). */
  deadlineExpired(): void {
    if (this.active === 0) this.#expired(this);
  }
}

export interface SessionPoolOptions {
  /** Streams per session before another one is opened (the server's own limit also applies). */
  maxStreamsPerSession: number;
  /** A session without streams for this long is closed. */
  idleTimeoutMs: number;
  /**
   * A session without streams beyond the key's first `spread` is closed after this long instead
   * (default SURPLUS_IDLE_MS). A burst of 10 000 tunnels opens 100 sessions (100 streams each);
   * idle, each kept a TLS socket, its OpenSSL state and 64 KiB buffers — ~20 MiB of RSS on both
   * agents for the whole idle timeout. The key keeps what it uses when not bursting.
   */
  surplusIdleTimeoutMs?: number;
  /**
   * Sessions per key that streams are spread over, round-robin (default 1). The peer agent's
   * workers share its port with SO_REUSEPORT, which hashes each connection to one worker: with a
   * single session per key, all of a worker's requests to a peer land on one of the peer's
   * workers, and often every worker's do. More sessions make an idle peer core less likely.
   */
  spread?: number;
  /** PINGs that find a vanished peer in bounded time (default: every 5 s, 10 s to answer). */
  liveness?: LivenessOptions;
}

/** Default `surplusIdleTimeoutMs`: long enough that a steady load's dips do not redial. */
export const SURPLUS_IDLE_MS = 5000;

function remoteStreamLimit(session: ClientHttp2Session): number {
  try {
    return session.remoteSettings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

export class SessionPool {
  readonly #opts: SessionPoolOptions;
  readonly #byKey = new Map<string, PooledSession[]>();
  /** Every session not yet closed, pooled or retired, so close() reaches all of them. */
  readonly #live = new Set<PooledSession>();
  #turn = 0;
  /** Idle sessions' first bound (surplusIdleTimeoutMs, at most the full one). */
  readonly #surplusIdle: DeadlineQueue;
  /** The rest of the full idle bound, for sessions the key keeps; null when nothing is left of it. */
  readonly #restIdle: DeadlineQueue | null;
  readonly #expiredBound = (e: PooledSession): void => this.#expired(e);

  constructor(opts: SessionPoolOptions) {
    this.#opts = opts;
    const surplusMs = Math.min(opts.surplusIdleTimeoutMs ?? SURPLUS_IDLE_MS, opts.idleTimeoutMs);
    this.#surplusIdle = deadlineQueue(surplusMs);
    this.#restIdle = opts.idleTimeoutMs > surplusMs ? deadlineQueue(opts.idleTimeoutMs - surplusMs) : null;
  }

  /**
   * An idle session passed a bound: past the surplus one, it is retired if its key holds more
   * sessions than `spread` (a burst's leftovers) and otherwise waits out the rest of the full
   * bound; past that, it is retired.
   */
  #expired(e: PooledSession): void {
    if (e.idleStage === 1 && this.#restIdle !== null && this.sessionsFor(e.key).length <= (this.#opts.spread ?? 1)) {
      e.idleStage = 2;
      this.#restIdle.arm(e);
      return;
    }
    this.#retire(e);
  }

  /**
   * A session for `key` with room for one more stream, built with `context`; counts the stream
   * as open. `dial` is called when no pooled session fits.
   */
  acquire(key: string, context: SecureContext, dial: () => ClientHttp2Session): PoolEntry {
    const list = this.#byKey.get(key);
    const spread = this.#opts.spread ?? 1;
    let chosen: PooledSession | undefined;
    let usable = 0;
    if (list !== undefined) {
      const skip = this.#turn++ % Math.max(1, list.length);
      for (let i = list.length - 1; i >= 0; i--) {
        const e = list[i];
        if (!e.usable || e.session.closed || e.session.destroyed) {
          this.#unlist(e);
          continue;
        }
        if (e.context !== context) {
          this.#retire(e);
          continue;
        }
        usable++;
        // Round-robin: the turn decides which usable session with room is taken first.
        if (e.active < Math.min(this.#opts.maxStreamsPerSession, remoteStreamLimit(e.session)) && (chosen === undefined || i === skip)) chosen = e;
      }
    }
    if (chosen === undefined || usable < spread) chosen = this.#add(key, context, dial());
    chosen.active++;
    chosen.dqQueue?.disarm(chosen);
    return chosen;
  }

  /** One stream of this entry ended. */
  release(entry: PoolEntry): void {
    entry.active--;
    if (entry.active > 0) return;
    if (!entry.usable) {
      entry.session.close();
      return;
    }
    // Entries come from acquire(): ours. First the surplus bound; whether the session is surplus
    // is decided when it passes (#expired), since a burst's sessions go idle together.
    const e = entry as PooledSession;
    e.idleStage = 1;
    this.#surplusIdle.arm(e);
  }

  /** Sessions currently pooled for a key (retired ones excluded). */
  sessionsFor(key: string): readonly PoolEntry[] {
    return this.#byKey.get(key) ?? [];
  }

  /** Sessions not yet closed, pooled or draining. */
  get liveSessions(): number {
    return this.#live.size;
  }

  /** Closes every session: new streams are refused, open ones get `graceMs` to finish. */
  close(graceMs: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const e of [...this.#live]) {
      this.#unlist(e);
      e.dqQueue?.disarm(e);
      if (e.session.closed && e.session.destroyed) continue;
      waits.push(new Promise((resolve) => e.session.once('close', resolve)));
      e.session.close();
    }
    if (waits.length === 0) return Promise.resolve();
    const timer = setTimeout(() => {
      for (const e of this.#live) e.session.destroy();
    }, graceMs);
    timer.unref();
    return Promise.all(waits).then(() => clearTimeout(timer));
  }

  #add(key: string, context: SecureContext, session: ClientHttp2Session): PooledSession {
    const entry = new PooledSession(key, session, context, this.#expiredBound);
    let list = this.#byKey.get(key);
    if (list === undefined) {
      list = [];
      this.#byKey.set(key, list);
    }
    list.push(entry);
    this.#live.add(entry);
    watchLiveness(session, key.slice(key.lastIndexOf('|') + 1), this.#opts.liveness ?? DEFAULT_LIVENESS);
    session.on('goaway', (errorCode: number, _last: number, data?: Buffer) => {
      entry.goaway = { errorCode, detail: data === undefined ? '' : data.toString('utf8') };
      this.#unlist(entry);
    });
    session.on('error', (err: Error) => {
      entry.failure ??= err;
      this.#unlist(entry);
    });
    session.once('close', () => {
      this.#unlist(entry);
      this.#live.delete(entry);
      entry.dqQueue?.disarm(entry);
    });
    return entry;
  }

  #unlist(entry: PooledSession): void {
    entry.usable = false;
    const list = this.#byKey.get(entry.key);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(entry.key);
  }

  /** No new streams; the session closes as soon as its last stream ends. */
  #retire(entry: PooledSession): void {
    this.#unlist(entry);
    if (entry.active === 0) entry.session.close();
  }
}
