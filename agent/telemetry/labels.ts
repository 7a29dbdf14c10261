// The bounded attribute set every metric series is keyed by. Only names that stay few over a
// cluster's life are allowed: workloads (by their app label, not the pod), namespaces, SPIFFE
// identities, services. Pod IPs, ports and paths live only in tap events and access logs.
import type { WorkloadRecord } from '../../control/api/model.ts';

export type Direction = 'outbound' | 'inbound';
export type TlsMode = 'mutual' | 'none';

export interface ConnectionLabels {
  direction: Direction;
  source_workload: string;
  source_namespace: string;
  source_identity: string;
  destination_workload: string;
  destination_namespace: string;
  destination_identity: string;
  destination_service: string;
  tls: TlsMode;
}

export const CONNECTION_LABEL_NAMES: readonly (keyof ConnectionLabels)[] = [
  'direction', 'source_workload', 'source_namespace', 'source_identity',
  'destination_workload', 'destination_namespace', 'destination_identity', 'destination_service', 'tls',
];

/** Empty string means "unknown / outside the mesh"; exporters print it as such. */
export const UNKNOWN = '';

export { workloadName } from '../../control/api/workload-name.ts';

/** `namespace/name` of a service key stays as is; it is already bounded. */
export function seriesKey(l: ConnectionLabels): string {
  // One concatenation per connection (not per chunk); \u0001 cannot appear in any label value we use.
  return l.direction + '\u0001' + l.source_workload + '\u0001' + l.source_namespace + '\u0001' + l.source_identity +
    '\u0001' + l.destination_workload + '\u0001' + l.destination_namespace + '\u0001' + l.destination_identity +
    '\u0001' + l.destination_service + '\u0001' + l.tls;
}

export function overflowLabels(direction: Direction): ConnectionLabels {
  const o = 'overflow';
  return {
    direction, source_workload: o, source_namespace: o, source_identity: o, destination_workload: o,
    destination_namespace: o, destination_identity: o, destination_service: o, tls: 'none',
  };
}
