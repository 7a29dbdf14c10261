// The OpenTelemetry resource every export of the agent carries (the main thread's metrics and each
// worker's spans): our defaults (service name and version, node) overridden by what the operator
// sets in OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES. Loaded only with an export configured.
import { detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { OtelEnv } from './trace-context.ts';

export async function buildResource(env: OtelEnv, defaults: Record<string, string>): Promise<Resource> {
  void env; // envDetector reads process.env itself; the parameter documents the dependency.
  const detected = detectResources({ detectors: [envDetector] });
  await detected.waitForAsyncAttributes?.();
  // merge(): the argument's attributes win, so operator settings override our defaults.
  return resourceFromAttributes(defaults).merge(detected);
}
