// OTLP metrics push. The proxy's numbers live in worker aggregates, so instead of feeding SDK
// instruments event by event (which would need the SDK in every worker, or a message per event)
// the main thread plugs a MetricProducer into the SDK's PeriodicExportingMetricReader: at each
// export interval it merges the workers' aggregates and hands them over as cumulative Sum and
// Histogram points. This is the seam the SDK's env wiring cannot fill (NodeSDK builds its readers
// without producers); the SDK still supplies the resource (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES), the exporters (OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_[METRICS_]
// PROTOCOL / ENDPOINT / HEADERS / TIMEOUT / COMPRESSION), the interval and timeout, and retries:
// common/otel/sdk-env.ts.
import { ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality, DataPointType, MeterProvider,
  type CollectionResult, type MetricData, type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../../common/log.ts';
import { otelExportEnabled } from '../../common/otel/export-enabled.ts';
import { metricReaderSettings, metricReadersFromEnv, resourceFromEnv, routeDiagToLog, type OnDrop } from '../../common/otel/sdk-env.ts';
import type { TelemetrySnapshot } from './aggregates.ts';
import { METRICS, type Attrs } from './catalog.ts';
import { DURATION_BOUNDARIES } from './histogram.ts';

import type { OtelEnv } from '../../common/otel/export-enabled.ts';

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
  /** Data points an export could not deliver. */
  onDrop?: OnDrop;
  /** Instrumentation scope name. */
  scope?: string;
  /** The metric data of a snapshot; the agent's catalog by default (control has its own). */
  toMetrics?: (snap: TelemetrySnapshot, startMs: number, nowMs: number) => MetricData[];
}

export interface OtlpMetrics {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export async function startOtlpMetrics(o: OtlpMetricsOptions): Promise<OtlpMetrics | null> {
  if (!otelExportEnabled(o.env, 'METRICS')) return null;
  routeDiagToLog(o.log);
  const toMetrics = o.toMetrics ?? toMetricData;
  const producer: MetricProducer = {
    async collect(): Promise<CollectionResult> {
      const snap = await o.collect();
      return {
        // The reader keeps the SDK's own resource; this one is only here to satisfy the type.
        resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: { name: o.scope ?? 'weft-agent' }, metrics: toMetrics(snap, o.startedAt, Date.now()) }] },
        errors: [],
      };
    },
  };
  const readers = metricReadersFromEnv([producer], o.onDrop ?? (() => {}));
  const provider = new MeterProvider({ resource: await resourceFromEnv(o.resource), readers });
  o.log.info('OpenTelemetry metrics export on', { intervalMs: metricReaderSettings().intervalMs, exporters: o.env('OTEL_METRICS_EXPORTER') ?? 'otlp', protocol: o.env('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL') ?? o.env('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf' });
  return {
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}
