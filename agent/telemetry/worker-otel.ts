// A proxy worker's OpenTelemetry export: its span recorder and its log records, each only when
// that signal's export is configured. The same resource as the main thread's metrics (service
// name and version, node; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win).
// Spans stay in the worker that saw the request: handing them to the main thread would cost a
// message per span, and each worker's batch processor already sends them in batches. The same
// for log records (policy denials and audits, access records, the worker's warnings).
//
// The SDK and the exporters are imported here, on demand: an agent without export never parses
// them (they are most of the bundle), which keeps every worker's heap and source smaller.
import type { Logger } from '../../common/log.ts';
import { otelExportEnabled } from '../../common/otel/export-enabled.ts';
import type { LogRecords } from '../../common/otel/log-records.ts';
import type { OnDrop } from '../../common/otel/sdk-env.ts';
import { AGENT_VERSION } from '../version.ts';
import { noSpans, type OtelEnv, type SpanRecorder } from './trace-context.ts';

export interface WorkerOtelOptions {
  env: OtelEnv;
  nodeName: string;
  log: Logger;
  /** One worker says that export is on (and how it samples); the others stay quiet. */
  announce: boolean;
  onDrop: OnDrop;
}

export interface WorkerOtel {
  spans: SpanRecorder;
  /** Null when logs export is off. */
  logs: LogRecords | null;
}

export function agentResource(nodeName: string): Record<string, string> {
  return { 'service.name': 'weft-agent', 'service.version': AGENT_VERSION, 'k8s.node.name': nodeName };
}

export async function startWorkerOtel(o: WorkerOtelOptions): Promise<WorkerOtel> {
  const traces = otelExportEnabled(o.env, 'TRACES');
  const logsOn = otelExportEnabled(o.env, 'LOGS');
  let spans: SpanRecorder = noSpans;
  let logs: LogRecords | null = null;
  if (traces) {
    const [{ resourceFromEnv }, { createSpanRecorder }] = await Promise.all([import('../../common/otel/sdk-env.ts'), import('./tracing.ts')]);
    spans = createSpanRecorder({ env: o.env, log: o.log, resource: await resourceFromEnv(agentResource(o.nodeName)), onDrop: o.onDrop });
    if (o.announce) {
      o.log.info('OpenTelemetry trace export on', {
        exporters: o.env('OTEL_TRACES_EXPORTER') ?? 'otlp',
        protocol: o.env('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? o.env('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf',
        sampler: o.env('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on',
        ratio: o.env('OTEL_TRACES_SAMPLER_ARG') ?? null,
      });
    }
  }
  if (logsOn) {
    const { startProcessLogs } = await import('../../common/otel/process-logs.ts');
    logs = await startProcessLogs({ scope: 'weft-agent', resource: agentResource(o.nodeName), log: o.log, onDrop: o.onDrop });
  }
  return { spans, logs };
}
