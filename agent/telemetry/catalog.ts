// Every metric the agent exports, once: its Prometheus name, its OpenTelemetry name and unit, and
// how to read its points from a merged snapshot. Prometheus text and the OTLP producer both walk
// this list, so the two exports cannot drift apart.
import type { CounterName, GaugeName, TelemetrySnapshot } from './aggregates.ts';
import type { HistogramJson } from './histogram.ts';

export type Attrs = Record<string, string>;

export interface SumPoint { attrs: Attrs; value: number }
export interface HistogramPoint { attrs: Attrs; value: HistogramJson }

export type MetricFamily =
  | { kind: 'counter' | 'gauge'; prom: string; otel: string; unit: string; help: string; points(s: TelemetrySnapshot): SumPoint[] }
  | { kind: 'histogram'; prom: string; otel: string; unit: string; help: string; points(s: TelemetrySnapshot): HistogramPoint[] };

/** A copy of the labels (OTel attributes must not alias the aggregates). */
function attrs(l: object): Attrs {
  return { ...(l as Attrs) };
}

function counter(name: CounterName, prom: string, otel: string, help: string): MetricFamily {
  return {
    kind: 'counter', prom, otel, unit: '{event}', help,
    points: (s) => s.counters.filter((c) => c.name === name).map((c) => ({ attrs: attrs(c.labels), value: c.value })),
  };
}

function gauge(name: GaugeName, prom: string, otel: string, unit: string, help: string): MetricFamily {
  return {
    kind: 'gauge', prom, otel, unit, help,
    points: (s) => (s.gauges ?? []).filter((g) => g.name === name).map((g) => ({ attrs: attrs(g.labels), value: g.value })),
  };
}

