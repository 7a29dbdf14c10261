// Validation of the observability frames agents send (summary, tap-events). They come from an
// authenticated agent, but a bug or an old version there must cost one frame, never control's
// memory or a crash: shapes are checked, sizes capped, and anything odd is a protocol error.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { SummaryEdge, SummaryMessage, SummaryPolicyRow, TapEventsMessage } from '../api/summary.ts';
import { SUMMARY_MAX_SERIES, TAP_BATCH_MAX } from '../api/summary.ts';

const MAX_LABEL = 512;
const MAX_BUCKETS = 64;

class Bad extends Error {}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Bad(`${what} must be an object`);
  return v as Record<string, unknown>;
}
function list(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw new Bad(`${what} must be a list`);
  if (v.length > max) throw new Bad(`${what} has ${v.length} entries, more than ${max}`);
  return v;
}
function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Bad(`${what} must be a non-negative number`);
  return v;
}
function text(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length > MAX_LABEL) throw new Bad(`${what} must be a string of at most ${MAX_LABEL} characters`);
  return v;
}
function nullableText(v: unknown, what: string): string | null {
  return v === null ? null : text(v, what);
}
function buckets(v: unknown, what: string): number[] {
  return list(v, what, MAX_BUCKETS).map((c, i) => count(c, `${what}[${i}]`));
}

const EDGE_FIELDS = ['sourceWorkload', 'sourceNamespace', 'sourceIdentity', 'destinationWorkload', 'destinationNamespace', 'destinationIdentity', 'destinationService'] as const;

function edge(v: unknown, what: string): SummaryEdge {
  const o = obj(v, what);
  if (o.direction !== 'outbound' && o.direction !== 'inbound') throw new Bad(`${what}.direction must be outbound or inbound`);
  if (o.tls !== 'mutual' && o.tls !== 'none') throw new Bad(`${what}.tls must be mutual or none`);
  const e = { direction: o.direction, tls: o.tls } as SummaryEdge;
  for (const k of EDGE_FIELDS) e[k] = text(o[k], `${what}.${k}`);
  return e;
}

function checkSummary(o: Record<string, unknown>): SummaryMessage {
  const tcp = list(o.tcp, 'summary.tcp', SUMMARY_MAX_SERIES).map((v, i) => {
    const r = obj(v, `summary.tcp[${i}]`);
    return {
      edge: edge(r.edge, `summary.tcp[${i}].edge`),
      opened: count(r.opened, 'opened'), closed: count(r.closed, 'closed'), failed: count(r.failed, 'failed'),
      sentBytes: count(r.sentBytes, 'sentBytes'), receivedBytes: count(r.receivedBytes, 'receivedBytes'),
      duration: buckets(r.duration, `summary.tcp[${i}].duration`),
    };
  });
  const http = list(o.http, 'summary.http', SUMMARY_MAX_SERIES).map((v, i) => {
    const r = obj(v, `summary.http[${i}]`);
    return {
      edge: edge(r.edge, `summary.http[${i}].edge`), route: text(r.route, 'route'),
      requests: count(r.requests, 'requests'), failures: count(r.failures, 'failures'),
      latency: buckets(r.latency, `summary.http[${i}].latency`),
    };
  });
  const policy = list(o.policy, 'summary.policy', SUMMARY_MAX_SERIES).map((v, i) => {
    const r = obj(v, `summary.policy[${i}]`);
    if (r.kind !== 'denied' && r.kind !== 'audited' && r.kind !== 'closed') throw new Bad(`summary.policy[${i}].kind must be denied, audited or closed`);
    return { kind: r.kind as SummaryPolicyRow['kind'], policy: text(r.policy, 'policy'), source: text(r.source, 'source'), destination: text(r.destination, 'destination'), count: count(r.count, 'count') };
  });
  const names = (v: unknown, what: string): string[] => list(v, what, 256).map((x) => text(x, what));
  const policies = list(o.policies, 'summary.policies', SUMMARY_MAX_SERIES).map((v, i) => {
    const r = obj(v, `summary.policies[${i}]`);
    return {
      workload: text(r.workload, 'workload'), mtls: text(r.mtls, 'mtls'), defaultInbound: text(r.defaultInbound, 'defaultInbound'),
      deny: names(r.deny, 'deny'), allow: names(r.allow, 'allow'), audit: names(r.audit, 'audit'),
    };
  });
  const certs = list(o.certs, 'summary.certs', SUMMARY_MAX_SERIES).map((v, i) => {
    const r = obj(v, `summary.certs[${i}]`);
    return { identity: text(r.identity, 'identity'), state: text(r.state, 'state'), notAfter: nullableText(r.notAfter, 'notAfter'), rotateAt: nullableText(r.rotateAt, 'rotateAt') };
  });
  return {
    type: 'summary',
    startedAt: count(o.startedAt, 'summary.startedAt'),
    at: count(o.at, 'summary.at'),
    boundaries: list(o.boundaries, 'summary.boundaries', MAX_BUCKETS).map((b, i) => count(b, `boundaries[${i}]`)),
    tcp, http, policy, policies, certs,
  };
}

function checkTapEvents(o: Record<string, unknown>): TapEventsMessage {
  const tapId = text(o.tapId, 'tap-events.tapId');
  const events = list(o.events, 'tap-events.events', TAP_BATCH_MAX).map((e, i) => obj(e, `tap-events.events[${i}]`));
  return { type: 'tap-events', tapId, events, dropped: count(o.dropped, 'tap-events.dropped') };
}

/** Parses a summary or tap-events frame (already JSON-decoded); throws WEFT_ERR_STREAM_PROTOCOL. */
export function checkObservabilityMessage(o: Record<string, unknown>): SummaryMessage | TapEventsMessage {
  try {
    return o.type === 'summary' ? checkSummary(o) : checkTapEvents(o);
  } catch (err) {
    if (err instanceof Bad) throw new WeftError(ErrorCodes.STREAM_PROTOCOL, `bad ${String(o.type)} frame: ${err.message}`);
    throw err;
  }
}
