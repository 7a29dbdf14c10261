// The compact golden-metrics summary an agent sends control over the config stream: its merged
// aggregates reduced to per-edge counters (status codes folded into requests + failures, label
// names shortened), its policy counters and enforced policies, and its certificates' expiry.
// A pure function of what the agent already keeps, so it is table-tested without an agent.
import type { SummaryCert, SummaryEdge, SummaryHttp, SummaryMessage, SummaryPolicyRow, SummaryTcp, SummaryWorkloadPolicy } from '../../control/api/summary.ts';
import { SUMMARY_MAX_SERIES } from '../../control/api/summary.ts';
import type { PolicyCountersJson } from '../policy/counters.ts';
import type { DescribedWorkloadPolicy } from '../policy/describe.ts';
import type { TelemetrySnapshot } from './aggregates.ts';
import { DURATION_BOUNDARIES } from './histogram.ts';
import type { ConnectionLabels } from './labels.ts';

export interface SummaryInput {
  snapshot: TelemetrySnapshot;
  policyCounters: PolicyCountersJson | null;
  policies: Record<string, DescribedWorkloadPolicy>;
  certs: ReadonlyArray<{ identity: string; state: string; notAfter: string | null; rotateAt: string | null }>;
  startedAt: number;
  at: number;
}

function edgeOf(l: ConnectionLabels): SummaryEdge {
  return {
    direction: l.direction,
    sourceWorkload: l.source_workload,
    sourceNamespace: l.source_namespace,
    sourceIdentity: l.source_identity,
    destinationWorkload: l.destination_workload,
    destinationNamespace: l.destination_namespace,
    destinationIdentity: l.destination_identity,
    destinationService: l.destination_service,
    tls: l.tls,
  };
}

function edgeKey(e: SummaryEdge): string {
  return [e.direction, e.sourceWorkload, e.sourceNamespace, e.sourceIdentity, e.destinationWorkload, e.destinationNamespace, e.destinationIdentity, e.destinationService, e.tls].join('\u0001');
}

/** The one success definition for HTTP: an answer that is not a 5xx and not a gRPC error. */
export function isHttpFailure(status: string, grpcStatus: string): boolean {
  const code = Number(status || '0');
  return code === 0 || code >= 500 || (grpcStatus !== '' && grpcStatus !== '0');
}

export function buildSummary(input: SummaryInput): SummaryMessage {
  const tcp: SummaryTcp[] = input.snapshot.tcp.map((s) => ({
    edge: edgeOf(s.labels),
    opened: s.opened,
    closed: s.closed,
    failed: s.failed,
    sentBytes: s.sentBytes,
    receivedBytes: s.receivedBytes,
    duration: [...s.duration.counts],
  }));
  // Methods and status codes fold into one row per edge and route: the dashboard needs rates,
  // success and latency, not the status breakdown (that stays on /metrics).
  const http = new Map<string, SummaryHttp>();
  for (const s of input.snapshot.http) {
    const edge = edgeOf(s.labels);
    const k = edgeKey(edge) + '\u0002' + s.labels.http_route;
    let row = http.get(k);
    if (row === undefined) http.set(k, (row = { edge, route: s.labels.http_route, requests: 0, failures: 0, latency: new Array<number>(DURATION_BOUNDARIES.length + 1).fill(0) }));
    row.requests += s.requests;
    if (isHttpFailure(s.labels.http_response_status_code, s.labels.rpc_grpc_status_code)) row.failures += s.requests;
    for (let i = 0; i < row.latency.length; i++) row.latency[i] += s.duration.counts[i] ?? 0;
  }
  // Bounded: past the cap keep the busiest series (cumulative counts rank them stably).
  const tcpRows = tcp.length > SUMMARY_MAX_SERIES ? tcp.sort((a, b) => b.opened - a.opened).slice(0, SUMMARY_MAX_SERIES) : tcp;
  let httpRows = [...http.values()];
  if (httpRows.length > SUMMARY_MAX_SERIES) httpRows = httpRows.sort((a, b) => b.requests - a.requests).slice(0, SUMMARY_MAX_SERIES);
  const policy: SummaryPolicyRow[] = (input.policyCounters?.rows ?? []).slice(0, SUMMARY_MAX_SERIES).map((r) => ({ ...r }));
  const policies: SummaryWorkloadPolicy[] = Object.entries(input.policies).map(([workload, p]) => ({
    workload,
    mtls: p.mtls,
    defaultInbound: p.defaultInbound,
    deny: p.deny.map((x) => x.policy),
    allow: p.allow.map((x) => x.policy),
    audit: p.audit.map((x) => x.policy),
  }));
  const certs: SummaryCert[] = input.certs.map((c) => ({ identity: c.identity, state: c.state, notAfter: c.notAfter, rotateAt: c.rotateAt }));
  return { type: 'summary', startedAt: input.startedAt, at: input.at, boundaries: [...DURATION_BOUNDARIES], tcp: tcpRows, http: httpRows, policy, policies, certs };
}
