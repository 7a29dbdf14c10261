// The one door to the OpenTelemetry SDK's own environment configuration: the pieces
// @opentelemetry/sdk-node's NodeSDK is built from (its utils and create-from-env modules), used
// the way NodeSDK.start() uses them. They read every standard variable — OTEL_<SIGNAL>_EXPORTER
// (otlp, console, none), OTEL_EXPORTER_OTLP_[<SIGNAL>_]PROTOCOL (grpc, http/protobuf, http/json),
// _ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION, OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_BLRP_*,
// OTEL_METRIC_EXPORT_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES — from process.env.
//
// NodeSDK.start() itself is not used: it registers one global tracer, meter and logger provider
// per isolate, while Weft needs a tracer provider per proxy worker that a test can build twice,
// and a metric reader fed by a MetricProducer (the workers' merged aggregates), which NodeSDK's
// env-built readers cannot take. So the SDK picks exporters, protocols and processors; Weft owns
// the providers. sdk-node has no public export for these functions, hence the deep imports
// (the package is pinned to one version in package.json; a change of its layout fails the build).
//
// Loaded only when a signal is exported (export-enabled.ts decides), in the lazily loaded chunk.
import { DiagLogLevel, createNoopMeter, diag, type Counter, type Meter, type MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { ExportResultCode, getNumberFromEnv, getStringListFromEnv, getStringFromEnv } from '@opentelemetry/core';
import { OTLPLogExporter as OTLPLogGrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter as OTLPLogJsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { ConsoleLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, ConsoleMetricExporter, PeriodicExportingMetricReader, type MetricProducer, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { createSamplerFromEnv, createSpanLimitsFromEnv } from '@opentelemetry/sdk-node/build/src/create-from-env.js';
import {
  getBatchLogRecordProcessorFromEnv, getLoggerProviderConfigFromEnv, getOtlpMetricExporterFromEnv, getResourceDetectorsFromEnv, getSpanProcessorsFromEnv,
} from '@opentelemetry/sdk-node/build/src/utils.js';
import type { Logger } from '../log.ts';
import type { OtelSignal } from './export-enabled.ts';

/** Telemetry the exporters could not deliver: `queue_full` (a processor's queue) or `export_failed`. */
export type DropReason = 'queue_full' | 'export_failed';
export type OnDrop = (signal: OtelSignal, reason: DropReason, count: number) => void;

/**
 * The SDK reports export failures and dropped batches only to its diag channel: send it to our
 * log. Marked `otelDiag` so the log export leaves these lines out: a failed export must not
 * produce a record for the next export (with the collector down, that would never end).
 */
export function routeDiagToLog(log: Logger): void {
  const warn = (msg: string, ...args: unknown[]): void => log.warn(`opentelemetry: ${msg}`, args.length === 0 ? { otelDiag: true } : { otelDiag: true, details: args.map(String) });
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
}

/**
 * Our defaults (service name and version, node…) overridden by OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES (the env detector), or by the detectors OTEL_NODE_RESOURCE_DETECTORS names.
 */
export async function resourceFromEnv(defaults: Record<string, string>): Promise<Resource> {
  const detectors = getStringFromEnv('OTEL_NODE_RESOURCE_DETECTORS') === undefined ? [envDetector] : getResourceDetectorsFromEnv();
  const detected = detectResources({ detectors });
  await detected.waitForAsyncAttributes?.();
  // merge(): the argument's attributes win, so operator settings override our defaults.
  return resourceFromAttributes(defaults).merge(detected);
}

const PROCESSED = /^otel\.sdk\.processor\.(span|log)\.processed$/;

/**
 * The SDK's own accounting: batch processors count what they processed on a meter provider
 * (`otel.sdk.processor.*.processed`, with `error.type` when a record was dropped or its export
 * failed). This provider keeps only those failures and hands them to `onDrop`.
 */
function dropCounter(signal: OtelSignal, onDrop: OnDrop): ApiMeterProvider {
  const noop = createNoopMeter();
  const meter: Meter = Object.create(noop) as Meter;
  meter.createCounter = ((name: string, options?: object) => {
    if (!PROCESSED.test(name)) return noop.createCounter(name, options);
    const c: Counter = {
      add(value, attributes) {
        const type = attributes?.['error.type'];
        if (type !== undefined) onDrop(signal, type === 'queue_full' ? 'queue_full' : 'export_failed', value);
      },
    };
    return c;
  }) as Meter['createCounter'];
  return { getMeter: () => meter };
}

/** A tracer provider: exporters and batch processors from OTEL_TRACES_EXPORTER and OTLP settings, sampler and limits from env. */
export function tracerProviderFromEnv(resource: Resource, onDrop: OnDrop, processors?: SpanProcessor[]): TracerProvider {
  return new TracerProvider({
    resource,
    sampler: createSamplerFromEnv(),
    spanLimits: createSpanLimitsFromEnv(),
    spanProcessors: processors ?? getSpanProcessorsFromEnv(dropCounter('TRACES', onDrop)),
  });
}

function metricExportersFromEnv(): PushMetricExporter[] {
  const names = [...new Set(getStringListFromEnv('OTEL_METRICS_EXPORTER') ?? [])];
  if (names.length === 0) names.push('otlp');
  const out: PushMetricExporter[] = [];
  for (const n of names) {
    if (n === 'otlp') out.push(getOtlpMetricExporterFromEnv());
    else if (n === 'console') out.push(new ConsoleMetricExporter());
    else if (n !== 'none') diag.warn(`OTEL_METRICS_EXPORTER=${n} is not supported here (otlp, console, none); the Prometheus endpoint is always on`);
  }
  return out;
}

/** Counts the data points of a failed export (a down or slow collector) as dropped. */
class CountingMetricExporter implements PushMetricExporter {
  readonly #inner: PushMetricExporter;
  readonly #onDrop: OnDrop;
  constructor(inner: PushMetricExporter, onDrop: OnDrop) {
    this.#inner = inner;
    this.#onDrop = onDrop;
  }
  export(metrics: ResourceMetrics, done: Parameters<PushMetricExporter['export']>[1]): void {
    this.#inner.export(metrics, (r) => {
      if (r.code !== ExportResultCode.SUCCESS) {
        let points = 0;
        for (const sm of metrics.scopeMetrics) for (const m of sm.metrics) points += m.dataPoints.length;
        this.#onDrop('METRICS', 'export_failed', points);
      }
      done(r);
    });
  }
  forceFlush(): Promise<void> { return this.#inner.forceFlush(); }
  shutdown(): Promise<void> { return this.#inner.shutdown(); }
  selectAggregationTemporality = (t: Parameters<NonNullable<PushMetricExporter['selectAggregationTemporality']>>[0]) => this.#inner.selectAggregationTemporality?.(t) ?? AggregationTemporality.CUMULATIVE;
}

export interface MetricReaderSettings { intervalMs: number; timeoutMs: number }

/** OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT as the SDK reads them (60 s, 30 s; timeout at most the interval). */
export function metricReaderSettings(): MetricReaderSettings {
  const pos = (k: string): number | undefined => {
    const v = getNumberFromEnv(k);
    return v !== undefined && v > 0 ? v : undefined;
  };
  const intervalMs = pos('OTEL_METRIC_EXPORT_INTERVAL') ?? 60_000;
  return { intervalMs, timeoutMs: Math.min(intervalMs, pos('OTEL_METRIC_EXPORT_TIMEOUT') ?? 30_000) };
}

/**
 * One periodic reader per exporter OTEL_METRICS_EXPORTER names, each fed by `producers` (the SDK's
 * own instruments are not used: the numbers are already aggregated, in the workers).
 */
export function metricReadersFromEnv(producers: MetricProducer[], onDrop: OnDrop): PeriodicExportingMetricReader[] {
  const s = metricReaderSettings();
  return metricExportersFromEnv().map((e) => new PeriodicExportingMetricReader({
    exporter: new CountingMetricExporter(e, onDrop),
    exportIntervalMillis: s.intervalMs,
    exportTimeoutMillis: s.timeoutMs,
    metricProducers: producers,
  }));
}

/** Log exporters as NodeSDK picks them (OTEL_LOGS_EXPORTER; the OTLP one by OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL). */
function logExportersFromEnv(): LogRecordExporter[] {
  const names = [...new Set(getStringListFromEnv('OTEL_LOGS_EXPORTER') ?? [])];
  if (names.length === 0) names.push('otlp');
  const out: LogRecordExporter[] = [];
  for (const n of names) {
    if (n === 'console') out.push(new ConsoleLogRecordExporter());
    else if (n === 'otlp') {
      const protocol = (getStringFromEnv('OTEL_EXPORTER_OTLP_LOGS_PROTOCOL') ?? getStringFromEnv('OTEL_EXPORTER_OTLP_PROTOCOL'))?.trim() || 'http/protobuf';
      if (protocol === 'grpc') out.push(new OTLPLogGrpcExporter());
      else if (protocol === 'http/json') out.push(new OTLPLogJsonExporter());
      else {
        if (protocol !== 'http/protobuf') diag.warn(`Unsupported OTLP logs protocol: "${protocol}". Using http/protobuf.`);
        out.push(new OTLPLogProtoExporter());
      }
    } else if (n !== 'none') diag.warn(`Unsupported OTEL_LOGS_EXPORTER value: "${n}". Supported values are: otlp, console, none.`);
  }
  return out;
}

/** A logger provider: exporters from env, batched by OTEL_BLRP_* (console: simple), limits from env. */
export function loggerProviderFromEnv(resource: Resource, onDrop: OnDrop, processors?: LogRecordProcessor[]): LoggerProvider {
  const drops = dropCounter('LOGS', onDrop);
  return new LoggerProvider({
    ...getLoggerProviderConfigFromEnv(),
    resource,
    processors: processors ?? logExportersFromEnv().map((e) =>
      e instanceof ConsoleLogRecordExporter ? new SimpleLogRecordProcessor({ exporter: e }) : getBatchLogRecordProcessorFromEnv(e, drops)),
  });
}
