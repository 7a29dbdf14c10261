// Every listener and outbound socket the proxy makes goes through a SocketFactory, so the
// transparent (IP_TRANSPARENT) listeners of the node and plain loopback ones in tests are one
// swap apart, and socket options (nodelay, keepalive) are set in one place.
import net from 'node:net';
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
  connect(target: Address, timeoutMs: number): net.Socket;
}

export type TransparentListen = (host: string, port: number, backlog: number, reusePort: boolean) => number;

const BACKLOG = 4096;
const KEEPALIVE_MS = 30_000;

export function createSocketFactory(transparentListen?: TransparentListen): SocketFactory {
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
    connect(target, timeoutMs) {
      const s = net.connect({ host: target.ip, port: target.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
      // A connect that hangs (black-holed peer) must not hold the app's connection forever.
      s.setTimeout(timeoutMs, () => {
        if (s.connecting) s.destroy(Object.assign(new Error(`connect to ${target.ip}:${target.port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      s.once('connect', () => s.setTimeout(0));
      return s;
    },
  };
}
