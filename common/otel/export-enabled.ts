// Whether a process exports a signal (traces, metrics, logs) to OpenTelemetry, decided from the
// standard variables alone, so a caller asks without loading the SDK: it is imported only when
// the answer is yes (the lazily loaded chunk). Which exporter, protocol, endpoint and so on is the
// SDK's business (sdk-env.ts); this is only the gate, and the one place that draws it.
//
// The specification's default exporter is `otlp` to localhost; Weft exports nothing until asked,
// so a signal is on when the SDK is not disabled, its exporter list is not `none`, and either an
// exporter is named (OTEL_<SIGNAL>_EXPORTER=otlp / console) or an OTLP endpoint is set.

export type OtelEnv = (k: string) => string | undefined;
export type OtelSignal = 'TRACES' | 'METRICS' | 'LOGS';
export const OTEL_SIGNALS: readonly OtelSignal[] = ['TRACES', 'METRICS', 'LOGS'];

function list(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
}

export function otelExportEnabled(env: OtelEnv, signal: OtelSignal): boolean {
  if (env('OTEL_SDK_DISABLED')?.trim().toLowerCase() === 'true') return false;
  const exporters = list(env(`OTEL_${signal}_EXPORTER`));
  // `none` anywhere in the list switches the signal off (the SDK's own rules for a mixed list
  // differ between signals; a list with `none` in it is a mistake we read the safe way).
  if (exporters.includes('none')) return false;
  if (exporters.length > 0) return true;
  return (env(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`) ?? env('OTEL_EXPORTER_OTLP_ENDPOINT') ?? '').trim() !== '';
}

/** Whether any signal is exported: the SDK chunk is loaded at all. */
export function otelAnyExport(env: OtelEnv): boolean {
  return OTEL_SIGNALS.some((s) => otelExportEnabled(env, s));
}
