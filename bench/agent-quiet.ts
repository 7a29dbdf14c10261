// Waits until a site's agents have had a quiet interval: their memory reclaim (agent/memory-reclaim.ts,
// WEFT_MEMORY_RECLAIM_MS) has ticked `ticks` times since the call. The first tick after traffic
// stops may cover some of it (a busy interval: nothing reclaimed); the second covers quiet only, and
// that is when an agent gives back what the traffic left. A reading labelled "idle" taken sooner
// measures the traffic a second ago, not an idle agent (bench/README.md, "Proxies when idle").
import type { Mesh } from '../tests/testbed/mesh.ts';
import { CLIENT_NODE, SERVER_NODE } from './configurations.ts';

/** The reclaim's tick count on a node's agent; undefined when the admin port does not say. */
export async function reclaimTicks(mesh: Mesh, node: string): Promise<number | undefined> {
  const a = await mesh.admin(node, '/config_dump/memory').catch(() => undefined);
  const t = (a?.body as { memory?: { reclaim?: { ticks?: unknown } } } | undefined)?.memory?.reclaim?.ticks;
  return typeof t === 'number' ? t : undefined;
}

/**
 * Resolves once every node's reclaim has ticked `ticks` more times, or after `timeoutMs` (an agent
 * with the reclaim off never ticks). Returns the seconds waited.
 */
export async function waitForQuietTicks(mesh: Mesh, opts: { ticks?: number; timeoutMs?: number; nodes?: string[] } = {}): Promise<number> {
  const nodes = opts.nodes ?? [CLIENT_NODE, SERVER_NODE];
  const want = opts.ticks ?? 2;
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 25_000);
  const start = await Promise.all(nodes.map((n) => reclaimTicks(mesh, n)));
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await Promise.all(nodes.map((n) => reclaimTicks(mesh, n)));
    if (now.every((t, i) => t !== undefined && start[i] !== undefined && t - start[i]! >= want)) break;
  }
  return Math.round((Date.now() - t0) / 100) / 10;
}
