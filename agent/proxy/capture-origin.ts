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

function soOriginalDst(client: net.Socket): Address | undefined {
  try {
    return originalDst(socketFd(client));
  } catch {
    // No conntrack entry: the connection was not redirected (a pod dialled the listener itself).
    return undefined;
  }
}

export function podOrigin(podKey: string, how: OriginalDestination, lookup: (key: string) => WorkloadRecord | undefined): CaptureOrigin {
  return {
    podKey,
    pod: () => lookup(podKey),
    original: how === 'so-original-dst' ? soOriginalDst : localAddressOf,
  };
}
