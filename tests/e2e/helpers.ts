// Small helpers the testbed e2e tests share: run the sample TCP client in a pod and read its
// result, read an agent's proxy counters, and run an OTLP/HTTP receiver inside a node.
import { fileURLToPath } from 'node:url';
import type { StatsJson } from '../../agent/proxy/stats.ts';
import type { TcpRunResult } from '../apps/tcp-runner.ts';
import type { OtlpRequest } from '../common/otlp-receiver.ts';
import type { Mesh } from '../testbed/mesh.ts';
import type { Testbed } from '../testbed/testbed.ts';

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

const RECEIVER = fileURLToPath(new URL('../common/otlp-receiver.ts', import.meta.url));

export interface NodeOtlpReceiver {
  /** What the agents set as OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  /** The OTLP/gRPC endpoint, when started with a gRPC port. */
  readonly grpcEndpoint?: string;
  /** Every request received so far, in order. */
  readonly requests: OtlpRequest[];
  stop(): void;
}

/**
 * tests/common/otlp-receiver.ts inside a node's namespace, on the node's address: the testbed has
 * no route to the root namespace, so that is where the agents can reach it. Killed on teardown.
 */
export function otlpReceiverOnNode(tb: Testbed, node: string, port = 4318, grpcPort?: number): Promise<NodeOtlpReceiver> {
  const ip = tb.node(node).ip;
  const requests: OtlpRequest[] = [];
  const child = tb.spawn(tb.node(node).netns, process.execPath, [RECEIVER, '--host', ip, '--port', String(port), ...(grpcPort === undefined ? [] : ['--grpc-port', String(grpcPort)])]);
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = JSON.parse(line) as { ready?: boolean } & OtlpRequest;
        if (m.ready === true) resolve({ endpoint: `http://${ip}:${port}`, ...(grpcPort === undefined ? {} : { grpcEndpoint: `http://${ip}:${grpcPort}` }), requests, stop: () => { child.kill('SIGTERM'); } });
        else requests.push(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`otlp receiver exited ${code}`)));
  });
}
