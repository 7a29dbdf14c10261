// The configurations every workload runs against, in table order. Each owns a client pod on the
// client node and a server pod on the server node, in its own Kubernetes namespace, so they all
// live in one run and can be interleaved (A B C A B C …) to spread the noise of a shared machine
// evenly. The redirect mode is per agent, so the eBPF rows live on a second testbed with its own
// mesh (a "site"); both sites run throughout. To add one, append an entry: a namespace, a site,
// whether Weft meshes it, its ports, and any setup it needs.
import { spawnSync } from 'node:child_process';
import type { RedirectMode } from '../tests/ebpf/mode.ts';
import type { Mesh } from '../tests/testbed/mesh.ts';
import type { Testbed } from '../tests/testbed/testbed.ts';
import { startHaproxyPair, type HaproxyMode, type HaproxyPair } from './haproxy.ts';
import { telemetryOff, tracingOn } from './telemetry-configurations.ts';
import type { WatchedProcess } from './proc-stats.ts';

export const CLIENT_NODE = 'n1';
export const SERVER_NODE = 'n2';
export const HTTP_PORT = 8080;
export const TCP_PORT = 9000;

/** Where each configuration's server pod serves each protocol. */
export interface Ports {
  /** HTTP/1.1 (tests/apps/http-server.ts). */
  h1: number;
  /** HTTP/2 prior knowledge (tests/apps/l7-server.ts --h2-port). */
  h2: number;
  /** gRPC (tests/apps/grpc-server.ts). */
  grpc: number;
}

export const DETECTED_PORTS: Ports = { h1: HTTP_PORT, h2: 8082, grpc: 9090 };
/** The opaque rows serve on their own ports, declared opaque to the agents (WEFT_OPAQUE_PORTS), so
 * the same agents carry them as TCP while the L7 rows' ports are detected as HTTP. */
export const OPAQUE_PORTS: Ports = { h1: 8081, h2: 8083, grpc: 9091 };

let hardNofile: number | undefined;

/** The descriptor limit given to servers, the idle-connection client and the agents: this
 * process's hard RLIMIT_NOFILE (raising a hard limit needs CAP_SYS_RESOURCE). 10 000 held
 * connections need about that many descriptors in each process along the path, twice that in a
 * proxy that holds both sides, like HAProxy n1. */
export function nofile(): number {
  if (hardNofile === undefined) {
    const out = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
    hardNofile = out === 'unlimited' ? 1_048_576 : Number(out) || 1024;
  }
  return hardNofile;
}

export interface Site {
  tb: Testbed;
  mesh: Mesh;
}

