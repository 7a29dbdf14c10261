// Configurations that need the agents set differently (telemetry off, tracing on) share the one
// mesh with the rest: before such a configuration runs, both agents restart with its environment,
// and before a meshed configuration without one, with the default again. Runs stay interleaved;
// each switch costs a restart (a few seconds) outside every measured window, and the workloads'
// warmup covers the new agents' first connections and certificates.
import type { RedirectMode } from '../tests/ebpf/mode.ts';
import { CLIENT_NODE, SERVER_NODE, siteOf, type BenchContext, type Configuration } from './configurations.ts';

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
    const { mesh } = siteOf(ctx, c);
    const nodes = [CLIENT_NODE, SERVER_NODE];
    await Promise.all(nodes.map((n) => mesh.stopAgent(n)));
    await Promise.all(nodes.map((n) => mesh.startAgent(n, env)));
    await Promise.all(nodes.map((n) => mesh.waitReady(n)));
    this.#current.set(c.site, key);
    this.restarts++;
  }

  /** Someone else restarted a site's agents: the next `use` there restarts them whatever they run with. */
  forget(site: RedirectMode): void {
    this.#current.set(site, '');
  }
}
