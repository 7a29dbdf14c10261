// OTLP metrics push. The proxy's numbers live in worker aggregates, so instead of feeding SDK
// instruments event by event (which would need the SDK in every worker, or a message per event)
// the main thread plugs a MetricProducer into the SDK's PeriodicExportingMetricReader: at each
// export interval it merges the workers' aggregates and hands them over as cumulative Sum and
// Histogram points. The SDK supplies the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES),
// the exporter (OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT, headers, timeout) and retries.
import { ValueType } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { otlpProtocol } from './otlp-protocol.ts';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { buildResource } from './otel-resource.ts';
import { otlpMetricsEnabled } from './otlp-enabled.ts';
import {
  AggregationTemporality, DataPointType, MeterProvider, PeriodicExportingMetricReader,
  type CollectionResult, type MetricData, type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../../common/log.ts';
import type { TelemetrySnapshot } from './aggregates.ts';
import { METRICS, type Attrs } from './catalog.ts';
import { DURATION_BOUNDARIES } from './histogram.ts';

import type { OtelEnv } from './trace-context.ts';

/** Prometheus label → OTel attribute, where semconv has a name for it. */
const SEMCONV: Record<string, string> = {
  http_request_method: 'http.request.method',
  http_response_status_code: 'http.response.status_code',
  http_route: 'http.route',
  server_address: 'server.address',
  rpc_grpc_status_code: 'rpc.grpc.status_code',
};

function otelAttrs(a: Attrs): Attrs {
  const out: Attrs = {};
  for (const [k, v] of Object.entries(a)) if (v !== '') out[SEMCONV[k] ?? k] = v;
  return out;
}

function hr(ms: number): [number, number] {
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

/** The merged snapshot as OTLP metric data (cumulative since the agent started). */
export function toMetricData(s: TelemetrySnapshot, startMs: number, nowMs: number): MetricData[] {
  const startTime = hr(startMs);
  const endTime = hr(nowMs);
  const out: MetricData[] = [];
  for (const m of METRICS) {
    const descriptor = { name: m.otel, description: m.help, unit: m.unit, valueType: m.kind === 'counter' ? ValueType.INT : ValueType.DOUBLE };
    if (m.kind === 'gauge') {
      const points = m.points(s);
      if (points.length === 0) continue;
      out.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints: points.map((p) => ({ startTime, endTime, attributes: otelAttrs(p.attrs), value: p.value })) });
    } else if (m.kind === 'counter') {
      const points = m.points(s);
      if (points.length === 0) continue;
      out.push({
        descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true,
        dataPoints: points.map((p) => ({ startTime, endTime, attributes: otelAttrs(p.attrs), value: p.value })),
      });
    } else if (m.kind === 'histogram') {
      const points = m.points(s);
      if (points.length === 0) continue;
      out.push({
        descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM,
        dataPoints: points.map((p) => ({
          startTime, endTime, attributes: otelAttrs(p.attrs),
          value: {
            buckets: { boundaries: [...DURATION_BOUNDARIES], counts: [...p.value.counts] },
            sum: p.value.sum, count: p.value.count,
            ...(p.value.count > 0 ? { min: p.value.min, max: p.value.max } : {}),
          },
        })),
      });
    }
  }
  return out;
}

export interface OtlpMetricsOptions {
  env: OtelEnv;
  collect(): Promise<TelemetrySnapshot>;
  log: Logger;
  /** Defaults for the resource; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES override them. */
  resource: Record<string, string>;
  startedAt: number;
}

export interface OtlpMetrics {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

function positiveMs(env: OtelEnv, key: string, dflt: number, log: Logger): number {
  const raw = env(key);
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    log.warn(`${key} must be a positive integer of milliseconds; using the default`, { value: raw, default: dflt });
    return dflt;
  }
  return n;
}

export async function startOtlpMetrics(o: OtlpMetricsOptions): Promise<OtlpMetrics | null> {
  if (!otlpMetricsEnabled(o.env)) return null;
  const protocol = otlpProtocol(o.env, 'METRICS', o.log);
  const interval = positiveMs(o.env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, o.log);
  const timeout = Math.min(interval, positiveMs(o.env, 'OTEL_METRIC_EXPORT_TIMEOUT', 30_000, o.log));
  const producer: MetricProducer = {
    async collect(): Promise<CollectionResult> {
      const snap = await o.collect();
      return {
        // The reader keeps the SDK's own resource; this one is only here to satisfy the type.
        resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: { name: 'weft-agent' }, metrics: toMetricData(snap, o.startedAt, Date.now()) }] },
        errors: [],
      };
    },
  };
  const reader = new PeriodicExportingMetricReader({
    exporter: protocol === 'http/protobuf' ? new OTLPMetricProtoExporter() : new OTLPMetricExporter(),
    exportIntervalMillis: interval,
    exportTimeoutMillis: timeout,
    metricProducers: [producer],
  });
  const provider = new MeterProvider({ resource: await buildResource(o.env, o.resource), readers: [reader] });
  o.log.info('OTLP metrics export on', { intervalMs: interval, protocol });
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
