// What the agent sends control: HTTP series folded into requests + failures per edge and route
// (5xx, no answer and gRPC errors fail), policies and certs carried; and the stream taps: filter,
// batch cap, drops counted and reported when the stream refuses, the workers' flag kept right.
import t from 'tap';
import type { TapEventsMessage } from '../../../control/api/summary.ts';
import { TAP_BATCH_MAX } from '../../../control/api/summary.ts';
import { Aggregates } from '../../../agent/telemetry/aggregates.ts';
import type { ConnectionLabels } from '../../../agent/telemetry/labels.ts';
import { buildSummary } from '../../../agent/telemetry/summary.ts';
import { SummaryTaps } from '../../../agent/telemetry/summary-taps.ts';
import type { TapEvent } from '../../../agent/telemetry/tap-events.ts';
import type { ConnectionContext } from '../../../agent/telemetry/telemetry.ts';

const labels: ConnectionLabels = {
  direction: 'outbound', source_workload: 'client', source_namespace: 'demo', source_identity: 'id-c',
  destination_workload: 'server', destination_namespace: 'demo', destination_identity: 'id-s', destination_service: 'demo/server', tls: 'mutual',
};

t.test('summary: HTTP folded per edge and route, TCP as is', async (t) => {
  const a = new Aggregates(() => 1000);
  const ctx = { labels } as unknown as ConnectionContext;
  a.openConnection(ctx);
  a.closeConnection(ctx, 10, 20, true);
  const req = (status: number, grpcStatus: number | null = null) => a.request({
    connection: ctx, method: 'GET', status, grpcStatus, route: '/api', serverAddress: 'server', durationSeconds: 0.02, requestBytes: 1, responseBytes: 1, retryAttempt: 0, timedOut: false,
  } as unknown as Parameters<Aggregates['request']>[0]);
  req(200); req(200); req(503); req(0); req(200, 14);
  const s = buildSummary({ snapshot: a.snapshot(), policyCounters: null, policies: {}, certs: [{ identity: 'id-c', state: 'valid', notAfter: '2030-01-01T00:00:00.000Z', rotateAt: null }], startedAt: 5, at: 6 });
  t.match(s.tcp, [{ edge: { sourceWorkload: 'client', destinationService: 'demo/server', direction: 'outbound' }, opened: 1, closed: 1, failed: 1, sentBytes: 10, receivedBytes: 20 }]);
  t.equal(s.http.length, 1, 'one row for the edge and route, whatever the status codes');
  t.match(s.http[0], { route: '/api', requests: 5, failures: 3 }, '503, no answer and a gRPC error fail; 200s succeed');
  t.equal(s.http[0].latency.reduce((x, y) => x + y, 0), 5, 'every request in the latency buckets');
  t.equal(s.boundaries.length + 1, s.http[0].latency.length, 'buckets match the boundaries (+Inf)');
  t.match(s.certs, [{ identity: 'id-c', notAfter: '2030-01-01T00:00:00.000Z' }]);
});

const event = (workload: string): TapEvent => ({
  type: 'connection', at: 'now', direction: 'outbound', path: 'hbone',
  source: { workload: 'client', namespace: 'demo', identity: '', address: '10.0.0.1' },
  destination: { workload, namespace: 'demo', identity: '', address: '10.0.0.2', service: '' },
  tls: 'mutual', bytesSent: 0, bytesReceived: 0, durationMs: 1, outcome: 'ok',
});

t.test('stream taps: filter, cap, drop and report when the stream refuses', async (t) => {
  const sent: TapEventsMessage[] = [];
  let accept = true;
  let count = -1;
  const taps = new SummaryTaps({ send: (m) => (accept ? (sent.push(m), true) : false), onCount: (n) => (count = n), flushMs: 60_000 });
  t.teardown(() => taps.close());
  taps.start('a', { workload: 'server' });
  t.equal(count, 1, 'the workers are told someone taps');
  taps.publish([event('server'), event('other')]);
  taps.flush();
  t.equal(sent.length, 1);
  t.equal(sent[0].events.length, 1, 'only what the filter selects');
  taps.publish(Array.from({ length: TAP_BATCH_MAX + 5 }, () => event('server')));
  accept = false;
  taps.flush();
  accept = true;
  taps.publish([event('server')]);
  taps.flush();
  t.match(sent.at(-1), { tapId: 'a', dropped: TAP_BATCH_MAX + 5, events: [{ type: 'connection' }] }, 'over the cap and refused by the stream: dropped, and said so');
  taps.stopAll();
  t.equal(count, 0, 'a broken stream ends every tap');
});
