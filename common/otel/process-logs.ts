// An isolate's log export: a LoggerProvider from the environment and the bridge that turns its
// log lines (and access records) into OpenTelemetry log records. The agent's main thread, each
// proxy worker and control start one when logs export is configured (export-enabled.ts).
import type { Logger } from '../log.ts';
import { startLogRecords, type LogRecords } from './log-records.ts';
import { loggerProviderFromEnv, resourceFromEnv, routeDiagToLog, type OnDrop } from './sdk-env.ts';

export interface ProcessLogsOptions {
  /** Instrumentation scope: weft-agent, weft-control. */
  scope: string;
  /** Resource defaults; OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES override them. */
  resource: Record<string, string>;
  log: Logger;
  onDrop: OnDrop;
}

export async function startProcessLogs(o: ProcessLogsOptions): Promise<LogRecords> {
  routeDiagToLog(o.log);
  const provider = loggerProviderFromEnv(await resourceFromEnv(o.resource), o.onDrop);
  return startLogRecords(provider, o.scope);
}
