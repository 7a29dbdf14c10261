// Log lines as OpenTelemetry log records. Every record a logger writes (common/log.ts, after the
// level check) is also emitted on a LoggerProvider: body = the message, severity from the level,
// the fields as attributes (already redacted by whoever logged them: the same record as the JSON
// line), `weft.component` from the logger. The JSON line on stdout/stderr stays as it was.
//
// Request-scoped records (the access log) carry the request's trace context: the W3C
// `traceparent` the request left the proxy with, whether or not spans are exported.
//
// SDK half: loaded only when logs export is configured.
import { ROOT_CONTEXT, TraceFlags, trace, type AttributeValue, type Attributes } from '@opentelemetry/api';
import { SeverityNumber, type Logger as OtelLogger } from '@opentelemetry/api-logs';
import type { LoggerProvider } from '@opentelemetry/sdk-logs';
import { setLogRecordTap, type Fields, type Level } from '../log.ts';

const SEVERITY: Record<Level, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};
const SEVERITY_TEXT: Record<Level, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

/** Keys of the JSON line that the record carries elsewhere (timestamp, severity, body, component). */
const OWN = new Set(['time', 'level', 'msg', 'component']);

function attributeValue(v: unknown): AttributeValue | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  // Nested objects (an error's code and message, a list of policies) as their JSON text.
  return JSON.stringify(v);
}

/** The fields of a log line as record attributes (pure; exported for its table test). */
export function logAttributes(component: string, fields: Fields): Attributes {
  const a: Attributes = { 'weft.component': component };
  for (const k of Object.keys(fields)) {
    if (OWN.has(k)) continue;
    const v = attributeValue(fields[k]);
    if (v !== undefined) a[k] = v;
  }
  return a;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface LogRecords {
  /** An access log record (one connection or request); `traceparent` puts it in its trace. */
  access(event: Record<string, unknown>, traceparent: string | undefined): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Starts the bridge: from now on every log line of this isolate is also a log record. `scope`
 * names the instrumentation scope (weft-agent, weft-control).
 */
export function startLogRecords(provider: LoggerProvider, scope: string): LogRecords {
  const logger: OtelLogger = provider.getLogger(scope);
  setLogRecordTap((level, component, msg, fields) => {
    if (fields.otelDiag === true) return; // the export's own troubles (sdk-env.ts routeDiagToLog)
    logger.emit({ severityNumber: SEVERITY[level], severityText: SEVERITY_TEXT[level], body: msg, attributes: logAttributes(component, fields) });
  });
  return {
    access(event, traceparent) {
      const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
      const context = m === null ? undefined : trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16) & TraceFlags.SAMPLED, isRemote: false });
      const failed = event.outcome === 'failed';
      logger.emit({
        severityNumber: failed ? SeverityNumber.WARN : SeverityNumber.INFO,
        severityText: failed ? 'WARN' : 'INFO',
        body: event.type === 'request' ? 'request' : 'connection',
        attributes: { 'weft.component': 'access', 'event.name': 'weft.access', ...logAttributes('access', flatten(event)) },
        ...(context === undefined ? {} : { context }),
      });
    },
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      setLogRecordTap(undefined);
      await provider.shutdown();
    },
  };
}

/** `{source: {workload: 'a'}}` → `{'source.workload': 'a'}`: access events are two levels deep. */
function flatten(e: Record<string, unknown>): Fields {
  const out: Fields = {};
  for (const k of Object.keys(e)) {
    const v = e[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out[`${k}.${k2}`] = v2;
    } else out[k] = v;
  }
  return out;
}
