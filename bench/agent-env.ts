// Configurations that need the agents set differently (telemetry off, tracing on) share the one
// mesh with the rest: before such a configuration runs, both agents restart with its environment,
// and before a meshed configuration without one, with the default again. Runs stay interleaved;
// each switch costs a restart (a few seconds) outside every measured window, and the workloads'
// warmup covers the new agents' first connections and certificates.
import { CLIENT_NODE, SERVER_NODE, type BenchContext, type Configuration } from './configurations.ts';

export class AgentEnvironments {
  /** The environment the agents run with now (JSON of the extra variables; '{}' = the default). */
  #current = '{}';
  restarts = 0;

  async use(ctx: BenchContext, c: Configuration): Promise<void> {
    if (!c.meshed) return;
    const env = c.agentEnv?.(ctx) ?? {};
    const key = JSON.stringify(env);
    if (key === this.#current) return;
    const nodes = [CLIENT_NODE, SERVER_NODE];
    await Promise.all(nodes.map((n) => ctx.mesh.stopAgent(n)));
    await Promise.all(nodes.map((n) => ctx.mesh.startAgent(n, env)));
    await Promise.all(nodes.map((n) => ctx.mesh.waitReady(n)));
    this.#current = key;
    this.restarts++;
  }

  /** Someone else restarted the agents: the next `use` restarts them whatever they run with. */
  forget(): void {
    this.#current = '';
  }
}
