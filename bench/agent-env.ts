// Configurations that need the agents set differently (telemetry off, tracing on) share the one
// mesh with the rest: before such a configuration runs, both agents restart with its environment,
// and before a meshed configuration without one, with the default again. Runs stay interleaved;
// each switch costs a restart (a few seconds) outside every measured window, and the workloads'
// warmup covers the new agents' first connections and certificates.
import type { RedirectMode } from '../tests/ebpf/mode.ts';
import type { Mesh } from '../tests/testbed/mesh.ts';
import { CLIENT_NODE, SERVER_NODE, siteOf, type BenchContext, type Configuration } from './configurations.ts';

/**
 * Restarts the client and server nodes' agents with extra environment (per node when a function:
 * a profile directory each, say) and optionally another build, and waits until both are ready.
 * Every bench script that swaps agent settings or builds goes through here.
 */
/** `K=V` command-line settings as an environment (the value may itself hold '='). */
export function envFrom(assignments: readonly string[]): Record<string, string> {
  return Object.fromEntries(assignments.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

export async function restartAgents(mesh: Mesh, env: Record<string, string> | ((node: string) => Record<string, string>) = {}, bundle?: string): Promise<void> {
  const nodes = [CLIENT_NODE, SERVER_NODE];
  const envOf = typeof env === 'function' ? env : () => env;
  await Promise.all(nodes.map((n) => mesh.stopAgent(n)));
  await Promise.all(nodes.map((n) => mesh.startAgent(n, envOf(n), bundle === undefined ? {} : { bundle })));
  await Promise.all(nodes.map((n) => mesh.waitReady(n)));
}

export class AgentEnvironments {
  /** Per site (each has its own agents): the environment they run with now (JSON of the extra
   * variables; absent or '{}' = the default). */
  readonly #current = new Map<RedirectMode, string>();
  restarts = 0;

  async use(ctx: BenchContext, c: Configuration): Promise<void> {
    if (!c.meshed) return;
    const env = c.agentEnv?.(ctx) ?? {};
    const key = JSON.stringify(env);
    if (key === (this.#current.get(c.site) ?? '{}')) return;
    await restartAgents(siteOf(ctx, c).mesh, env);
    this.#current.set(c.site, key);
    this.restarts++;
  }

  /** Someone else restarted a site's agents: the next `use` there restarts them whatever they run with. */
  forget(site: RedirectMode): void {
    this.#current.set(site, '');
  }
}
