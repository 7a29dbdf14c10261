// What the bench runs, per profile. Workloads are data: the runner knows three kinds (request load
// through bench/lib/load.ts over HTTP/1.1, HTTP/2 or gRPC; one bulk TCP stream through
// tests/apps/tcp-client.ts; and N idle connections held through bench/lib/hold.ts).

/** Wire protocol of a request workload; each configuration serves each on its own port. */
export type Protocol = 'h1' | 'h2' | 'grpc';

export interface HttpWorkload {
  kind: 'http';
  id: string;
  title: string;
  protocol: Protocol;
  /** Requests per second; 0 = closed loop (maximum throughput). */
  rate: number;
  durationS: number;
  warmupS: number;
  /** HTTP/1.1: pool size (one request in flight each). HTTP/2 and gRPC: connections multiplexed. */
  connections: number;
  /** Closed loop: requests in flight (default `connections`). */
  concurrency?: number;
  newConnection: boolean;
  /** Response body bytes (HTTP) or the Echo message's text bytes (gRPC, echoed back). */
  bytes: number;
  /** Only these configurations (ids); all when absent. */
  configs?: string[];
}

export interface BulkWorkload {
  kind: 'bulk';
  id: string;
  title: string;
  bytes: number;
  /** 'up': the client writes and the server counts (client → server); default server → client. */
  direction?: 'down' | 'up';
  configs?: string[];
  /** Never these configurations (ids), e.g. a proxy that cannot carry the protocol. */
  except?: string[];
}

export interface IdleWorkload {
  kind: 'idle';
  id: string;
  title: string;
  /** Connections opened (one request each) and then held idle. */
  connections: number;
  /** Opened at once while ramping up. */
  parallel: number;
  /** Seconds the connections sit idle before the proxies' memory is read. */
  settleS: number;
  /** Rounds for this workload (memory is not what a shared machine makes noisy); default: the profile's. */
  rounds?: number;
  configs?: string[];
}

export type Workload = HttpWorkload | BulkWorkload | IdleWorkload;

export interface Profile {
  name: 'smoke' | 'short' | 'full';
  /** Each workload runs this many times per configuration, interleaved across configurations. */
  rounds: number;
  workloads: Workload[];
  /** Seconds of closed-loop load while the agents are CPU-profiled; 0 skips profiling. */
  profileS: number;
  /** Run bench/ca-signing.ts (seconds) and bench/control-scale.ts (minutes, 1 GiB) in this run;
   * otherwise the targets table reads their newest saved results. */
  runCaSigning: boolean;
  runControlScale: boolean;
}

/** The configurations every workload runs against unless it names its own (configurations.ts):
 * the baseline, Weft's two paths, and HAProxy as a TCP pair (the opaque anchor) and in HTTP mode
 * (the L7 anchor). */
export const IPTABLES_CONFIGS = ['no-mesh', 'weft-l7', 'weft-opaque', 'haproxy', 'haproxy-l7'];

/** The HAProxy pair in HTTP mode: it carries requests, not a raw TCP stream. */
const HTTP_ONLY = ['haproxy-l7'];

const MiB = 1024 * 1024;
const KiB = 1024;

interface Timing {
  durationS: number;
  warmupS: number;
  configs?: string[];
}

const size = (bytes: number): string => (bytes >= KiB ? `${bytes / KiB} KiB` : `${bytes} B`);

/** The path on the server for a response of `bytes` (tests/apps/http-server.ts for HTTP/1.1,
 * tests/apps/l7-server.ts's h2c port for HTTP/2) or the gRPC method. */
export function requestPath(w: HttpWorkload): string {
  switch (w.protocol) {
    case 'h1': return `/bytes/${w.bytes}`;
    case 'h2': return `/chunked/${w.bytes}`;
    case 'grpc': return '/weft.test.Echo/Unary';
  }
}

export function fixedRate(rate: number, t: Timing, bytes = KiB): HttpWorkload {
  return {
    kind: 'http', id: bytes === KiB ? `http-${rate}rps` : `http-${rate}rps-${bytes / KiB}k`,
    title: `HTTP/1.1 keep-alive, ${size(bytes)} responses, ${rate} req/s constant rate`,
    protocol: 'h1', rate, ...t, connections: 16, newConnection: false, bytes,
  };
}

export function maxThroughput(t: Timing): HttpWorkload {
  return {
    kind: 'http', id: 'http-max', title: 'HTTP/1.1 keep-alive, 1 KiB responses, maximum throughput (closed loop, 16 connections)',
    protocol: 'h1', rate: 0, ...t, connections: 16, newConnection: false, bytes: KiB,
  };
}

export function newConnection(rate: number, t: Timing): HttpWorkload {
  return {
    kind: 'http', id: `http-newconn-${rate}`, title: `HTTP/1.1, a new connection per request, 1 KiB responses, ${rate} req/s`,
    protocol: 'h1', rate, ...t, connections: 64, newConnection: true, bytes: KiB,
  };
}