export interface BenchContext {
  /** One testbed + mesh per redirect mode in this run. */
  sites: Map<RedirectMode, Site>;
  /** Scratch directory of this run (certificates, configs, profiles). */
  dir: string;
  /** The machine's cores: HAProxy's nbthread. The agent keeps its own default (bench/bed.ts). */
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
  /** The testbed (and mesh) its pods live on. */
  site: RedirectMode;
  ports: Ports;
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

export function siteOf(ctx: BenchContext, c: Configuration): Site {
  const s = ctx.sites.get(c.site);
  if (s === undefined) throw new Error(`configuration ${c.id} needs the ${c.site} site, which this run did not start`);
  return s;
}

function weftAgents(ctx: BenchContext, site: RedirectMode): WatchedProcess[] {
  const mesh = ctx.sites.get(site)?.mesh;
  if (mesh === undefined) return [];
  return [CLIENT_NODE, SERVER_NODE].map((n) => ({ name: `agent ${n}`, pid: mesh.agentPid(n) ?? -1 }));
}

/** The id of the HAProxy pair in HTTP mode: the anchor of the L7 rows (issue 19). */
export const HAPROXY_L7 = 'haproxy-l7';

/** HAProxy as an mTLS pair: `tcp` carries bytes (the opaque rows' anchor); `http` parses requests
 * and carries them as HTTP/2 streams between the nodes (the L7 rows' anchor). */
function haproxy(mode: HaproxyMode): Configuration {
  let pair: HaproxyPair | undefined;
  const http = mode === 'http';
  // The TCP pair forwards the raw TCP port too (the bulk workload); an HTTP-mode proxy cannot carry it.
  const forwarded: { port: number; app: 'h1' | 'h2' }[] = [
    { port: HTTP_PORT, app: 'h1' },
    ...(http ? [] : [{ port: TCP_PORT, app: 'h1' as const }]),
    { port: DETECTED_PORTS.h2, app: 'h2' },
    { port: DETECTED_PORTS.grpc, app: 'h2' },
  ];
  const first = http ? 15201 : 15101;
  const c: Configuration = {
    id: http ? HAPROXY_L7 : 'haproxy',
    label: http ? 'HAProxy L7 mTLS HTTP/2 pair' : 'HAProxy TCP mTLS pair',
    namespace: http ? 'hal7' : 'haproxy',
    meshed: false,
    site: 'iptables',
    ports: DETECTED_PORTS,
    path: http
      ? 'client pod → iptables REDIRECT → HAProxy n1 (HTTP mode: HTTP/1.1, or h2c from the preface) → HTTP/2 streams on pooled TLS 1.3 + client-cert connections (alpn h2, http-reuse always) → HAProxy n2 → HTTP/1.1 (h2c for the HTTP/2 and gRPC servers) → server pod'
      : 'client pod → iptables REDIRECT → HAProxy n1 (TCP) → TLS 1.3 + client cert → HAProxy n2 → server pod',
    async setup(ctx) {
      const { tb } = siteOf(ctx, c);
      pair = await startHaproxyPair({
        tb,
        mode,
        dir: ctx.dir,
        clientNode: CLIENT_NODE,
        serverNode: SERVER_NODE,
        clientPodIp: tb.pod(clientPod(c)).ip,
        serverPodIp: tb.pod(serverPod(c)).ip,
        ports: forwarded.map(({ port, app }, i) => ({ port, app, outbound: first + 2 * i, inbound: first + 1 + 2 * i })),
        threads: ctx.workers,
        // Two descriptors per connection, and a margin for listeners and the log.
        maxconn: Math.floor((nofile() - 64) / 2),
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

function weft(id: string, label: string, namespace: string, site: RedirectMode, opaque: boolean): Configuration {
  const hop = site === 'ebpf' ? 'tc eBPF (bpf_sk_assign)' : 'TPROXY';
  return {
    id, label, namespace, site, meshed: true,
    ports: opaque ? OPAQUE_PORTS : DETECTED_PORTS,
    path: opaque
      ? `client pod → ${hop} → agent n1 (15001) → HBONE mTLS HTTP/2 CONNECT → agent n2 (15008) → server pod (ports declared opaque)`
      : `client pod → ${hop} → agent n1 (15001, HTTP detected: route, balance, retry, telemetry) → HTTP/2 request on a pooled mTLS session → agent n2 (15008) → server pod`,
    proxies: (ctx) => weftAgents(ctx, site),
  };
}

/** Fresh objects per run (the HAProxy entry keeps its processes). */
export function configurations(): Configuration[] {
  return [
    {
      id: 'no-mesh',
      label: 'no mesh',
      namespace: 'plain',
      meshed: false,
      site: 'iptables',
      ports: DETECTED_PORTS,
      path: 'client pod → server pod, routed by the nodes; the agents run but do not touch it',
      proxies: () => [],
    },
    weft('weft-l7', 'Weft L7 · iptables', 'weftl7', 'iptables', false),
    weft('weft-opaque', 'Weft opaque · iptables', 'weft', 'iptables', true),
    weft('weft-l7-ebpf', 'Weft L7 · eBPF', 'ebl7', 'ebpf', false),
    weft('weft-opaque-ebpf', 'Weft opaque · eBPF', 'ebop', 'ebpf', true),
    haproxy('tcp'),
    haproxy('http'),
    telemetryOff((ctx) => weftAgents(ctx, 'iptables'), DETECTED_PORTS),
    tracingOn((ctx) => weftAgents(ctx, 'iptables'), DETECTED_PORTS, CLIENT_NODE),
  ];
}
