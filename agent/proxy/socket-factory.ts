// Every listener and outbound socket the proxy makes goes through a SocketFactory, so the
// transparent (IP_TRANSPARENT) listeners of the node and plain loopback ones in tests are one
// swap apart, and socket options (nodelay, keepalive) are set in one place.
import net from 'node:net';
import tls from 'node:tls';
import { netnsSocket } from '../native/index.ts';
import type { Address } from './outbound-decide.ts';

export interface ListenOptions {
  host: string;
  port: number;
  /** IP_TRANSPARENT: needed to accept TPROXY'd connections for addresses that are not local. */
  transparent: boolean;
  /** SO_REUSEPORT: every worker owns a listener on the same port and the kernel spreads accepts. */
  reusePort: boolean;
}

export interface SocketFactory {
  readonly name: string;
  listen(server: net.Server, opts: ListenOptions): Promise<void>;
  /** `onread`: the socket reads into that buffer (lent-reads.ts) instead of emitting 'data'. */
  connect(target: Address, timeoutMs: number, onread?: net.OnReadOpts): net.Socket;
  /**
   * A TLS connection with `opts` (its `onread` holds: TLS makes the TCP connection itself — one
   * wrapped around a given socket ignores onread), with connect's socket options and timeout. To a
   * captured pod's address it wraps connect's socket instead (and reads the default way).
   */
  connectTls(target: Address, timeoutMs: number, opts: tls.ConnectionOptions): tls.TLSSocket;
}

export type TransparentListen = (host: string, port: number, backlog: number, reusePort: boolean) => number;

/**
 * Pod scope: deliveries to a captured pod leave from a socket born inside that pod's namespace,
 * carrying the agent's mark so the pod's capture rules let it through (a socket from the node
 * would enter the pod through its interface and be captured again).
 */
export interface PodDelivery {
  /** The namespace path of the captured pod with this IP, or undefined (then: from the node). */
  netnsFor(ip: string): string | undefined;
  mark: number;
}

const BACKLOG = 4096;
const KEEPALIVE_MS = 30_000;

function podSocket(delivery: PodDelivery, netns: string, target: Address, onread: net.OnReadOpts | undefined): net.Socket {
  let s: net.Socket;
  try {
    s = netnsSocket(netns, delivery.mark, onread);
  } catch (err) {
    // The pod's namespace vanished under us: the same shape as a failed connect.
    s = new net.Socket();
    process.nextTick(() => s.destroy(err as Error));
    return s;
  }
  s.setNoDelay(true);
  s.setKeepAlive(true, KEEPALIVE_MS);
  return s.connect({ host: target.ip, port: target.port });
}

function connectTimedOut(s: net.Socket, target: Address, timeoutMs: number): void {
  if (s.connecting) s.destroy(Object.assign(new Error(`connect to ${target.ip}:${target.port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
}

export function createSocketFactory(transparentListen?: TransparentListen, delivery?: PodDelivery): SocketFactory {
  return {
    name: transparentListen === undefined ? 'plain' : 'transparent',
    listen(server, opts) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        const done = (): void => {
          server.off('error', reject);
          resolve();
        };
        if (opts.transparent && transparentListen !== undefined) {
          let fd: number;
          try {
            fd = transparentListen(opts.host, opts.port, BACKLOG, opts.reusePort);
          } catch (err) {
            server.off('error', reject);
            reject(err);
            return;
          }
          server.listen({ fd }, done);
        } else {
          server.listen({ host: opts.host, port: opts.port, backlog: BACKLOG, reusePort: opts.reusePort }, done);
        }
      });
    },
    connect(target, timeoutMs, onread) {
      const netns = delivery?.netnsFor(target.ip);
      const s = netns === undefined
        ? net.connect({ host: target.ip, port: target.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS, onread })
        : podSocket(delivery as PodDelivery, netns, target, onread);
      return boundConnect(s, target, timeoutMs);
    },
    connectTls(target, timeoutMs, opts) {
      // Around a given socket TLS ignores onread (and host/port): the pod's socket reads as usual.
      if (delivery?.netnsFor(target.ip) !== undefined) return tls.connect({ ...opts, socket: this.connect(target, timeoutMs) });
      // TLSSocket takes net's socket options too (noDelay, keepAlive…); @types/node lists them for net only.
      const netOpts = { host: target.ip, port: target.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS };
      return boundConnect(tls.connect({ ...opts, ...netOpts } as tls.ConnectionOptions), target, timeoutMs);
    },
  };
}

/**
 * A connect that hangs (black-holed peer) must not hold the app's connection forever. A timer of its
 * own, cleared at connect, rather than socket.setTimeout: setTimeout(0) stops the socket's timer but
 * keeps it (the Timeout and its bound callback) and the 'timeout' listener on the socket for the
 * socket's whole life — ~0.45 KB of heap per delivered tunnel or pod connection, 4.5 MiB on a
 * destination agent holding 10 000 (docs/design-notes.md, issue 19). 0: no bound, as
 * socket.setTimeout(0) meant.
 */
function boundConnect<S extends net.Socket>(s: S, target: Address, timeoutMs: number): S {
  if (timeoutMs > 0) {
    const timer = setTimeout(connectTimedOut, timeoutMs, s, target, timeoutMs);
    timer.unref();
    s.once('connect', () => clearTimeout(timer));
  }
  return s;
}
