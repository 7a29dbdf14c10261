// The Redirector seam: steers a meshed workload's TCP into the node's agent (outbound capture)
// and plaintext TCP addressed to it into the inbound capture port. Implementations (iptables,
// later ebpf) register by name; the agent picks one from its config.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { CommandRunner } from './command-runner.ts';

/** A meshed workload as the redirector sees it: a stable key (e.g. "ns/pod") and its pod IP. */
export interface RedirectWorkload {
  key: string;
  ip: string;
}

export interface Redirector {
  readonly name: string;
  /** Starts capturing this workload; installs the shared plumbing on first use. Idempotent. */
  install(w: RedirectWorkload): Promise<void>;
  /** Stops capturing this workload (by key). Idempotent. */
  remove(w: RedirectWorkload): Promise<void>;
  /** Makes the captured set exactly `all`, adopting or cleaning what an earlier agent left. */
  reconcile(all: RedirectWorkload[]): Promise<void>;
  /** Removes everything this redirector ever installed on the node. Idempotent. */
  uninstall(): Promise<void>;
  /** What is installed right now, read back from the kernel (for /config_dump). */
  describe(): Promise<unknown>;
}

export interface RedirectorOptions {
  /** Agent port that receives captured outbound connections. */
  outboundPort?: number;
  /** Agent port that receives captured plaintext inbound connections. */
  inboundPort?: number;
  /** Firewall mark (used as value and mask) routing captured packets to the local stack. */
  mark?: number;
  /** Policy routing table holding the `local 0.0.0.0/0 dev lo` route. */
  routeTable?: number;
  /** Destination ports a workload's outbound traffic keeps going to directly. */
  excludeOutboundPorts?: number[];
  /** Runs commands (iptables-restore, ip); injectable so unit tests see the batches. */
  exec?: CommandRunner;
}

export type ResolvedRedirectorOptions = Required<Omit<RedirectorOptions, 'exec'>>;

export const REDIRECT_DEFAULTS: ResolvedRedirectorOptions = Object.freeze({
  outboundPort: 15001,
  inboundPort: 15006,
  mark: 0x539,
  routeTable: 133,
  excludeOutboundPorts: [],
});

export function resolveRedirectorOptions(opts: RedirectorOptions): ResolvedRedirectorOptions {
  const r = {
    outboundPort: opts.outboundPort ?? REDIRECT_DEFAULTS.outboundPort,
    inboundPort: opts.inboundPort ?? REDIRECT_DEFAULTS.inboundPort,
    mark: opts.mark ?? REDIRECT_DEFAULTS.mark,
    routeTable: opts.routeTable ?? REDIRECT_DEFAULTS.routeTable,
    excludeOutboundPorts: [...(opts.excludeOutboundPorts ?? [])],
  };
  const problems: string[] = [];
  const isPort = (p: number) => Number.isInteger(p) && p > 0 && p < 65536;
  if (!isPort(r.outboundPort)) problems.push(`outboundPort ${r.outboundPort}`);
  if (!isPort(r.inboundPort)) problems.push(`inboundPort ${r.inboundPort}`);
  if (!Number.isInteger(r.mark) || r.mark <= 0 || r.mark > 0xffffffff) problems.push(`mark ${r.mark}`);
  // 253-255 are the kernel's default/main/local tables.
  if (!Number.isInteger(r.routeTable) || r.routeTable <= 0 || r.routeTable >= 253) problems.push(`routeTable ${r.routeTable}`);
  for (const p of r.excludeOutboundPorts) if (!isPort(p)) problems.push(`excludeOutboundPorts entry ${p}`);
  if (problems.length > 0) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `invalid redirector options: ${problems.join(', ')}`);
  }
  return Object.freeze(r);
}

export type RedirectorFactory = (opts: RedirectorOptions) => Redirector;

const registry = new Map<string, RedirectorFactory>();

export function registerRedirector(name: string, factory: RedirectorFactory): void {
  registry.set(name, factory);
}

export function redirectorNames(): string[] {
  return [...registry.keys()].sort();
}

export function createRedirector(name: string, opts: RedirectorOptions = {}): Redirector {
  const factory = registry.get(name);
  if (factory === undefined) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `unknown redirector "${name}"; known: ${redirectorNames().join(', ') || 'none'}`);
  }
  return factory(opts);
}
