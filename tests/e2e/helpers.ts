// Small helpers the testbed e2e tests share: run the sample TCP client in a pod and read its
// result, and read an agent's proxy counters.
import type { Mesh } from '../testbed/mesh.ts';

export interface TcpResult {
  ok: boolean;
  mode: string;
  connections: number;
  bytesSent: number;
  bytesReceived: number;
  sha256Sent: string;
  sha256Received: string;
  errors: string[];
}

export async function tcpClient(mesh: Mesh, pod: string, host: string, port: number, mode: string, extra: string[] = [], timeoutMs = 120_000): Promise<TcpResult> {
  const r = await mesh.runApp(pod, 'tcp-client.ts', ['--host', host, '--port', String(port), '--mode', mode, '--timeout', String(timeoutMs - 5000), ...extra], timeoutMs);
  const last = r.stdout[r.stdout.length - 1] as unknown as TcpResult | undefined;
  if (last === undefined || !('ok' in last)) throw new Error(`tcp-client printed no result (exit ${r.code}); stderr: ${r.stderr}`);
  return last;
}

export interface PathCounters {
  opened: number;
  closed: number;
  failed: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
}

export interface ProxyDump {
  paths: Record<string, PathCounters>;
  rejected: number;
  recent: Array<{ path: string; sourceIdentity: string | null; destination: string; destinationWorkload: string | null }>;
}

export async function proxyStats(mesh: Mesh, node: string): Promise<ProxyDump> {
  const a = await mesh.admin(node, '/config_dump/proxy');
  return (a.body as { proxy: ProxyDump }).proxy;
}
