// The agent's door to agent/native: transparent listeners that Node's net module cannot open, and
// sockets born inside a pod's network namespace (in-pod capture).
// The addon is built by scripts/build-native.sh; loading is lazy so code that never needs a
// transparent socket (unit tests, the CLI) runs without it.
import { createRequire } from 'node:module';
import net from 'node:net';
import { ErrorCodes, WeftError } from '../../common/errors.ts';

interface NativeAddon {
  listenTransparent(host: string, port: number, backlog: number, reusePort: boolean): number;
  isTransparent(fd: number): boolean;
  listenInNetns(netnsPath: string, host: string, port: number, backlog: number, reusePort: boolean, transparent: boolean): number;
  socketInNetns(netnsPath: string, mark: number): number;
  netnsInode(path: string): number;
  netnsIpv4(path: string): string[];
  originalDst(fd: number): { ip: string; port: number };
  mallocTrim(): boolean;
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

/** The addon's ENETNS (open/setns of a namespace failed) as the WeftError callers branch on. */
function netnsCall<T>(path: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENETNS') {
      throw new WeftError(ErrorCodes.NETNS_UNAVAILABLE, `${(err as Error).message} — has the pod gone, or does the agent lack hostPID, the /run/netns mount or CAP_SYS_ADMIN?`, { cause: err });
    }
    throw err;
  }
}

/**
 * Opens a non-blocking listening TCP socket inside the network namespace at netnsPath (a
 * /run/netns/* or /proc/PID/ns/net file) and returns its fd; it keeps accepting there whatever
 * thread adopts it. Needs CAP_SYS_ADMIN (setns) and CAP_NET_ADMIN if transparent.
 */
export function listenInNetns(netnsPath: string, host: string, port: number, backlog = 511, reusePort = false, transparent = false): number {
  const a = load();
  return netnsCall(netnsPath, () => a.listenInNetns(netnsPath, host, port, backlog, reusePort, transparent));
}

/** An unconnected non-blocking IPv4 TCP socket born in that namespace, with SO_MARK = mark (0: none). */
export function socketInNetns(netnsPath: string, mark: number): number {
  const a = load();
  return netnsCall(netnsPath, () => a.socketInNetns(netnsPath, mark));
}

/**
 * A net.Socket around socketInNetns, ready for .connect(): Node adopts an unconnected TCP fd and
 * connects it like its own (checked by tests/agent/native/netns.test.ts).
 */
export function netnsSocket(netnsPath: string, mark: number, onread?: net.OnReadOpts): net.Socket {
  return new net.Socket({ fd: socketInNetns(netnsPath, mark), onread });
}

/** The inode of a network namespace file: the namespace's identity however many paths name it. */
export function netnsInode(path: string): number {
  const a = load();
  return netnsCall(path, () => a.netnsInode(path));
}

/** Every IPv4 address configured in that namespace (loopback included). */
export function netnsIpv4(path: string): string[] {
  const a = load();
  return netnsCall(path, () => a.netnsIpv4(path));
}

/** SO_ORIGINAL_DST of a REDIRECTed IPv4 connection's fd: where the client first sent it. */
export function originalDst(fd: number): { ip: string; port: number } {
  return load().originalDst(fd);
}

/** The fd behind a net.Socket (Linux TCP handles expose it; -1 when there is none). */
export function socketFd(socket: net.Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

/**
 * Gives the C heap's free pages back to the kernel (glibc's malloc_trim(0)); true when some were.
 * False without the addon or off glibc: the caller loses nothing but the trim.
 */
export function mallocTrim(): boolean {
  if (!nativeAvailable()) return false;
  return load().mallocTrim();
}
