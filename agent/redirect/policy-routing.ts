// The policy routing both redirection modes need: packets they mark (TPROXY's mark, or the eBPF
// program's) are looked up in a table whose only route is `local 0.0.0.0/0 dev lo`, so they are
// delivered to the agent's transparent sockets instead of forwarded.
import type { CommandResult } from './command-runner.ts';

/** Runs a command; with `tolerate` a non-zero exit is returned instead of thrown. */
export type RoutingRun = (cmd: string, args: string[], input?: string, tolerate?: boolean) => Promise<CommandResult>;

export class PolicyRouting {
  readonly #run: RoutingRun;
  readonly #ruleArgs: string[];
  readonly #table: string;
  readonly #failed: (what: string, stderr: string) => Error;

  constructor(run: RoutingRun, mark: number, table: number, failed: (what: string, stderr: string) => Error) {
    this.#run = run;
    const m = `0x${mark.toString(16)}`;
    this.#ruleArgs = ['fwmark', `${m}/${m}`, 'lookup', String(table)];
    this.#table = String(table);
    this.#failed = failed;
  }

  async hasRule(): Promise<boolean> {
    const out = (await this.#run('ip', ['-4', 'rule', 'show'])).stdout;
    const want = this.#ruleArgs.join(' ');
    return out.split('\n').some((l) => l.includes(want));
  }

  /** For config dumps: is the rule there, and the local route in its table. */
  async describe(): Promise<{ ipRule: boolean; localRoute: boolean }> {
    const routes = await this.#run('ip', ['-4', 'route', 'show', 'table', this.#table], undefined, true);
    return { ipRule: await this.hasRule(), localRoute: routes.stdout.includes('local default') };
  }

  async ensure(): Promise<void> {
    if (!(await this.hasRule())) await this.#run('ip', ['-4', 'rule', 'add', ...this.#ruleArgs]);
    await this.#run('ip', ['-4', 'route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', this.#table]);
  }

  async remove(): Promise<void> {
    // A rule added twice (by hand, or a racing agent) is listed twice: remove until none is left.
    for (let i = 0; i < 16 && (await this.hasRule()); i++) await this.#run('ip', ['-4', 'rule', 'del', ...this.#ruleArgs]);
    const r = await this.#run('ip', ['-4', 'route', 'flush', 'table', this.#table], undefined, true);
    if (r.code !== 0 && !/does not exist/i.test(r.stderr)) throw this.#failed('ip route flush', r.stderr);
  }
}
