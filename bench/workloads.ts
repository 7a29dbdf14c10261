// What the bench runs, per profile. Workloads are data: the runner knows two kinds (HTTP load
// through bench/lib/load.ts, and one bulk TCP stream through tests/apps/tcp-client.ts).

export interface HttpWorkload {
  kind: 'http';
  id: string;
  title: string;
  /** Requests per second; 0 = closed loop (maximum throughput). */
  rate: number;
  durationS: number;
  warmupS: number;
  connections: number;
  newConnection: boolean;
  /** Path on tests/apps/http-server.ts. */
  path: string;
}

export interface BulkWorkload {
  kind: 'bulk';
  id: string;
  title: string;
  bytes: number;
}

export type Workload = HttpWorkload | BulkWorkload;

export interface Profile {
  name: 'smoke' | 'short' | 'full';
  /** Each workload runs this many times per configuration, interleaved across configurations. */
  rounds: number;
  workloads: Workload[];
  /** Seconds of closed-loop load while the agents are CPU-profiled; 0 skips profiling. */
  profileS: number;
}

const MiB = 1024 * 1024;
/** A 1 KiB response body: small requests, as most service-to-service calls are. */
const SMALL = '/bytes/1024';

function fixedRate(rate: number, durationS: number, warmupS: number): HttpWorkload {
  return {
    kind: 'http', id: `http-${rate}rps`, title: `HTTP/1.1 keep-alive, 1 KiB responses, ${rate} req/s constant rate`,
    rate, durationS, warmupS, connections: 16, newConnection: false, path: SMALL,
  };
}

function maxThroughput(durationS: number, warmupS: number): HttpWorkload {
  return {
    kind: 'http', id: 'http-max', title: 'HTTP/1.1 keep-alive, 1 KiB responses, maximum throughput (closed loop, 16 connections)',
    rate: 0, durationS, warmupS, connections: 16, newConnection: false, path: SMALL,
  };
}

function newConnection(rate: number, durationS: number, warmupS: number): HttpWorkload {
  return {
    kind: 'http', id: `http-newconn-${rate}`, title: `HTTP/1.1, a new connection per request, 1 KiB responses, ${rate} req/s`,
    rate, durationS, warmupS, connections: 64, newConnection: true, path: SMALL,
  };
}

function bulk(bytes: number): BulkWorkload {
  return { kind: 'bulk', id: 'tcp-bulk', title: `One TCP stream, ${bytes / MiB} MiB server → client`, bytes };
}

export function profile(name: string): Profile {
  switch (name) {
    case 'smoke':
      return { name, rounds: 1, profileS: 0, workloads: [fixedRate(200, 2, 0.5), maxThroughput(2, 0.5), newConnection(50, 2, 0.5), bulk(8 * MiB)] };
    case 'short':
      return {
        name, rounds: 3, profileS: 10,
        workloads: [fixedRate(500, 10, 2), fixedRate(1000, 10, 2), maxThroughput(10, 2), newConnection(200, 10, 2), bulk(512 * MiB)],
      };
    case 'full':
      return {
        name, rounds: 5, profileS: 30,
        workloads: [
          fixedRate(500, 30, 5), fixedRate(1000, 30, 5), fixedRate(2000, 30, 5), maxThroughput(30, 5),
          newConnection(200, 30, 5), newConnection(500, 30, 5), bulk(2048 * MiB),
        ],
      };
    default:
      throw new RangeError(`unknown profile ${JSON.stringify(name)}: smoke, short or full`);
  }
}
