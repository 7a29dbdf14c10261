// Constant-rate (open-loop) and max-throughput (closed-loop) HTTP/1.1 load generation.
//
// Open loop: request i is due at t0 + i/rate whatever happened to earlier ones, and its latency is
// measured from that scheduled time, not from when it was actually written. A stalled server or a
// full pool therefore shows up as latency instead of silently lowering the offered rate
// ("coordinated omission"). The generator's own lateness counts too, which keeps it honest.
// Closed loop (rate 0): each of C connections sends its next request when the previous one ends;
// that finds the maximum throughput, and its latencies are service times only.
//
// Transport: 'raw' (node:net, see raw-transport.ts) is the default because it costs the generator
// less CPU than node:http's Agent; run both with --rate 0 against tests/apps/http-server.ts to see
// the gap on a given machine (bench/README records the numbers). 'h2' and 'grpc' (h2-transport.ts)
// speak HTTP/2 prior knowledge: `connections` HTTP/2 connections carrying concurrent streams.
import { errorCode } from '../../common/errors.ts';
import { Histogram, type HistogramJson } from './histogram.ts';
import { h2Transport } from './h2-transport.ts';
import { httpTransport } from './http-transport.ts';
import { rawTransport } from './raw-transport.ts';
import type { RequestSpec, Transport } from './transport.ts';

export const TRANSPORTS = ['raw', 'http', 'h2', 'grpc'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

export interface LoadOptions {
  url: string;
  /** Requests per second; 0 means closed loop (as fast as the connections allow). */
  rate: number;
  durationS: number;
  connections: number;
  /** Sent at the same rate before the measured window, and not recorded. */
  warmupS: number;
  timeoutMs: number;
  transport: TransportName;
  method?: string;
  body?: Buffer;
  /** One fresh connection per request (`Connection: close`): measures connection set-up cost. */
  newConnection?: boolean;
  /** Closed loop: requests in flight at once (default `connections`); HTTP/2 multiplexes them. */
  concurrency?: number;
}

export interface LoadResult {
  transport: TransportName;
  connections: number;
  /** Offered rate (req/s); 0 for closed loop. */
  rate: number;
  /** Successful responses per second over the measured window. */
  achievedRps: number;
  /** Successful responses (status < 400) in the measured window. */
  count: number;
  /** Failed requests: transport errors and statuses >= 400. */
  errors: number;
  errorCodes: Record<string, number>;
  /** Every request sent, warmup included: what divides a server's CPU time measured around the run. */
  totalSent: number;
  newConnection: boolean;
  /** Latency in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** Measured window: first measured send (scheduled) to the last measured completion. */
  durationS: number;
  /** The generator's own CPU time (user+system) per request, in µs: what compares transports fairly
   * when the server, not the generator, limits throughput. */
  cpuPerRequestUs: number;
  histogram?: HistogramJson;
}

const ms = (us: number): number => Math.round(us) / 1000;

export function makeTransport(name: TransportName, spec: RequestSpec): Transport {
  switch (name) {
    case 'raw': return rawTransport(spec);
    case 'http': return httpTransport(spec);
    default: return h2Transport(spec, name);
  }
}

class Recorder {
  readonly histogram = new Histogram();
  errors = 0;
  readonly errorCodes: Record<string, number> = {};
  /** Requests sent, warmup included. */
  sent = 0;
  firstStart = Infinity;
  lastEnd = 0;

  ok(startedAt: number, endedAt: number): void {
    this.histogram.record((endedAt - startedAt) * 1000);
    this.#span(startedAt, endedAt);
  }

  fail(code: string, startedAt: number, endedAt: number): void {
    this.errors++;
    this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
    this.#span(startedAt, endedAt);
  }

  #span(start: number, end: number): void {
    if (start < this.firstStart) this.firstStart = start;
    if (end > this.lastEnd) this.lastEnd = end;
  }
}

/** Sends one request and records it (when `record`) against `startedAt`. Never rejects. */
async function timed(t: Transport, all: Recorder, rec: Recorder | undefined, startedAt: number): Promise<void> {
  all.sent++;
  try {
    const status = await t.send();
    const end = performance.now();
    if (status >= 400) rec?.fail(`HTTP_${status}`, startedAt, end);
    else rec?.ok(startedAt, end);
  } catch (err) {
    rec?.fail(errorCode(err), startedAt, performance.now());
  }
}

async function openLoop(t: Transport, o: LoadOptions, rec: Recorder): Promise<void> {
  const intervalMs = 1000 / o.rate;
  const warmN = Math.round(o.warmupS * o.rate);
  const total = warmN + Math.max(1, Math.round(o.durationS * o.rate));
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      const now = performance.now();
      // Everything already due goes out now, each stamped with its own scheduled time.
      while (i < total && t0 + i * intervalMs <= now) {
        const p = timed(t, rec, i >= warmN ? rec : undefined, t0 + i * intervalMs);
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
        i++;
      }
      if (i >= total) resolve();
      else setTimeout(pump, Math.max(0, t0 + i * intervalMs - performance.now()));
    };
    pump();
  });
  await Promise.all(inFlight);
}

async function closedLoop(t: Transport, o: LoadOptions, rec: Recorder): Promise<void> {
  const t0 = performance.now();
  const measureFrom = t0 + o.warmupS * 1000;
  const deadline = measureFrom + o.durationS * 1000;
  const worker = async (): Promise<void> => {
    for (let start = performance.now(); start < deadline; start = performance.now()) {
      await timed(t, rec, start >= measureFrom ? rec : undefined, start);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? o.connections }, worker));
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = new URL(o.url);
  if (url.protocol !== 'http:') throw new RangeError(`only http:// URLs are supported, got ${o.url}`);
  const t = makeTransport(o.transport, {
    url, method: o.method ?? (o.body === undefined ? 'GET' : 'POST'), body: o.body, connections: o.connections, timeoutMs: o.timeoutMs,
    newConnection: o.newConnection,
  });
  const rec = new Recorder();
  const cpu0 = process.cpuUsage();
  try {
    if (o.rate > 0) await openLoop(t, o, rec);
    else await closedLoop(t, o, rec);
  } finally {
    t.close();
  }
  const cpu = process.cpuUsage(cpu0);
  const h = rec.histogram;
  const requests = h.count + rec.errors;
  const durationS = rec.lastEnd > rec.firstStart ? (rec.lastEnd - rec.firstStart) / 1000 : 0;
  return {
    transport: o.transport,
    connections: o.connections,
    rate: o.rate,
    achievedRps: durationS > 0 ? Math.round((h.count / durationS) * 10) / 10 : 0,
    count: h.count,
    errors: rec.errors,
    errorCodes: rec.errorCodes,
    totalSent: rec.sent,
    newConnection: o.newConnection === true,
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    p999: ms(h.percentile(99.9)),
    max: ms(h.max),
    mean: ms(h.mean),
    durationS: Math.round(durationS * 1000) / 1000,
    cpuPerRequestUs: requests > 0 ? Math.round(((cpu.user + cpu.system) / requests) * 10) / 10 : 0,
    histogram: h.toJSON(),
  };
}
