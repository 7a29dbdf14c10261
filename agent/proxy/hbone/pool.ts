// Pooled HTTP/2 sessions to peer agents, keyed by (source identity, destination identity, node
// address): one TLS handshake carries many tunnels. A session leaves the pool when it closes,
// errors or receives GOAWAY; a full session (its stream limit reached) makes the pool open another;
// a session built with an older client certificate is retired — it takes no new streams and closes
// once its last stream ends — so a rotation reaches the wire without cutting live connections.
import type { ClientHttp2Session } from 'node:http2';
import type { SecureContext } from 'node:tls';
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
  idleTimer: NodeJS.Timeout | undefined;
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
  readonly #byKey = new Map<string, PoolEntry[]>();
  /** Every session not yet closed, pooled or retired, so close() reaches all of them. */
  readonly #live = new Set<PoolEntry>();
  #turn = 0;

  constructor(opts: SessionPoolOptions) {
    this.#opts = opts;
  }

  /**
   * A session for `key` with room for one more stream, built with `context`; counts the stream
   * as open. `dial` is called when no pooled session fits.
   */
  acquire(key: string, context: SecureContext, dial: () => ClientHttp2Session): PoolEntry {
    const list = this.#byKey.get(key);
    const spread = this.#opts.spread ?? 1;
    let chosen: PoolEntry | undefined;
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
    if (chosen.idleTimer !== undefined) {
      clearTimeout(chosen.idleTimer);
      chosen.idleTimer = undefined;
    }
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
    const surplusMs = Math.min(this.#opts.surplusIdleTimeoutMs ?? SURPLUS_IDLE_MS, this.#opts.idleTimeoutMs);
    const idleSince = Date.now();
    // Decided when the timer fires, not now: sessions of a burst go idle together, and only those
    // still beyond the key's `spread` then are surplus (the rest wait out the full idle timeout).
    const onIdle = (): void => {
      entry.idleTimer = undefined;
      const rest = this.#opts.idleTimeoutMs - (Date.now() - idleSince);
      if (rest <= 0 || this.sessionsFor(entry.key).length > (this.#opts.spread ?? 1)) {
        this.#retire(entry);
        return;
      }
      entry.idleTimer = setTimeout(() => this.#retire(entry), rest);
      entry.idleTimer.unref();
    };
    entry.idleTimer = setTimeout(onIdle, surplusMs);
    entry.idleTimer.unref();
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
      if (e.idleTimer !== undefined) clearTimeout(e.idleTimer);
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

  #add(key: string, context: SecureContext, session: ClientHttp2Session): PoolEntry {
    const entry: PoolEntry = {
      key, session, context, active: 0, usable: true, goaway: undefined, failure: undefined, idleTimer: undefined,
    };
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
      if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
    });
    return entry;
  }

  #unlist(entry: PoolEntry): void {
    entry.usable = false;
    const list = this.#byKey.get(entry.key);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(entry.key);
  }

  /** No new streams; the session closes as soon as its last stream ends. */
  #retire(entry: PoolEntry): void {
    this.#unlist(entry);
    if (entry.active === 0) entry.session.close();
  }
}
