// JSON-lines logger. One line per event, a level, a component, and fields; expected errors are
// logged by code and message only, unexpected ones with their stack.
import { WeftError } from './errors.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(component: string): Logger;
}

export interface LogSink {
  write(line: string): void;
}

let globalLevel: Level = 'info';
export function setLogLevel(level: Level): void {
  globalLevel = level;
}

/**
 * Receives every record a logger writes (after the level check, fields as written), beside the
 * JSON line: the OpenTelemetry log export (common/otel/log-records.ts) sets it when logs export is
 * configured. One per isolate; unset, a record costs one variable read more.
 */
export type LogRecordTap = (level: Level, component: string, msg: string, fields: Fields) => void;
let recordTap: LogRecordTap | undefined;
export function setLogRecordTap(tap: LogRecordTap | undefined): void {
  recordTap = tap;
}

function describeError(err: unknown): unknown {
  if (err instanceof WeftError) {
    return err.expected ? { code: err.code, message: err.message } : { code: err.code, message: err.message, stack: err.stack };
  }
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return { code, message: err.message, stack: err.stack };
  }
  return err;
}

class JsonLogger implements Logger {
  readonly #component: string;
  readonly #sink: LogSink;

  constructor(component: string, sink: LogSink) {
    this.#component = component;
    this.#sink = sink;
  }

  #log(level: Level, msg: string, fields?: Fields): void {
    if (order[level] < order[globalLevel]) return;
    const rec: Fields = { time: new Date().toISOString(), level, component: this.#component, msg };
    if (fields !== undefined) {
      for (const k of Object.keys(fields)) {
        const v = fields[k];
        rec[k] = k === 'err' || v instanceof Error ? describeError(v) : v;
      }
    }
    this.#sink.write(JSON.stringify(rec) + '\n');
    recordTap?.(level, this.#component, msg, rec);
  }

  debug(msg: string, fields?: Fields): void { this.#log('debug', msg, fields); }
  info(msg: string, fields?: Fields): void { this.#log('info', msg, fields); }
  warn(msg: string, fields?: Fields): void { this.#log('warn', msg, fields); }
  error(msg: string, fields?: Fields): void { this.#log('error', msg, fields); }
  child(component: string): Logger {
    return new JsonLogger(`${this.#component}.${component}`, this.#sink);
  }
}

export function createLogger(component: string, sink: LogSink = process.stderr): Logger {
  return new JsonLogger(component, sink);
}

/** A logger that keeps its lines, for tests that assert what was logged. */
export function memoryLogger(component = 'test'): Logger & { lines: Fields[] } {
  const lines: Fields[] = [];
  const logger = createLogger(component, { write: (l) => lines.push(JSON.parse(l) as Fields) });
  return Object.assign(logger, { lines });
}
