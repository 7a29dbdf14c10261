// The agent's readiness (/ready, the kubelet's probe, `weft check`): ready only when control's
// first snapshot has arrived, the proxies listen, redirection is in place and nothing failed; else
// every reason it is not, in words a user can act on. Pure, so the table test is the spec.
import { redirectNotReady, type RedirectStatus } from './redirect/redirect-status.ts';

export interface ReadinessInput {
  /** The agent is draining (SIGTERM). */
  stopping: boolean;
  /** The model's version; null before control's first snapshot. */
  modelVersion: number | null;
  /** Every proxy listens. */
  listening: boolean;
  redirect: RedirectStatus;
  /** A proxy crashed. */
  fatal: Error | null;
}

export function readinessOf(i: ReadinessInput): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (i.stopping) reasons.push('draining');
  if (i.modelVersion === null) reasons.push('no config snapshot from control yet');
  if (!i.listening) reasons.push('proxy listeners not up');
  const why = redirectNotReady(i.redirect);
  if (why !== null) reasons.push(why);
  if (i.fatal !== null) reasons.push(`worker failed: ${i.fatal.message}`);
  return { ready: reasons.length === 0, reasons };
}
