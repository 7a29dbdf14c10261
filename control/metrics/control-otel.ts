// Control's OpenTelemetry export, loaded only when a signal is configured (common/otel/
// export-enabled.ts): its own metrics (control-telemetry.ts's families, through a MetricProducer
// like the agent's), spans for CSR signings and snapshot builds, and its log lines as log
// records. Exporters, protocols, endpoints and the rest come from the SDK's env pieces
// (common/otel/sdk-env.ts), as for the agent.
import { SpanKind, SpanStatusCode, ValueType, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, MeterProvider, type CollectionResult, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import type { Logger } from '../../common/log.ts';
import { otelExportEnabled, type OtelEnv } from '../../common/otel/export-enabled.ts';
import type { LogRecords } from '../../common/otel/log-records.ts';
import { startProcessLogs } from '../../common/otel/process-logs.ts';
import { metricReadersFromEnv, resourceFromEnv, routeDiagToLog, tracerProviderFromEnv, type OnDrop } from '../../common/otel/sdk-env.ts';
import { DURATION_BOUNDARIES } from '../../agent/telemetry/histogram.ts';
import type { ControlFamily, ControlSpans, ControlTelemetry } from './control-telemetry.ts';

function hr(ms: number): [number, number] {
  return [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];
}

/** The families as OTLP metric data (cumulative since control started). */
export function controlMetricData(families: readonly ControlFamily[], startMs: number, nowMs: number): MetricData[] {
  const startTime = hr(startMs);
  const endTime = hr(nowMs);
  const out: MetricData[] = [];
  for (const f of families) {
    if (f.points.length === 0) continue;
    const descriptor = { name: f.otel, description: f.help, unit: f.unit, valueType: f.kind === 'counter' ? ValueType.INT : ValueType.DOUBLE };
    if (f.kind === 'histogram') {
      out.push({
        descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.HISTOGRAM,
        dataPoints: f.points.map((p) => ({
          startTime, endTime, attributes: { ...p.labels },
          value: { buckets: { boundaries: [...DURATION_BOUNDARIES], counts: [...p.value.counts] }, sum: p.value.sum, count: p.value.count, ...(p.value.count > 0 ? { min: p.value.min, max: p.value.max } : {}) },
        })),
      });
    } else if (f.kind === 'counter') {
      out.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints: f.points.map((p) => ({ startTime, endTime, attributes: { ...p.labels }, value: p.value })) });
    } else {
      out.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints: f.points.map((p) => ({ startTime, endTime, attributes: { ...p.labels }, value: p.value })) });
    }
  }
  return out;
}

class Spans implements ControlSpans {
  readonly #tracer: Tracer;
  constructor(tracer: Tracer) {
    this.#tracer = tracer;
  }
  csr(status: number, node: string | null, startMs: number, endMs: number): void {
    const s = this.#tracer.startSpan('csr.sign', { kind: SpanKind.SERVER, startTime: startMs, attributes: { 'http.response.status_code': status, ...(node === null ? {} : { 'k8s.node.name': node }) } });
    if (status !== 200) s.setStatus({ code: SpanStatusCode.ERROR, message: String(status) });
    s.end(endMs);
  }
  snapshotBuilt(version: number, records: number, frames: number, startMs: number, endMs: number): void {
    this.#tracer.startSpan('snapshot.build', { kind: SpanKind.INTERNAL, startTime: startMs, attributes: { 'weft.model.version': version, 'weft.model.records': records, 'weft.snapshot.frames': frames } }).end(endMs);
  }
}

export interface ControlOtelOptions {
  env: OtelEnv;
  telemetry: ControlTelemetry;
  /** Service name and version; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES override them. */
  resource: Record<string, string>;
  log: Logger;
  onDrop: OnDrop;
}

export interface ControlOtel {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export async function startControlOtel(o: ControlOtelOptions): Promise<ControlOtel> {
  routeDiagToLog(o.log);
  const resource: Resource = await resourceFromEnv(o.resource);
  const startedAt = Date.now();
  let tracerProvider: TracerProvider | null = null;
  let meterProvider: MeterProvider | null = null;
  let logs: LogRecords | null = null;
  if (otelExportEnabled(o.env, 'TRACES')) {
    tracerProvider = tracerProviderFromEnv(resource, o.onDrop);
    o.telemetry.setSpans(new Spans(tracerProvider.getTracer('weft-control')));
  }
  if (otelExportEnabled(o.env, 'METRICS')) {
    const producer: MetricProducer = {
      async collect(): Promise<CollectionResult> {
        return { resourceMetrics: { resource: resourceFromAttributes({}), scopeMetrics: [{ scope: { name: 'weft-control' }, metrics: controlMetricData(o.telemetry.families(), startedAt, Date.now()) }] }, errors: [] };
      },
    };
    meterProvider = new MeterProvider({ resource, readers: metricReadersFromEnv([producer], o.onDrop) });
  }
  if (otelExportEnabled(o.env, 'LOGS')) logs = await startProcessLogs({ scope: 'weft-control', resource: o.resource, log: o.log, onDrop: o.onDrop });
  o.log.info('OpenTelemetry export on', { traces: tracerProvider !== null, metrics: meterProvider !== null, logs: logs !== null });
  return {
    async forceFlush() {
      await Promise.all([tracerProvider?.forceFlush(), meterProvider?.forceFlush(), logs?.forceFlush()]);
    },
    async shutdown() {
      o.telemetry.setSpans(null);
      await Promise.all([tracerProvider?.shutdown(), meterProvider?.shutdown(), logs?.shutdown()]);
    },
  };
}
