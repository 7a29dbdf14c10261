// The metrics store and views without sockets: cumulative summaries become windowed deltas, each
// connection counts once (outbound leg, or inbound from outside the mesh), a restarted agent
// counts whole, the first summary of an unknown agent is only a baseline, old buckets age out,
// and one success definition serves TCP and HTTP rows.
import t from 'tap';
import type { SummaryEdge, SummaryMessage } from '../../../control/api/summary.ts';
import { MetricsStore } from '../../../control/metrics/metrics-store.ts';
import { golden, newEdgeCounts, quantile } from '../../../control/metrics/golden.ts';
import { overview, policiesView, topology } from '../../../control/metrics/views.ts';
import type { ResourceRecord, WorkloadRecord } from '../../../control/api/model.ts';

const B = [0.001, 0.01, 0.1, 1];
const edge = (over: Partial<SummaryEdge> = {}): SummaryEdge => ({
  direction: 'outbound', sourceWorkload: 'client', sourceNamespace: 'demo', sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/client',
  destinationWorkload: 'server', destinationNamespace: 'demo', destinationIdentity: 'spiffe://cluster.local/ns/demo/sa/server', destinationService: '', tls: 'mutual', ...over,
});
function summary(at: number, startedAt: number, tcp: Array<{ e?: Partial<SummaryEdge>; opened: number; closed: number; failed: number }>, extra: Partial<SummaryMessage> = {}): SummaryMessage {
  return {
    type: 'summary', startedAt, at, boundaries: B,
    tcp: tcp.map((x) => ({ edge: edge(x.e), opened: x.opened, closed: x.closed, failed: x.failed, sentBytes: 0, receivedBytes: 0, duration: [0, x.closed, 0, 0, 0] })),
    http: [], policy: [], policies: [], certs: [], ...extra,
  };
}
const pod = (name: string, node: string): WorkloadRecord => ({
  kind: 'workload', key: `demo/${name}`, uid: name, name, namespace: 'demo', node, ip: '10.0.0.1', serviceAccount: name,
  identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, meshed: true, ready: true,
});
const records: ResourceRecord[] = [pod('client', 'n1'), pod('server', 'n2')];

t.test('deltas, one count per connection, baseline, restart, ageing', async (t) => {
  let now = 1_000_000;
  const m = new MetricsStore({ bucketMs: 5000, windowMs: 60_000, now: () => now });
  m.ingest('n1', summary(now, 1, [{ opened: 100, closed: 100, failed: 0 }]));
  t.equal(m.window(60_000).edges.size, 0, 'the first summary of an unknown agent is a baseline only');
  now += 5000;
  m.ingest('n1', summary(now, 1, [{ opened: 108, closed: 108, failed: 2 }]));
  // The inbound leg of the same connections (peer identity known) must not count again…
  m.ingest('n2', summary(now, 7, [{ e: { direction: 'inbound', sourceWorkload: '' }, opened: 8, closed: 8, failed: 2 }]));
  now += 5000;
  m.ingest('n2', summary(now, 7, [{ e: { direction: 'inbound', sourceWorkload: '' }, opened: 16, closed: 16, failed: 4 }]));
  const ov = overview({ records, metrics: m }, 60_000);
  const server = ov.workloads.find((w) => w.key === 'demo/server');
  t.equal(server?.inbound.requests, 8, 'eight connections, counted once');
  t.equal(server?.inbound.successRate, 0.75, 'TCP success: closed without failure');
  t.equal(server?.inbound.protocol, 'tcp');
  // …but plaintext from outside the mesh (no identity) has only an inbound leg, and counts.
  m.ingest('n2', summary(now + 1, 7, [{ e: { direction: 'inbound', sourceWorkload: '', sourceIdentity: '' }, opened: 3, closed: 3, failed: 0 }]));
  t.equal(topology({ records, metrics: m }, 60_000).edges.find((e) => e.source === '')?.golden.requests, 3, 'outside clients appear as their own edge');
  // A restarted agent (new startedAt) counts its first summary whole.
  now += 5000;
  m.ingest('n1', summary(now, 2, [{ opened: 4, closed: 4, failed: 4 }]));
  t.equal(overview({ records, metrics: m }, 60_000).workloads.find((w) => w.key === 'demo/server')?.inbound.requests, 8 + 3 + 4, 'counters that went back to zero are a new epoch (8 + 3 from outside + 4)');
  now += 120_000;
  m.ingest('n1', summary(now, 2, [{ opened: 4, closed: 4, failed: 4 }]));
  t.equal(m.window(60_000).edges.size, 0, 'buckets older than the window are gone');
});

t.test('one success definition for HTTP and TCP rows', async (t) => {
  const http = newEdgeCounts(B.length + 1);
  http.http = { requests: 10, failures: 1, latency: [0, 5, 5, 0, 0] };
  http.tcp.opened = 1; // the connection the requests rode on: HTTP rows count requests, not it
  const tcp = newEdgeCounts(B.length + 1);
  Object.assign(tcp.tcp, { opened: 4, closed: 4, failed: 1, duration: [0, 0, 4, 0, 0] });
  const g = golden([http, tcp], 10, B);
  t.equal(g.protocol, 'mixed');
  t.equal(g.requests, 14, '10 requests + 4 connections of a TCP-only edge');
  t.equal(g.successRate, 1 - 2 / 14);
  t.equal(g.rate, 1.4);
  t.equal(golden([], 10, B).successRate, null, 'no traffic is unknown, not 0 % or 100 %');
  t.ok(Math.abs((quantile([0, 10, 0, 0, 0], B, 0.5) ?? 0) - 0.0055) < 1e-12, 'interpolated inside the bucket');
  t.equal(quantile([0, 0, 0, 0, 2], B, 0.99), 1, 'the +Inf bucket answers with the largest bound');
});

t.test('policies view: denials name the policy and the workload, with recent events', async (t) => {
  let now = 5_000_000;
  const m = new MetricsStore({ now: () => now });
  const deny = { kind: 'denied' as const, policy: 'demo/deny-web', source: 'spiffe://cluster.local/ns/demo/sa/client', destination: 'demo/server' };
  const pols = [{ workload: 'demo/server', mtls: 'PERMISSIVE', defaultInbound: 'allow', deny: ['demo/deny-web'], allow: [], audit: [] }];
  m.ingest('n2', summary(now, 1, [], { policy: [{ ...deny, count: 1 }], policies: pols }));
  now += 1000;
  m.ingest('n2', summary(now, 1, [], { policy: [{ ...deny, count: 4 }], policies: pols }));
  const policyRecord: ResourceRecord = { kind: 'policy', key: 'demo/deny-web', name: 'deny-web', namespace: 'demo', meshWide: false, action: 'DENY', target: { kind: 'namespace' }, rules: [] };
  const v = policiesView({ records: [...records, policyRecord], metrics: m }, 900_000) as { policies: Array<{ key: string; enforcedOn: string[]; denied: Array<{ total: number; recent: number; destination: string }> }>; recent: Array<{ count: number }> };
  t.same(v.policies[0].enforcedOn, ['demo/server']);
  t.match(v.policies[0].denied, [{ destination: 'demo/server', total: 4, recent: 3 }], 'total from the counters, recent from their growth');
  t.match(v.recent, [{ count: 3 }]);
});
