// A proxy worker's span recorder: the same resource as the main thread's metrics (service name and
// version, node; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win), and the SDK's OTLP exporter.
// Spans stay in the worker that saw the request: handing them to the main thread would cost a
// message per span, and each worker's batch processor already sends them in batches.
//
// The SDK and the exporters are imported here, on demand: an agent without trace export never
// parses them (they are most of the bundle), which keeps every worker's heap and source smaller.
import type { Logger } from '../../common/log.ts';
import { AGENT_VERSION } from '../version.ts';
import { noSpans, tracesEnabled, type OtelEnv, type SpanRecorder } from './trace-context.ts';

export interface WorkerSpansOptions {
  env: OtelEnv;
  nodeName: string;
  log: Logger;
  /** One worker says that tracing is on (and how it samples); the others stay quiet. */
  announce: boolean;
}

export async function startWorkerSpans(o: WorkerSpansOptions): Promise<SpanRecorder> {
  if (!tracesEnabled(o.env)) return noSpans;
  const [{ buildResource }, { createSpanRecorder }] = await Promise.all([import('./otel-resource.ts'), import('./tracing.ts')]);
  const resource = await buildResource(o.env, { 'service.name': 'weft-agent', 'service.version': AGENT_VERSION, 'k8s.node.name': o.nodeName });
  const rec = createSpanRecorder({ env: o.env, log: o.log, resource });
  if (o.announce) {
    o.log.info('OTLP trace export on', {
      sampler: o.env('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on',
      ratio: o.env('OTEL_TRACES_SAMPLER_ARG') ?? null,
    });
  }
  return rec;
}
