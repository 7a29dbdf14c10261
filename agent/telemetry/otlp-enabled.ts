// Whether OTLP metrics export is configured, decided from the standard variables alone. Apart from
// otlp-metrics.ts so the main thread can ask without loading the OpenTelemetry SDK and exporters,
// which it imports only when the answer is yes.
import type { OtelEnv } from './trace-context.ts';

export function otlpMetricsEnabled(env: OtelEnv): boolean {
  if (env('OTEL_SDK_DISABLED') === 'true' || env('OTEL_METRICS_EXPORTER') === 'none') return false;
  return (env('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') ?? env('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '') !== '';
}