export const METRICS: readonly MetricFamily[] = [
  {
    kind: 'counter', prom: 'weft_tcp_connections_opened_total', otel: 'weft.tcp.connections.opened', unit: '{connection}',
    help: 'TCP connections the agent proxied, counted when opened.',
    points: (s) => s.tcp.map((t) => ({ attrs: attrs(t.labels), value: t.opened })),
  },
  {
    kind: 'counter', prom: 'weft_tcp_connections_closed_total', otel: 'weft.tcp.connections.closed', unit: '{connection}',
    help: 'TCP connections closed; failed="true" when reset, refused or cut short.',
    points: (s) => s.tcp.flatMap((t) => [
      { attrs: { ...attrs(t.labels), failed: 'false' }, value: t.closed - t.failed },
      { attrs: { ...attrs(t.labels), failed: 'true' }, value: t.failed },
    ]),
  },
  {
    kind: 'counter', prom: 'weft_tcp_sent_bytes_total', otel: 'weft.tcp.sent', unit: 'By',
    help: 'Bytes sent towards the destination (client to server), counted when the connection closes.',
    points: (s) => s.tcp.map((t) => ({ attrs: attrs(t.labels), value: t.sentBytes })),
  },
  {
    kind: 'counter', prom: 'weft_tcp_received_bytes_total', otel: 'weft.tcp.received', unit: 'By',
    help: 'Bytes received from the destination (server to client), counted when the connection closes.',
    points: (s) => s.tcp.map((t) => ({ attrs: attrs(t.labels), value: t.receivedBytes })),
  },
  {
    kind: 'histogram', prom: 'weft_tcp_connection_duration_seconds', otel: 'weft.tcp.connection.duration', unit: 's',
    help: 'Lifetime of closed TCP connections.',
    points: (s) => s.tcp.map((t) => ({ attrs: attrs(t.labels), value: t.duration })),
  },
  {
    kind: 'counter', prom: 'weft_http_requests_total', otel: 'weft.http.requests', unit: '{request}',
    help: 'HTTP requests (each retry attempt counts), by OTel HTTP semconv attributes.',
    points: (s) => s.http.map((h) => ({ attrs: attrs(h.labels), value: h.requests })),
  },
  {
    kind: 'histogram', prom: 'weft_http_request_duration_seconds', otel: 'http.client.request.duration', unit: 's',
    help: 'HTTP request duration from the proxy\'s view (OTel http.*.request.duration).',
    points: (s) => s.http.map((h) => ({ attrs: attrs(h.labels), value: h.duration })),
  },
  {
    kind: 'counter', prom: 'weft_http_request_body_size_bytes_total', otel: 'weft.http.request.body.size', unit: 'By',
    help: 'HTTP request body bytes.',
    points: (s) => s.http.map((h) => ({ attrs: attrs(h.labels), value: h.requestBytes })),
  },
  {
    kind: 'counter', prom: 'weft_http_response_body_size_bytes_total', otel: 'weft.http.response.body.size', unit: 'By',
    help: 'HTTP response body bytes.',
    points: (s) => s.http.map((h) => ({ attrs: attrs(h.labels), value: h.responseBytes })),
  },
  counter('policy_denials', 'weft_policy_denials_total', 'weft.policy.denials', 'Connections or requests refused by authorization policy.'),
  counter('retries', 'weft_http_retries_total', 'weft.http.retries', 'HTTP retry attempts made.'),
  counter('timeouts', 'weft_http_timeouts_total', 'weft.http.timeouts', 'HTTP requests that hit their timeout.'),
  counter('ejections', 'weft_outlier_ejections_total', 'weft.outlier.ejections', 'Endpoints ejected by the circuit breaker.'),
  counter('detection_timeouts', 'weft_protocol_detection_timeouts_total', 'weft.protocol.detection.timeouts', 'Connections whose first bytes did not arrive in time to detect the protocol.'),
  counter('cert_renewal_failures', 'weft_certificate_renewal_failures_total', 'weft.certificate.renewal_failures', 'Failed attempts to issue or renew a workload certificate (control unreachable or refusing), by identity.'),
  gauge('cert_expiry_seconds', 'weft_certificate_expiry_seconds', 'weft.certificate.expiry', 's', 'Seconds until the workload certificate in use expires (negative once expired); alert when it nears zero.'),
  gauge('control_connected', 'weft_control_connected', 'weft.control.connected', '1', '1 while the config stream to control is connected and synced, else 0 (the agent serves from its last state).'),
  gauge('control_clock_offset_seconds', 'weft_control_clock_offset_seconds', 'weft.control.clock_offset', 's', 'Control\'s clock minus this node\'s, from the signing time in control\'s last CSR answer (to within half a round trip); beyond 5 min certificates look not yet valid or expired.'),
  counter('log_write_failures', 'weft_log_write_failures_total', 'weft.log.write_failures', 'Log lines that could not be written (disk full, closed pipe), by stream; the agent keeps serving.'),
  counter('workload_limited', 'weft_workload_limited_total', 'weft.workload.limited', 'Connections reset (limit="connections") and requests answered 503 (limit="pending_requests") because their source workload was over its per-workload limit on this node.'),
  counter('held_bytes_throttled', 'weft_held_bytes_throttled_total', 'weft.held_bytes.throttled', 'Times a source workload identity held more than WEFT_MAX_HELD_BYTES_PER_WORKLOAD (DATA its readers had not taken) and its sessions\' stream window was lowered to 64 KiB until they drained below half.'),
  gauge('held_bytes', 'weft_held_bytes', 'weft.held_bytes', 'By', 'HTTP/2 DATA the agent holds for a source workload identity (received from a peer, not yet taken by the reader: stalled or slow readers), across its sessions; bounded near WEFT_MAX_HELD_BYTES_PER_WORKLOAD. A series per identity with a session open.'),
  counter('rejected_input', 'weft_rejected_input_total', 'weft.rejected_input', 'Bad input refused by a listener (malformed or oversized HTTP, header timeouts, failed handshakes, bad CONNECT targets), by reason.'),
  counter('otel_dropped', 'weft_otel_dropped_total', 'weft.otel.dropped', 'Spans, log records and metric points the OpenTelemetry export lost, by signal and reason: queue_full (a batch queue was full: the collector is slow or down) or export_failed (the collector refused, timed out or was unreachable). The data plane never waits for the collector.'),
  counter('tap_dropped_events', 'weft_tap_dropped_events_total', 'weft.tap.dropped_events', 'Tap events dropped because a consumer (or the main thread) was slow.'),
];
