// The configurations every workload runs against, in table order. Each owns a client pod on the
// client node and a server pod on the server node, in its own Kubernetes namespace, so they all
// live in one testbed and one run and can be interleaved (A B C A B C …) to spread the noise of a
// shared machine evenly. To add one (e.g. Weft L7 once it lands), append an entry: a namespace,
// whether Weft meshes it, and any setup it needs.
import type { Mesh } from '../tests/testbed/mesh.ts';
import type { Testbed } from '../tests/testbed/testbed.ts';
import { startHaproxyPair, type HaproxyPair } from './haproxy.ts';
import { telemetryOff, tracingOn } from './telemetry-configurations.ts';
import type { WatchedProcess } from './proc-stats.ts';

export const CLIENT_NODE = 'n1';
export const SERVER_NODE = 'n2';
export const HTTP_PORT = 8080;
/** The opaque row serves HTTP on its own port, declared opaque to the agents (WEFT_OPAQUE_PORTS),
 * so the same agents carry it as TCP while the L7 row's port 8080 is detected as HTTP. */
export const OPAQUE_HTTP_PORT = 8081;
export const TCP_PORT = 9000;

export interface BenchContext {
  tb: Testbed;
  mesh: Mesh;
  /** Scratch directory of this run (certificates, configs, profiles). */
  dir: string;
  /** The core budget each proxy gets: WEFT_WORKERS for the agent, nbthread for HAProxy. */
  workers: number;
}

export interface Configuration {
  /** Stable key in results JSON. */
  id: string;
  /** Row title in the README. */
  label: string;
  /** Kubernetes namespace of its pods; also the pods' name prefix. */
  namespace: string;
  /** Whether the namespace carries weft.dev/mesh=enabled. */
  meshed: boolean;
  /** Port its HTTP server listens on (default HTTP_PORT). */
  httpPort?: number;
  /** One line for the README: how a request travels in this configuration. */
  path: string;
  /** Agent settings it needs beyond the default: the agents are restarted with them while it runs
   * (bench/agent-env.ts). Called after setup. */
  agentEnv?(ctx: BenchContext): Record<string, string>;
  /** Starts anything beyond the pods and servers; called once, after the mesh is up. */
  setup?(ctx: BenchContext): Promise<void>;
  teardown?(): Promise<void>;
  /** The proxy processes whose CPU and memory count for this configuration. */
  proxies(ctx: BenchContext): WatchedProcess[];
}

export const clientPod = (c: Configuration): string => `${c.namespace}-client`;
export const serverPod = (c: Configuration): string => `${c.namespace}-server`;

function weftAgents(ctx: BenchContext): WatchedProcess[] {
  return [CLIENT_NODE, SERVER_NODE].map((n) => ({ name: `agent ${n}`, pid: ctx.mesh.agentPid(n) ?? -1 }));
}

function haproxy(): Configuration {
  let pair: HaproxyPair | undefined;
  const c: Configuration = {
    id: 'haproxy',
    label: 'HAProxy mTLS pair',
    namespace: 'haproxy',
    meshed: false,
    path: 'client pod → iptables REDIRECT → HAProxy n1 (TCP) → TLS 1.3 + client cert → HAProxy n2 → server pod',
    async setup(ctx) {
      pair = await startHaproxyPair({
        tb: ctx.tb,
        dir: ctx.dir,
        clientNode: CLIENT_NODE,
        serverNode: SERVER_NODE,
        clientPodIp: ctx.tb.pod(clientPod(c)).ip,
        serverPodIp: ctx.tb.pod(serverPod(c)).ip,
        ports: [
          { port: HTTP_PORT, outbound: 15101, inbound: 15102 },
          { port: TCP_PORT, outbound: 15103, inbound: 15104 },
        ],
        threads: ctx.workers,
      });
    },
    async teardown() {
      await pair?.stop();
      pair = undefined;
    },
    proxies: () => pair?.processes ?? [],
  };
  return c;
}

/** Fresh objects per run (the HAProxy entry keeps its processes). */
export function configurations(): Configuration[] {
  return [
    {
      id: 'no-mesh',
      label: 'no mesh',
      namespace: 'plain',
      meshed: false,
      path: 'client pod → server pod, routed by the nodes; the agents run but do not touch it',
      proxies: () => [],
    },
    {
      id: 'weft-l7',
      label: 'Weft L7 (HTTP)',
      namespace: 'weftl7',
      meshed: true,
      path: 'client pod → TPROXY → agent n1 (15001, HTTP detected: route, balance, retry, telemetry) → HTTP/2 request on a pooled mTLS session → agent n2 (15008) → server pod',
      proxies: weftAgents,
    },
    {
      id: 'weft-opaque',
      label: 'Weft opaque TCP',
      namespace: 'weft',
      meshed: true,
      httpPort: OPAQUE_HTTP_PORT,
      path: 'client pod → TPROXY → agent n1 (15001) → HBONE mTLS HTTP/2 CONNECT → agent n2 (15008) → server pod (port declared opaque)',
      proxies: weftAgents,
    },
    haproxy(),
    telemetryOff(weftAgents),
    tracingOn(weftAgents, CLIENT_NODE),
  ];
}
