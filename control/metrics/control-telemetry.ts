// Control's own telemetry: how its CA, config stream, discovery and dashboard are doing. Each
// family is read at collect time from its owner (streams, informers, dashboard) or counted here
// (CSR signings and snapshot builds, with their durations), and served two ways from one list:
// Prometheus text on GET /metrics of the API port (beside weft_rejected_input_total, which has the
// refusals by reason) and OTLP when metrics export is configured. CSR signings and snapshot builds
// are also spans when trace export is configured (the recorder is set by control-otel.ts).
import { DURATION_BOUNDARIES, newHistogram, recordHistogram, type HistogramJson } from '../../agent/telemetry/histogram.ts';

export type Labels = Record<string, string>;

export type ControlFamily =
  | { kind: 'counter' | 'gauge'; prom: string; otel: string; unit: string; help: string; points: Array<{ labels: Labels; value: number }>; otlpOnly?: boolean }
  | { kind: 'histogram'; prom: string; otel: string; unit: string; help: string; points: Array<{ labels: Labels; value: HistogramJson }> };

/** What the rest of control reports (all cheap; none on an agent's hot path). */
export interface ControlEvents {
  /** A CSR answered: `status` as sent (200 signed), from `startMs` to `endMs`. */
  csr(status: number, node: string | null, startMs: number, endMs: number): void;
  /** A model version's snapshot frames encoded (once per version and stream server). */
  snapshotBuilt(version: number, records: number, frames: number, startMs: number, endMs: number): void;
}

/** Spans for the same events, when trace export is on (control-otel.ts). */
export interface ControlSpans {
  csr(status: number, node: string | null, startMs: number, endMs: number): void;
  snapshotBuilt(version: number, records: number, frames: number, startMs: number, endMs: number): void;
}

/** The readers control-telemetry asks at collect time. */
export interface ControlSources {
  /** Per connected agent: version sent on the config stream and the last one it acknowledged. */
  agents(): Array<{ node: string; sentVersion: number; ackedVersion: number | null }>;
  /** Per discovery collection (Kubernetes source only): completed lists, watch restarts and the last watch error. */
  discovery(): Array<{ kind: string; lists: number; watchRestarts: number; lastError: string | null }>;
  /** Open dashboard WebSocket connections (live views). */
  dashboardConnections(): number;
  /** Refused input by reason (CSR refusals are `csr_*`); /metrics renders these itself (rejections.ts). */
  rejections?(): Array<[string, number]>;
}

export class ControlTelemetry implements ControlEvents {
  #signed = 0;
  readonly #signDuration = newHistogram();
  #snapshots = 0;
  readonly #snapshotDuration = newHistogram();
  #spans: ControlSpans | null = null;
  readonly #sources: ControlSources;
  readonly #drops = new Map<string, { signal: string; reason: string; n: number }>();

  constructor(sources: ControlSources) {
    this.#sources = sources;
  }

  setSpans(spans: ControlSpans | null): void {
    this.#spans = spans;
  }

