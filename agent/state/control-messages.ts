// Validation of what control sends. A message that does not parse is a reason to nack and resync,
// never to apply part of it.
import type { ResourceRecord } from '../../control/api/model.ts';
import type { ControlMessage } from '../../control/api/stream.ts';
import type { StreamTapFilter, TapStartMessage, TapStopMessage } from '../../control/api/summary.ts';
import { checkRecords } from './record-check.ts';

export class ControlMessageError extends Error {
  /** The version the bad message carried, when it got that far; the nack names it. */
  readonly version: number | null;
  constructor(message: string, version: number | null) {
    super(message);
    this.name = 'ControlMessageError';
    this.version = version;
  }
}

const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function parseControlMessage(text: string): ControlMessage {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new ControlMessageError('frame is not JSON', null);
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new ControlMessageError('frame is not a JSON object', null);
  const o = m as Record<string, unknown>;
  if (o.type === 'error') {
    return { type: 'error', code: typeof o.code === 'string' ? o.code : 'UNKNOWN', message: typeof o.message === 'string' ? o.message : '' };
  }
  if (o.type === 'tap-start' || o.type === 'tap-stop') return parseTapControl(o);
  const version = isVersion(o.version) ? o.version : null;
  if (version === null) throw new ControlMessageError(`${String(o.type)} without a valid version`, null);
  switch (o.type) {
    case 'snapshot': {
      const problem = checkRecords(o.resources);
      if (problem !== null) throw new ControlMessageError(`snapshot: ${problem}`, version);
      return { type: 'snapshot', version, resources: o.resources as ResourceRecord[] };
    }
    case 'snapshot-sent':
      if (!isVersion(o.count)) throw new ControlMessageError('snapshot-sent without a valid count', version);
      if (o.features !== undefined && (!Array.isArray(o.features) || !o.features.every((f) => typeof f === 'string'))) throw new ControlMessageError('snapshot-sent: features must be a list of names', version);
      return { type: 'snapshot-sent', version, count: o.count, ...(o.features !== undefined ? { features: o.features as string[] } : {}) };
    case 'delta': {
      const problem = checkRecords(o.upserts);
      if (problem !== null) throw new ControlMessageError(`delta: ${problem}`, version);
      if (!Array.isArray(o.removes) || !o.removes.every((id) => typeof id === 'string')) throw new ControlMessageError('delta: removes must be a list of resource ids', version);
      return { type: 'delta', version, upserts: o.upserts as ResourceRecord[], removes: o.removes as string[] };
    }
    default:
      throw new ControlMessageError(`unknown message type ${JSON.stringify(o.type)}`, version);
  }
}

const TAP_FILTER_FIELDS = ['namespace', 'workload', 'service', 'method', 'pathPrefix', 'statusClass'] as const;

/** tap-start / tap-stop carry no config version: a bad one is refused like any bad frame. */
function parseTapControl(o: Record<string, unknown>): TapStartMessage | TapStopMessage {
  if (typeof o.tapId !== 'string' || o.tapId === '' || o.tapId.length > 128) throw new ControlMessageError(`${String(o.type)} without a valid tapId`, null);
  if (o.type === 'tap-stop') return { type: 'tap-stop', tapId: o.tapId };
  const f = o.filter;
  if (f === null || typeof f !== 'object' || Array.isArray(f)) throw new ControlMessageError('tap-start without a filter object', null);
  const filter: StreamTapFilter = {};
  for (const k of TAP_FILTER_FIELDS) {
    const v = (f as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > 512) throw new ControlMessageError(`tap-start: filter.${k} must be a string`, null);
    if (v !== '') filter[k] = v;
  }
  return { type: 'tap-start', tapId: o.tapId, filter };
}
