// The agent main thread's telemetry: merges worker aggregates on demand and serves them as
// Prometheus text (/metrics), golden metrics (/stats?by=), topology (/edges), most-hit
// destinations (/top) and the live tap (/tap, WebSocket); pushes OTLP when configured.
import type http from 'node:http';
import { ErrorCodes } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import type { AdminServer } from '../admin/server.ts';
import { mergeSnapshots, type TelemetrySnapshot } from './aggregates.ts';
import { edges, goldenStats, STATS_BY, top, type StatsBy, type Window } from './golden.ts';
import { otelExportEnabled } from '../../common/otel/export-enabled.ts';
import type { LogRecords } from '../../common/otel/log-records.ts';
import type { DropReason } from '../../common/otel/sdk-env.ts';
import type { OtlpMetrics } from './otlp-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.ts';
import { newTapFlag } from './tap-buffer.ts';
import type { TapEvent } from './tap-events.ts';
import type { OtelEnv } from '../../common/otel/export-enabled.ts';
import { TapHub } from './tap-hub.ts';

export interface AgentTelemetryOptions {
  /** Asks every worker for its aggregates (worker-protocol 'telemetry-request'). */
  collectWorkers(): Promise<TelemetrySnapshot[]>;
  admin: AdminServer;
  log: Logger;
  env: OtelEnv;
  resource: Record<string, string>;
  tapMaxBufferedBytes: number;
  /** Golden metrics window. */
  windowSeconds: number;
  sampleSeconds: number;
  /** The main thread's own series (certificates, control, log sinks), read at each collect. */
  mainSeries?: () => { counters: TelemetrySnapshot['counters']; gauges: NonNullable<TelemetrySnapshot['gauges']> };
}

