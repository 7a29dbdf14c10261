// The agent's door to agent/native: transparent listeners that Node's net module cannot open.
// The addon is built by scripts/build-native.sh; loading is lazy so code that never needs a
// transparent socket (unit tests, the CLI) runs without it.
import { createRequire } from 'node:module';
import type net from 'node:net';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

interface NativeAddon {
  listenTransparent(host: string, port: number, backlog: number, reusePort: boolean): number;
  isTransparent(fd: number): boolean;
}

// Beside this module in the source tree; the esbuild bundle gets a copy at dist/build/ so the same
// relative URL resolves there. WEFT_NATIVE_ADDON overrides both (images with another layout).
export const NATIVE_ADDON_PATH = process.env.WEFT_NATIVE_ADDON || new URL('./build/weft_native.node', import.meta.url).pathname;

let addon: NativeAddon | undefined;

function load(): NativeAddon {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
    return addon;
  } catch (err) {
    throw new WeftError(
      ErrorCodes.NATIVE_UNAVAILABLE,
      `native addon ${NATIVE_ADDON_PATH} could not be loaded (${(err as Error).message}) — run scripts/build-native.sh`,
      { cause: err },
    );
  }
}

/** True when the addon is built and loads; for callers that can fall back to plain sockets. */
export function nativeAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a non-blocking listening TCP socket with IP_TRANSPARENT (and SO_REUSEPORT if asked) and
 * returns its fd. Needs CAP_NET_ADMIN. Errors carry Node-style codes (EPERM, EADDRINUSE, ...).
 */
export function listenTransparent(host: string, port: number, backlog = 511, reusePort = false): number {
  return load().listenTransparent(host, port, backlog, reusePort);
}

/** Whether the socket behind fd has IP_TRANSPARENT (IPV6_TRANSPARENT for v6) set. */
export function isTransparent(fd: number): boolean {
  return load().isTransparent(fd);
}

export interface TransparentServerOptions {
  backlog?: number;
  reusePort?: boolean;
}

/**
 * Makes server listen on a transparent socket: accepted sockets' localAddress/localPort are the
 * client's original destination when TPROXY steered the connection here. Returns the server.
 */
export function transparentServer(server: net.Server, host: string, port: number, opts: TransparentServerOptions = {}): net.Server {
  const fd = listenTransparent(host, port, opts.backlog ?? 511, opts.reusePort ?? false);
  // Node adopts the fd; from here on server.close() closes it.
  return server.listen({ fd });
}
