// Where a captured connection came from and was going, as its listener knows it. Node scope
// (TPROXY / sk_assign on the node) has one listener for every pod: the source is inferred from the
// client address and the original destination is the accepted socket's local address. Pod scope
// has listeners inside each pod: the listener names the pod, and the original destination is read
// the way that pod's capture preserved it (SO_ORIGINAL_DST after a REDIRECT).
import type net from 'node:net';
import type { WorkloadRecord } from '../../control/api/model.ts';
import { unmapIpv4 } from './socket-admission.ts';
import { originalDst, socketFd } from '../native/index.ts';
import type { OriginalDestination } from '../redirect/pod-capture.ts';
import type { Address } from './outbound-decide.ts';
import type { ProxyStats } from './stats.ts';

export interface CaptureOrigin {
  /** The pod whose namespace the listener lives in: outbound, the source; inbound, the destination. */
  readonly podKey: string;
  /** The pod's record now (the model may have changed since the listener opened). */
  pod(): WorkloadRecord | undefined;
  /** The connection's original destination; undefined when it cannot be read (not captured). */
  original(client: net.Socket): Address | undefined;
}

/** The node-scope reading: the accepted socket's local address is the original destination. */
export function localAddressOf(client: net.Socket): Address {
  return { ip: unmapIpv4(client.localAddress), port: client.localPort ?? 0 };
}

/**
 * A captured connection's original destination, for every capture path (outbound and inbound
 * plaintext alike). When there is none — a pod listener reached without capture, the pod dialling
 * the agent's own listener in it — the connection is reset and counted as `agent_listener`, and
 * undefined comes back: there is nothing to deliver, and delivering would loop.
 */
export function originalOrRefuse(
  client: net.Socket, origin: CaptureOrigin | undefined,
  deps: { stats: Pick<ProxyStats, 'rejected'>; telemetry: { inputRejected(reason: string): void } },
): Address | undefined {
  const original = origin === undefined ? localAddressOf(client) : origin.original(client);
  if (original !== undefined) return original;
  deps.stats.rejected++;
  deps.telemetry.inputRejected('agent_listener');
  client.resetAndDestroy();
  return undefined;
}

function soOriginalDst(client: net.Socket): Address | undefined {
  try {
    return originalDst(socketFd(client));
  } catch {
    // No conntrack entry: the connection was not redirected (a pod dialled the listener itself).
    return undefined;
  }
}

/**
 * A pod's listeners as an origin. `self`: the pod's address and the agent's ports inside it — a
 * connection whose original destination is one of the agent's own listeners in the pod (the pod
 * dialled its-ip:15006 or 127.0.0.1:15001 itself, which loopback rules never redirect) has no
 * destination to serve: delivering it would dial the same listener again, forever.
 */
export function podOrigin(podKey: string, how: OriginalDestination, lookup: (key: string) => WorkloadRecord | undefined, self: { ip: string; ports: ReadonlySet<number> }): CaptureOrigin {
  const read = how === 'so-original-dst' ? soOriginalDst : localAddressOf;
  return {
    podKey,
    pod: () => lookup(podKey),
    original(client) {
      const o = read(client);
      if (o === undefined) return undefined;
      if (self.ports.has(o.port) && (o.ip === self.ip || o.ip.startsWith('127.') || o.ip === '0.0.0.0')) return undefined;
      return o;
    },
  };
}