  csr(status: number, node: string | null, startMs: number, endMs: number): void {
    if (status === 200) {
      this.#signed++;
      recordHistogram(this.#signDuration, (endMs - startMs) / 1000);
    }
    this.#spans?.csr(status, node, startMs, endMs);
  }

  snapshotBuilt(version: number, records: number, frames: number, startMs: number, endMs: number): void {
    this.#snapshots++;
    recordHistogram(this.#snapshotDuration, (endMs - startMs) / 1000);
    this.#spans?.snapshotBuilt(version, records, frames, startMs, endMs);
  }

  /** What control's own OpenTelemetry export lost (signal TRACES/METRICS/LOGS, reason queue_full/export_failed). */
  otelDropped(signal: string, reason: string, n: number): void {
    const k = `${signal}\u0001${reason}`;
    const d = this.#drops.get(k) ?? { signal: signal.toLowerCase(), reason, n: 0 };
    d.n += n;
    this.#drops.set(k, d);
  }

  /** Every family with its current points (the one list both exports walk). */
  families(): ControlFamily[] {
    const agents = this.#sources.agents();
    const discovery = this.#sources.discovery();
    return [
      { kind: 'counter', prom: 'weft_control_csr_signed_total', otel: 'weft.control.csr.signed', unit: '{certificate}', help: 'Workload certificates control signed (refusals: weft_rejected_input_total{reason=~"csr_.*"}).', points: [{ labels: {}, value: this.#signed }] },
      { kind: 'histogram', prom: 'weft_control_csr_sign_duration_seconds', otel: 'weft.control.csr.sign.duration', unit: 's', help: 'Time from a CSR request to its signed answer (authentication, model check and signing).', points: [{ labels: {}, value: this.#signDuration }] },
      { kind: 'counter', prom: 'weft_control_snapshot_builds_total', otel: 'weft.control.snapshot.builds', unit: '{snapshot}', help: 'Model snapshots encoded for the config stream (once per model version an agent asked for).', points: [{ labels: {}, value: this.#snapshots }] },
      { kind: 'histogram', prom: 'weft_control_snapshot_build_duration_seconds', otel: 'weft.control.snapshot.build.duration', unit: 's', help: 'Time to encode a model snapshot into config-stream frames.', points: [{ labels: {}, value: this.#snapshotDuration }] },
      { kind: 'gauge', prom: 'weft_control_config_sent_version', otel: 'weft.control.config.sent_version', unit: '{version}', help: 'Latest model version sent to each connected agent.', points: agents.map((a) => ({ labels: { node: a.node }, value: a.sentVersion })) },
      { kind: 'gauge', prom: 'weft_control_config_acked_version', otel: 'weft.control.config.acked_version', unit: '{version}', help: 'Latest model version each connected agent acknowledged (absent until its snapshot is acknowledged).', points: agents.filter((a) => a.ackedVersion !== null).map((a) => ({ labels: { node: a.node }, value: a.ackedVersion ?? 0 })) },
      { kind: 'gauge', prom: 'weft_control_config_lag_versions', otel: 'weft.control.config.lag', unit: '{version}', help: 'Versions sent to an agent and not yet acknowledged (sent minus acked; the whole sent version before the first ack).', points: agents.map((a) => ({ labels: { node: a.node }, value: configLag(a.sentVersion, a.ackedVersion) })) },
      { kind: 'gauge', prom: 'weft_control_agents_connected', otel: 'weft.control.agents.connected', unit: '{agent}', help: 'Agents streaming config from this control.', points: [{ labels: {}, value: agents.length }] },
      { kind: 'counter', prom: 'weft_control_discovery_lists_total', otel: 'weft.control.discovery.lists', unit: '{list}', help: 'Full lists of a Kubernetes collection: the first, then one per relist (a watch that expired or failed); more than 1 means relists.', points: discovery.map((d) => ({ labels: { kind: d.kind }, value: d.lists })) },
      { kind: 'counter', prom: 'weft_control_discovery_watch_restarts_total', otel: 'weft.control.discovery.watch_restarts', unit: '{restart}', help: 'Times the watch of a Kubernetes collection was opened again after the first: the server ended it (its timeout), it failed, it went silent, or a relist followed.', points: discovery.map((d) => ({ labels: { kind: d.kind }, value: d.watchRestarts })) },
      { kind: 'gauge', prom: 'weft_control_discovery_watch_failing', otel: 'weft.control.discovery.watch_failing', unit: '1', help: '1 while the watch of a Kubernetes collection is interrupted and being resumed (its last attempt failed), else 0.', points: discovery.map((d) => ({ labels: { kind: d.kind }, value: d.lastError === null ? 0 : 1 })) },
      { kind: 'counter', prom: 'weft_otel_dropped_total', otel: 'weft.otel.dropped', unit: '{item}', help: 'Spans, log records and metric points control\'s OpenTelemetry export lost, by signal and reason (queue_full, export_failed).', points: [...this.#drops.values()].map((d) => ({ labels: { signal: d.signal, reason: d.reason }, value: d.n })) },
      {
        kind: 'counter', prom: 'weft_rejected_input_total', otel: 'weft.rejected_input', unit: '{event}', otlpOnly: true,
        help: 'Bad input control refused, by reason: CSR refusals (csr_forbidden, csr_unauthenticated, csr_invalid, csr_too_large…), malformed or slow HTTP, config-stream protocol errors.',
        points: (this.#sources.rejections?.() ?? []).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      { kind: 'gauge', prom: 'weft_control_dashboard_connections', otel: 'weft.control.dashboard.connections', unit: '{connection}', help: 'Open dashboard live-view connections (WebSocket).', points: [{ labels: {}, value: this.#sources.dashboardConnections() }] },
    ];
  }
}

/** Pure: how far an agent is behind what it was sent. */
export function configLag(sent: number, acked: number | null): number {
  return acked === null ? sent : Math.max(0, sent - acked);
}

function labelText(l: Labels, extra?: [string, string]): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  if (extra !== undefined) parts.push(`${extra[0]}="${extra[1]}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Prometheus text exposition (0.0.4) of the families. */
export function renderControlPrometheus(families: readonly ControlFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.kind !== 'histogram' && f.otlpOnly === true) continue;
    out.push(`# HELP ${f.prom} ${f.help}`, `# TYPE ${f.prom} ${f.kind}`);
    if (f.kind === 'histogram') {
      for (const p of f.points) {
        let cum = 0;
        DURATION_BOUNDARIES.forEach((b, i) => {
          cum += p.value.counts[i];
          out.push(`${f.prom}_bucket${labelText(p.labels, ['le', String(b)])} ${cum}`);
        });
        out.push(`${f.prom}_bucket${labelText(p.labels, ['le', '+Inf'])} ${p.value.count}`);
        out.push(`${f.prom}_sum${labelText(p.labels)} ${p.value.sum}`, `${f.prom}_count${labelText(p.labels)} ${p.value.count}`);
      }
    } else {
      for (const p of f.points) out.push(`${f.prom}${labelText(p.labels)} ${p.value}`);
    }
  }
  return out.join('\n') + '\n';
}
