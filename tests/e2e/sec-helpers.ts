// Shared by the sec-* suites: read weft_rejected_input_total{reason} — the bad-input counter
// agents and control share — out of Prometheus text, and run the misbehaving client
// (tests/apps/bad-input-client.ts) somewhere and collect its results by scenario name.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Scenario, ScenarioResult } from '../apps/bad-input-client.ts';
import type { Mesh } from '../testbed/mesh.ts';

export function parseRejected(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^weft_rejected_input_total\{reason="([^"]+)"\} (\d+)$/gm)) out.set(m[1], Number(m[2]));
  return out;
}

/** An agent's counts, read from its /metrics over the admin socket. */
export async function rejectedInput(mesh: Mesh, node: string): Promise<Map<string, number>> {
  const a = await mesh.admin(node, '/metrics');
  return parseRejected(String(a.body));
}

const CLIENT = fileURLToPath(new URL('../apps/bad-input-client.ts', import.meta.url));

/** Runs the scenarios in one client process started by `launch` (here, or inside a namespace). */
export async function runScenarios(launch: (cmd: string, args: string[]) => ChildProcess, scenarios: Scenario[], timeoutMs = 90_000): Promise<Map<string, ScenarioResult>> {
  const p = launch(process.execPath, [CLIENT, '--scenarios', Buffer.from(JSON.stringify(scenarios)).toString('base64')]);
  let out = '';
  let err = '';
  p.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) throw new Error(`bad-input-client exited ${code}: ${err}`);
  const results = out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ScenarioResult & { ready?: boolean }).filter((r) => r.ready !== true);
  return new Map(results.map((r) => [r.name, r]));
}
