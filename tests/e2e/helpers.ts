// Small helpers the testbed e2e tests share: run the sample TCP client in a pod and read its
// result, and read an agent's proxy counters.
import type { StatsJson } from '../../agent/proxy/stats.ts';
import type { TcpRunResult } from '../apps/tcp-runner.ts';
import type { Mesh } from '../testbed/mesh.ts';

export type TcpResult = TcpRunResult;

export async function tcpClient(mesh: Mesh, pod: string, host: string, port: number, mode: string, extra: string[] = [], timeoutMs = 120_000): Promise<TcpResult> {
  const r = await mesh.runApp(pod, 'tcp-client.ts', ['--host', host, '--port', String(port), '--mode', mode, '--timeout', String(timeoutMs - 5000), ...extra], timeoutMs);
  const last = r.stdout[r.stdout.length - 1] as unknown as TcpResult | undefined;
  if (last === undefined || !('ok' in last)) throw new Error(`tcp-client printed no result (exit ${r.code}); stderr: ${r.stderr}`);
  return last;
}

export type ProxyDump = StatsJson;

export async function proxyStats(mesh: Mesh, node: string): Promise<ProxyDump> {
  const a = await mesh.admin(node, '/config_dump/proxy');
  return (a.body as { proxy: ProxyDump }).proxy;
}