export interface AgentTelemetry {
  /** Shared with the workers: how many tap consumers are connected. */
  readonly tapFlag: Int32Array;
  publishTap(events: readonly TapEvent[]): void;
  /** Taps control holds over the config stream: counted so the workers keep producing events. */
  setStreamTaps(n: number): void;
  collect(): Promise<TelemetrySnapshot>;
  close(): Promise<void>;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export async function startAgentTelemetry(o: AgentTelemetryOptions): Promise<AgentTelemetry> {
  const startedAt = Date.now();
  const tapFlag = newTapFlag();
  const hub = new TapHub({ flag: tapFlag, log: o.log.child('tap'), maxBufferedBytes: o.tapMaxBufferedBytes });
  // What the main thread's own OpenTelemetry export lost (metric points, its log records).
  const drops = new Map<string, { signal: string; reason: DropReason; n: number }>();
  const onDrop = (signal: string, reason: DropReason, n: number): void => {
    const k = `${signal}\u0001${reason}`;
    const d = drops.get(k) ?? { signal: signal.toLowerCase(), reason, n: 0 };
    d.n += n;
    drops.set(k, d);
  };

  async function collect(): Promise<TelemetrySnapshot> {
    const workers = await o.collectWorkers();
    // The main thread's own counters: tap events lost to slow consumers.
    // Certificates, control and log sinks (mainSeries) live here too.
    const main = o.mainSeries?.() ?? { counters: [], gauges: [] };
    const own: TelemetrySnapshot = { tcp: [], http: [], counters: [{ name: 'tap_dropped_events', labels: { stage: 'consumer' }, value: hub.dropped }, ...main.counters], gauges: main.gauges };
    // The admin server's refusals (it runs here, not in a worker) join the workers' rejected_input.
    for (const [reason, value] of o.admin.rejections()) own.counters.push({ name: 'rejected_input', labels: { reason }, value });
    for (const d of drops.values()) own.counters.push({ name: 'otel_dropped', labels: { signal: d.signal, reason: d.reason }, value: d.n });
    return mergeSnapshots([...workers, own]);
  }

  // Samples for windowed rates: one every sampleSeconds, kept for the window.
  const samples: Array<{ at: number; snap: TelemetrySnapshot }> = [];
  const sampler = setInterval(() => {
    collect().then((snap) => {
      const at = Date.now();
      samples.push({ at, snap });
      while (samples.length > 0 && samples[0].at < at - o.windowSeconds * 1000) samples.shift();
    }, (err: unknown) => o.log.warn('telemetry sample failed', { err }));
  }, o.sampleSeconds * 1000);
  sampler.unref();

  async function window(): Promise<Window> {
    const now = await collect();
    const t = Date.now();
    const since = t - o.windowSeconds * 1000;
    // An agent younger than the window: the window begins at its start (all counters zero), not
    // at its first sample, or whatever happened before that sample would vanish from the view.
    const base = startedAt >= since ? undefined : samples.find((s) => s.at >= since);
    return base === undefined ? { now, base: undefined, seconds: (t - startedAt) / 1000 } : { now, base: base.snap, seconds: (t - base.at) / 1000 };
  }

  const fail = (res: http.ServerResponse) => (err: unknown): void => {
    o.log.error('telemetry endpoint failed', { err });
    json(res, 500, { code: ErrorCodes.ADMIN_INTERNAL, message: (err as Error).message });
  };

  o.admin.route('/metrics', (_req, res) => {
    collect().then((snap) => {
      const text = renderPrometheus(snap);
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    }, fail(res));
  });
  o.admin.route('/stats', (_req, res, url) => {
    const by = (url.searchParams.get('by') ?? 'workload') as StatsBy;
    if (!STATS_BY.includes(by)) {
      json(res, 400, { code: ErrorCodes.ADMIN_QUERY, message: `by must be one of ${STATS_BY.join(', ')}` });
      return;
    }
    window().then((w) => json(res, 200, { by, windowSeconds: w.seconds, rows: goldenStats(by, w) }), fail(res));
  });
  o.admin.route('/edges', (_req, res) => {
    collect().then((snap) => json(res, 200, { edges: edges(snap) }), fail(res));
  });
  o.admin.route('/top', (_req, res) => {
    window().then((w) => json(res, 200, { windowSeconds: w.seconds, destinations: top(w) }), fail(res));
  });
  o.admin.upgrade('/tap', hub.upgrade);

  let otlp: OtlpMetrics | null = null;
  let logs: LogRecords | null = null;
  try {
    // The SDK and exporters load only when export is configured: most agents never parse them.
    if (otelExportEnabled(o.env, 'METRICS')) {
      const { startOtlpMetrics } = await import('./otlp-metrics.ts');
      otlp = await startOtlpMetrics({ env: o.env, collect, log: o.log.child('otlp'), resource: o.resource, startedAt, onDrop });
    }
  } catch (err) {
    o.log.error('OpenTelemetry metrics export could not start; metrics stay on /metrics', { err });
  }
  try {
    if (otelExportEnabled(o.env, 'LOGS')) {
      const { startProcessLogs } = await import('../../common/otel/process-logs.ts');
      logs = await startProcessLogs({ scope: 'weft-agent', resource: o.resource, log: o.log.child('otlp'), onDrop });
    }
  } catch (err) {
    o.log.error('OpenTelemetry logs export could not start; logs stay on stderr', { err });
  }
  o.admin.register({ key: 'telemetry', handle: () => ({ otlpMetrics: otlp !== null, otlpLogs: logs !== null, tap: hub.describe(), windowSeconds: o.windowSeconds }) });

  return {
    tapFlag,
    publishTap: (events) => hub.publish(events),
    setStreamTaps: (n) => hub.setExternalConsumers(n),
    collect,
    async close() {
      clearInterval(sampler);
      hub.close();
      // One last push so the final counts reach the collector.
      await otlp?.shutdown().catch((err: unknown) => o.log.warn('OTLP shutdown failed', { err }));
      await logs?.shutdown().catch((err: unknown) => o.log.warn('OTLP logs shutdown failed', { err }));
    },
  };
}
