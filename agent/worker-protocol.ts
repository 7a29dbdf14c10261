// Messages between the agent's main thread (config stream, certificates, redirection, admin) and
// its proxy workers (listeners and byte moving). Workers hold a mirror of the state and ask the
// main thread for certificates, so there is one CSR per identity however many workers there are.
import type { ResourceRecord } from '../control/api/model.ts';
import type { WorkloadCertificate } from './identity/tls-contexts.ts';
import type { StatsJson } from './proxy/stats.ts';
import type { PodListenSpec } from './proxy/pod-listeners.ts';
import type { PodNetns } from './redirect/pod-capture.ts';
import type { PolicyCountersJson } from './policy/counters.ts';

/** A worker's policy view for /config_dump `policies`. */
export interface WorkerPolicyStats {
  /** The state version the worker enforces. */
  version: number | null;
  counters: PolicyCountersJson;
  /** Inbound connections under policy watch. */
  live: number;
}
import type { TelemetrySnapshot } from './telemetry/aggregates.ts';
import type { TapEvent } from './telemetry/tap-events.ts';

export interface WorkerInit {
  role: 'weft-proxy-worker';
  index: number;
  /** The agent's environment, so the worker parses the same config. */
  env: Record<string, string>;
  /** Shared with the main thread: number of live tap consumers (workers forward events only when > 0). */
  tapFlag: Int32Array;
}

export type ToWorker =
  | { type: 'state'; reset: boolean; version: number; upserts: ResourceRecord[]; removes: string[] }
  | { type: 'cert'; reqId: number; cert?: WorkloadCertificate; error?: { code: string; message: string } }
  | { type: 'cert-rotated'; cert: WorkloadCertificate }
  | { type: 'stats-request'; reqId: number }
  | { type: 'policy-stats-request'; reqId: number }
  | { type: 'telemetry-request'; reqId: number }
  | { type: 'drain' }
  /** Pod scope: hold listeners inside exactly these pods (answered with pods-synced, same seq). */
  | { type: 'pods'; seq: number; pods: PodNetns[]; spec: PodListenSpec };

export type FromWorker =
  | { type: 'listening' }
  | { type: 'listen-failed'; code: string; message: string }
  | { type: 'cert-request'; reqId: number; identity: string }
  | { type: 'stats'; reqId: number; stats: StatsJson }
  | { type: 'policy-stats'; reqId: number; stats: WorkerPolicyStats }
  | { type: 'telemetry'; reqId: number; snapshot: TelemetrySnapshot }
  | { type: 'tap-events'; events: TapEvent[] }
  | { type: 'drained' }
  | { type: 'pods-synced'; seq: number; failed: Array<{ inode: number; message: string }> };
