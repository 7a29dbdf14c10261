// Whether OTLP export of a signal is configured, decided from the standard variables alone, so a
// caller can ask without loading the OpenTelemetry SDK and exporters (imported only when the
// answer is yes). The same rule for traces and metrics: not disabled, and an endpoint set.
import type { OtelEnv } from './trace-context.ts';

export function otlpSignalEnabled(env: OtelEnv, signal: 'TRACES' | 'METRICS'): boolean {
  if (env('OTEL_SDK_DISABLED') === 'true' || env(`OTEL_${signal}_EXPORTER`) === 'none') return false;
  return (env(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`) ?? env('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '') !== '';
}

export function otlpMetricsEnabled(env: OtelEnv): boolean {
  return otlpSignalEnabled(env, 'METRICS');
}
