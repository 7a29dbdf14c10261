// An HBONE tunnel as the agent's movers hold it, whichever engine carries it: the codec's one
// object per tunnel (codec-tunnel.ts, WEFT_L7_H2_ENGINE=weft) or node:http2's stream (a Duplex,
// the node engine; and the codec's H2DuplexStream for the upgrade tunnels the destination agent
// reads with node:http). These few moves are all a mover needs; each picks the engine's way.
import type { Duplex } from 'node:stream';
import { pipeBoth, resetSide, type SpliceDone } from '../tcp.ts';
import { CodecTunnel } from './codec-tunnel.ts';

export type HboneTunnel = Duplex | CodecTunnel;

/**
 * pipeBoth for a tunnel: copies a → b and b → a with half-close and resets carried across, and
 * `onDone` once both closed (bytesOut: what `a` sent). One of `a`, `b` is a socket.
 */
export function pipeTunnel(a: HboneTunnel, b: HboneTunnel, onDone?: SpliceDone): void {
  if (b instanceof CodecTunnel) {
    if (a instanceof CodecTunnel) throw new Error('pipeTunnel: two tunnels, no socket');
    b.splice(a, onDone, true);
  } else if (a instanceof CodecTunnel) {
    a.splice(b, onDone, false);
  } else {
    pipeBoth(a, b, onDone);
  }
}

/** Aborts the tunnel as a TCP reset would (RST_STREAM CONNECT_ERROR; the socket spliced to it is reset). */
export function resetTunnel(t: HboneTunnel): void {
  if (t instanceof CodecTunnel) t.resetTunnel();
  else resetSide(t);
}

/** `fn` runs once when the tunnel's stream closes. */
export function onTunnelClose(t: HboneTunnel, fn: () => void): void {
  if (t instanceof CodecTunnel) t.onClose(fn);
  else t.once('close', fn);
}

export function offTunnelClose(t: HboneTunnel, fn: () => void): void {
  if (t instanceof CodecTunnel) t.offClose(fn);
  else t.off('close', fn);
}
