// What the TCP handlers share around a captured socket: the IPv4 form of its addresses, and
// admitting it through authorization policy (a denied connection is reset; an admitted one stays
// watched until it closes, so a later DENY can cut it).
import type net from 'node:net';
import type { ConnectionContext as PolicyContext } from '../policy/evaluate.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import type { ProxyStats } from './stats.ts';

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d. */
export function unmapIpv4(ip: string | undefined): string {
  return ip === undefined ? '' : ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** True when the socket may proceed; false when policy denied it (the socket is already reset). */
export function admitSocket(policy: InboundAuthorizer | undefined, client: net.Socket, ctx: PolicyContext, stats: ProxyStats): boolean {
  if (policy === undefined) return true;
  const admission = policy.admit(ctx, () => client.resetAndDestroy());
  if (!admission.decision.allowed) {
    stats.rejected++;
    client.resetAndDestroy();
    return false;
  }
  client.once('close', admission.release);
  return true;
}