/** HTTP/2 (h2c) and gRPC unary: 4 connections, requests multiplexed as streams. */
export function multiplexed(protocol: 'h2' | 'grpc', rate: number, t: Timing): HttpWorkload {
  const what = protocol === 'h2' ? 'HTTP/2 (h2c), 1 KiB responses' : 'gRPC unary (grpc-js server), 1 KiB message each way';
  return {
    kind: 'http', id: `${protocol}-${rate === 0 ? 'max' : `${rate}rps`}`,
    title: `${what}, ${rate === 0 ? 'maximum throughput (closed loop, 4 connections, 16 in flight)' : `${rate} req/s constant rate, 4 connections`}`,
    protocol, rate, ...t, connections: 4, concurrency: rate === 0 ? 16 : undefined, newConnection: false, bytes: KiB,
  };
}

export function bulk(bytes: number, configs?: string[]): BulkWorkload {
  return { kind: 'bulk', id: 'tcp-bulk', title: `One TCP stream, ${bytes / MiB} MiB server → client`, bytes, configs, except: HTTP_ONLY };
}

/** The same stream the other way (an upload: through each agent's other read path). */
export function bulkUp(bytes: number, configs?: string[]): BulkWorkload {
  return { kind: 'bulk', id: 'tcp-bulk-up', title: `One TCP stream, ${bytes / MiB} MiB client → server`, bytes, direction: 'up', configs, except: HTTP_ONLY };
}

export function idle(connections: number, settleS: number): IdleWorkload {
  return {
    kind: 'idle', id: `idle-${connections}`, title: `${connections.toLocaleString('en-US')} concurrent idle HTTP/1.1 connections (memory)`,
    connections, parallel: 200, settleS, rounds: 1,
    // No proxy in the no-mesh row: nothing to weigh.
    configs: ['weft-l7', 'weft-opaque', 'weft-l7-ebpf', 'weft-opaque-ebpf', 'haproxy', 'haproxy-l7'],
  };
}

export function profile(name: string): Profile {
  switch (name) {
    case 'smoke': {
      const t = { durationS: 1.5, warmupS: 0.5 };
      return {
        name, rounds: 1, profileS: 0, runCaSigning: false, runControlScale: false,
        workloads: [
          idle(200, 0.5), fixedRate(200, t), maxThroughput(t), fixedRate(100, t, 64 * KiB), newConnection(50, t),
          multiplexed('h2', 100, t), multiplexed('grpc', 100, t), bulk(8 * MiB),
        ],
      };
    }
    case 'short': {
      // eBPF rows where the issue asks for them (fixed rate, throughput, bulk, memory); the other
      // workloads compare the default (iptables) mode with the baseline and the peer.
      const t = { durationS: 5, warmupS: 1 };
      const ip = { ...t, configs: IPTABLES_CONFIGS };
      return {
        name, rounds: 2, profileS: 10, runCaSigning: true, runControlScale: false,
        workloads: [
          idle(10_000, 2), fixedRate(1000, t), fixedRate(2000, ip), maxThroughput(t), fixedRate(500, ip, 64 * KiB), newConnection(200, ip),
          // HTTP/2 and gRPC at 1000 req/s and closed loop: the issue-19 targets' rows.
          multiplexed('h2', 1000, ip), multiplexed('h2', 0, ip), multiplexed('grpc', 1000, ip), multiplexed('grpc', 0, ip), bulk(256 * MiB),
        ],
      };
    }
    case 'full': {
      // Every rate the issue names, ~40 minutes on 2 cores: the eBPF and telemetry rows where the
      // short profile has them (1000 req/s, throughput, bulk, memory); the other workloads compare
      // iptables mode with the baseline and the peer.
      const t = { durationS: 8, warmupS: 2 };
      const ip = { ...t, configs: IPTABLES_CONFIGS };
      return {
        name, rounds: 2, profileS: 30, runCaSigning: true, runControlScale: true,
        workloads: [
          idle(10_000, 5),
          fixedRate(500, ip), fixedRate(1000, t), fixedRate(2000, ip), fixedRate(5000, ip), maxThroughput(t),
          fixedRate(500, ip, 64 * KiB), fixedRate(1000, ip, 64 * KiB),
          newConnection(200, ip), newConnection(500, ip),
          multiplexed('h2', 1000, ip), multiplexed('h2', 2000, ip), multiplexed('h2', 0, ip),
          multiplexed('grpc', 500, ip), multiplexed('grpc', 1000, ip), multiplexed('grpc', 0, ip),
          bulk(1024 * MiB),
        ],
      };
    }
    default:
      throw new RangeError(`unknown profile ${JSON.stringify(name)}: smoke, short or full`);
  }
}

/** Whether a workload runs against a configuration. */
export function appliesTo(w: Workload, config: string): boolean {
  if (w.kind === 'bulk' && w.except?.includes(config)) return false;
  return w.configs === undefined || w.configs.includes(config);
}
