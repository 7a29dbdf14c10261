// Liveness of a pooled session to a peer agent. A node that vanishes (power, link, a black-holing
// firewall) sends no FIN and no RST; TCP keepalive would notice after minutes, so every stream on
// the session — tunnels and requests alike — would hang that long. An HTTP/2 PING every interval
// with a deadline turns that into a bounded failure: the session is destroyed, its streams fail
// (the L7 path retries idempotent requests elsewhere, tunnels reset their client), and the pool
// dials afresh for the next stream.
import type { ClientHttp2Session } from 'node:http2';
import { ErrorCodes, WeftError } from '../../../common/errors.ts';
import { createLogger, type Logger } from '../../../common/log.ts';

const defaultLog = createLogger('agent.hbone.liveness');

export interface LivenessOptions {
  intervalMs: number;
  /** No PING answer within this long and the peer is taken for dead. */
  timeoutMs: number;
}

/** Ten seconds of silence on a session whose peer owes us a PING answer is not a slow peer. */
export const DEFAULT_LIVENESS: LivenessOptions = { intervalMs: 5000, timeoutMs: 10_000 };

/** Watches `session` until it closes; `where` names the peer in the error. */
export function watchLiveness(session: ClientHttp2Session, where: string, o: LivenessOptions = DEFAULT_LIVENESS, log: Logger = defaultLog): void {
  let deadline: NodeJS.Timeout | undefined;
  const stop = (): void => {
    clearInterval(timer);
    if (deadline !== undefined) clearTimeout(deadline);
  };
  const timer = setInterval(() => {
    if (session.closed || session.destroyed) return stop();
    // A connect in progress has its own timeout; one PING at a time.
    if (session.connecting || deadline !== undefined) return;
    deadline = setTimeout(() => {
      stop();
      const err = new WeftError(ErrorCodes.PEER_UNRESPONSIVE, `peer agent ${where} did not answer an HTTP/2 PING within ${o.timeoutMs} ms; its node is likely gone — closing the session and its streams`);
      log.warn(err.message, { code: err.code, peer: where });
      session.destroy(err);
    }, o.timeoutMs);
    deadline.unref();
    const answered = (): void => {
      if (deadline !== undefined) clearTimeout(deadline);
      deadline = undefined;
    };
    try {
      // An error here means the session is going away, which is not for us to judge.
      if (!session.ping(answered)) answered();
    } catch {
      answered();
    }
  }, o.intervalMs);
  timer.unref();
  session.once('close', stop);
}
