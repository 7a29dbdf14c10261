// Live tap events and their server-side filters. Events are built only while someone is tapping
// (a flag shared with the workers), so an idle tap costs the proxy one integer read per event.
import type { StreamTapFilter } from '../../control/api/summary.ts';

export interface TapPeer {
  workload: string;
  namespace: string;
  identity: string;
  address: string;
}

export interface TapConnectionEvent {
  type: 'connection';
  at: string;
  direction: string;
  path: string;
  source: TapPeer;
  destination: TapPeer & { service: string };
  tls: string;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
  outcome: 'ok' | 'failed';
  error?: string;
}

export interface TapRequestEvent extends Omit<TapConnectionEvent, 'type' | 'bytesSent' | 'bytesReceived'> {
  type: 'request';
  method: string;
  path: string;
  authority: string;
  status: number;
  grpcStatus: number | null;
  requestBytes: number;
  responseBytes: number;
  retryAttempt: number;
  timedOut: boolean;
}

export type TapEvent = TapConnectionEvent | TapRequestEvent;

/** The tap filter: the contract's shape, so /tap queries and stream taps mean the same. */
export type TapFilter = StreamTapFilter;

export const TAP_FILTER_PARAMS = ['namespace', 'workload', 'service', 'method', 'path_prefix', 'status_class'] as const;

export class TapFilterError extends Error {}

export function parseTapFilter(q: URLSearchParams): TapFilter {
  const f: TapFilter = {};
  for (const k of q.keys()) {
    if (!(TAP_FILTER_PARAMS as readonly string[]).includes(k)) {
      throw new TapFilterError(`unknown tap filter "${k}"; filters: ${TAP_FILTER_PARAMS.join(', ')}`);
    }
  }
  const get = (k: string): string | undefined => {
    const v = q.get(k);
    return v === null || v === '' ? undefined : v;
  };
  const ns = get('namespace'); if (ns !== undefined) f.namespace = ns;
  const wl = get('workload'); if (wl !== undefined) f.workload = wl;
  const svc = get('service'); if (svc !== undefined) f.service = svc;
  const m = get('method'); if (m !== undefined) f.method = m.toUpperCase();
  const p = get('path_prefix'); if (p !== undefined) f.pathPrefix = p;
  const sc = get('status_class');
  if (sc !== undefined) {
    if (!/^[1-5]xx$/.test(sc)) throw new TapFilterError(`status_class must be 1xx…5xx, got "${sc}"`);
    f.statusClass = sc;
  }
  return f;
}

/**
 * namespace/workload match either end of the event (who talks or who is talked to); service the
 * destination service (`ns/name` or just `name`); method, path_prefix and status_class select
 * request events, so a connection event never matches them.
 */
export function matchesTap(f: TapFilter, e: TapEvent): boolean {
  if (f.namespace !== undefined && e.source.namespace !== f.namespace && e.destination.namespace !== f.namespace) return false;
  if (f.workload !== undefined && e.source.workload !== f.workload && e.destination.workload !== f.workload) return false;
  if (f.service !== undefined) {
    const s = e.destination.service;
    if (s !== f.service && s.slice(s.indexOf('/') + 1) !== f.service) return false;
  }
  if (f.method !== undefined || f.pathPrefix !== undefined || f.statusClass !== undefined) {
    if (e.type !== 'request') return false;
    if (f.method !== undefined && e.method !== f.method) return false;
    if (f.pathPrefix !== undefined && !e.path.startsWith(f.pathPrefix)) return false;
    if (f.statusClass !== undefined && `${Math.floor(e.status / 100)}xx` !== f.statusClass) return false;
  }
  return true;
}
