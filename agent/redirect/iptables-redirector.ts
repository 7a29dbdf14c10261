// The iptables (TPROXY) redirector. It runs in the node's network namespace and keeps no state
// of its own: every operation reads the mangle table back, plans the difference (see
// iptables-rules.ts) and applies it as one `iptables-restore --noflush` batch, so a change is
// never half-applied and a restarted agent adopts what its predecessor installed.
import { PolicyRouting } from './policy-routing.ts';
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { runCommand, type CommandRunner } from './command-runner.ts';
import { ALL_CHAINS, parseMangle, planChange, planUninstall, validIpv4, validKey, type Change } from './iptables-rules.ts';
import {
  registerRedirector, resolveRedirectorOptions,
  type RedirectWorkload, type Redirector, type RedirectorOptions, type ResolvedRedirectorOptions,
} from './redirector.ts';

export class IptablesRedirector implements Redirector {
  readonly name = 'iptables';
  readonly options: ResolvedRedirectorOptions;
  readonly #exec: CommandRunner;
  readonly #routing: PolicyRouting;
  // Operations are serialised: each one plans from what the previous one left.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: RedirectorOptions = {}) {
    this.options = resolveRedirectorOptions(opts);
    this.#exec = opts.exec ?? runCommand;
    this.#routing = new PolicyRouting((cmd, args, input, tolerate) => this.#run(cmd, args, input, tolerate), this.options.mark, this.options.routeTable, commandFailed);
  }

  install(w: RedirectWorkload): Promise<void> {
    return this.#serial(async () => {
      check(w);
      await this.#apply({ set: [w], remove: [], prune: false, refreshBase: false });
    });
  }

  remove(w: RedirectWorkload): Promise<void> {
    return this.#serial(() => this.#apply({ set: [], remove: [w.key], prune: false, refreshBase: false }));
  }

  reconcile(all: RedirectWorkload[]): Promise<void> {
    return this.#serial(async () => {
      const keys = new Set<string>();
      for (const w of all) {
        check(w);
        if (keys.has(w.key)) throw failed(`workload key ${w.key} appears twice in reconcile`);
        keys.add(w.key);
      }
      await this.#apply({ set: all, remove: [], prune: true, refreshBase: true });
    });
  }

  uninstall(): Promise<void> {
    return this.#serial(async () => {
      const doc = planUninstall(parseMangle(await this.#save()));
      if (doc !== undefined) await this.#restore(doc);
      await this.#routing.remove();
    });
  }

  describe(): Promise<unknown> {
    return this.#serial(async () => {
      const state = parseMangle(await this.#save());
      return {
        name: this.name,
        options: this.options,
        chains: ALL_CHAINS.filter((c) => state.chains.has(c)),
        jumps: state.jumps.length,
        workloads: [...state.workloads].map(([key, rules]) => ({
          key,
          ip: rules[0]?.ip,
          outbound: rules.some((r) => r.chain === 'WEFT-OUT'),
          inbound: rules.some((r) => r.chain === 'WEFT-IN'),
        })),
        ...(await this.#routing.describe()),
      };
    });
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(op, op);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #apply(change: Change): Promise<void> {
    const doc = planChange(parseMangle(await this.#save()), this.options, change);
    if (doc !== undefined) await this.#restore(doc);
    // Routing is only needed once something is captured (or reconcile set the base up).
    if (change.set.length > 0 || change.refreshBase) await this.#routing.ensure();
  }

  async #save(): Promise<string> {
    return (await this.#run('iptables-save', ['-t', 'mangle'])).stdout;
  }

  async #restore(doc: string): Promise<void> {
    await this.#run('iptables-restore', ['--noflush', '--wait'], doc);
  }

  async #run(cmd: string, args: string[], input?: string, tolerate = false) {
    const r = await this.#exec(cmd, args, input);
    if (r.code !== 0 && !tolerate) throw commandFailed(`${cmd} ${args.join(' ')}`, r.stderr);
    return r;
  }
}

function failed(msg: string): WeftError {
  return new WeftError(ErrorCodes.REDIRECT_FAILED, msg);
}

function commandFailed(what: string, stderr: string): WeftError {
  return failed(`${what} failed: ${stderr.trim() || 'no error output'} — does the agent run in the node's network namespace with CAP_NET_ADMIN, and are the xt_TPROXY/xt_socket modules available?`);
}

function check(w: RedirectWorkload): void {
  if (!validKey(w.key)) throw failed(`workload key ${JSON.stringify(w.key)} is not usable as an iptables comment (letters, digits, . _ : / @ -)`);
  if (!validIpv4(w.ip)) throw failed(`workload ${w.key}: ${JSON.stringify(w.ip)} is not an IPv4 address (IPv6 capture is not supported yet)`);
}

registerRedirector('iptables', (opts) => new IptablesRedirector(opts));
