// The agent's own listeners as the capture handlers must see them: its ports and this node's
// addresses (see AgentListeners in outbound-decide.ts for why a connection to them is refused).
// Addresses come from the kernel (getifaddrs, through os.networkInterfaces) and are re-read on a
// slow timer, never on a connection's path: a veth or address added later is picked up within
// the interval.
import os from 'node:os';
import type { AgentListeners } from './outbound-decide.ts';

const REFRESH_MS = 30_000;

export type InterfaceReader = () => ReturnType<typeof os.networkInterfaces>;

/** IPv4 addresses of every interface (`::ffff:`-free; the proxy unmaps v4-mapped peers). */
export function ipv4Addresses(read: InterfaceReader = os.networkInterfaces): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(read())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  }
  return out;
}

export class NodeListeners implements AgentListeners {
  readonly ports: ReadonlySet<number>;
  #addresses: ReadonlySet<string>;
  readonly #read: InterfaceReader;
  readonly #timer: NodeJS.Timeout | undefined;

  /** `ports`: every port the agent accepts on (0 = a disabled listener, left out). */
  constructor(ports: readonly number[], opts: { read?: InterfaceReader; refreshMs?: number } = {}) {
    this.ports = new Set(ports.filter((p) => p > 0));
    this.#read = opts.read ?? os.networkInterfaces;
    this.#addresses = ipv4Addresses(this.#read);
    const every = opts.refreshMs ?? REFRESH_MS;
    if (every > 0) {
      this.#timer = setInterval(() => this.refresh(), every);
      this.#timer.unref();
    }
  }

  get addresses(): ReadonlySet<string> {
    return this.#addresses;
  }

  refresh(): void {
    try {
      this.#addresses = ipv4Addresses(this.#read);
    } catch {
      // Keep the last good set: an interface read failing must not open the loop.
    }
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}
