// Unit: recording, merging, Prometheus text, golden metrics and tap filters — no sockets.
import t from 'tap';
import { Aggregates, mergeSnapshots, MAX_SERIES } from '../../../agent/telemetry/aggregates.ts';
import { goldenStats, edges } from '../../../agent/telemetry/golden.ts';
import { newHistogram, quantile, recordHistogram } from '../../../agent/telemetry/histogram.ts';
import { renderPrometheus } from '../../../agent/telemetry/prometheus.ts';
import { TelemetryRecorder } from '../../../agent/telemetry/recorder.ts';
import { TapBuffer, newTapFlag } from '../../../agent/telemetry/tap-buffer.ts';
import { matchesTap, parseTapFilter, type TapEvent } from '../../../agent/telemetry/tap-events.ts';
import { connectionContext, type ConnectionContext } from '../../../agent/telemetry/telemetry.ts';
import type { WorkloadRecord } from '../../../control/api/model.ts';
import { parseProm, sumOf } from './prom-parse.ts';

const wl = (name: string, ns = 'demo', extra: Partial<WorkloadRecord> = {}): WorkloadRecord => ({
  kind: 'workload', key: `${ns}/${name}-1`, uid: name, name: `${name}-1`, namespace: ns, node: 'n1', ip: '10.0.0.1',
  serviceAccount: name, identity: `spiffe://cluster.local/ns/${ns}/sa/${name}`, labels: { app: name }, meshed: true, ready: true, ...extra,
});
const ctx = (src = 'client', dst = 'server', service?: string): ConnectionContext => connectionContext({
  direction: 'outbound', path: 'outbound_hbone', source: wl(src), destination: wl(dst), service, tls: 'mutual',
  sourceAddress: '10.0.0.1:5000', destinationAddress: '10.0.0.2:8080',
});

t.test('labels are bounded: app label, identity, service; no addresses', async (t) => {
  const c = ctx('client', 'server', 'demo/server');
  t.same(c.labels, {
    direction: 'outbound', source_workload: 'client', source_namespace: 'demo', source_identity: 'spiffe://cluster.local/ns/demo/sa/client',
    destination_workload: 'server', destination_namespace: 'demo', destination_identity: 'spiffe://cluster.local/ns/demo/sa/server',
    destination_service: 'demo/server', tls: 'mutual',
  });
  const unmeshed = connectionContext({ direction: 'outbound', path: 'outbound_passthrough', source: wl('x', 'legacy', { meshed: false }), tls: 'none', sourceAddress: '', destinationAddress: '' });
  t.equal(unmeshed.labels.source_workload, '', 'an unmeshed source has no identity to speak of');
});

t.test('open/close count once per connection; merge sums workers', async (t) => {
  let now = 1000;
  const a = new Aggregates(() => now);
  const c1 = ctx();
  a.openConnection(c1);
  now = 1500;
  a.closeConnection(c1, 100, 200, false);
  a.closeConnection(c1, 100, 200, false);
  const c2 = ctx();
  a.openConnection(c2);
  a.closeConnection(c2, 1, 2, true);
  const s = a.snapshot();
  t.equal(s.tcp.length, 1, 'same labels, one series');
  t.match(s.tcp[0], { opened: 2, closed: 2, failed: 1, sentBytes: 101, receivedBytes: 202 });
  t.equal(s.tcp[0].duration.count, 2);
  t.equal(s.tcp[0].duration.sum, 0.5);
  const m = mergeSnapshots([s, s, { tcp: [], http: [], counters: [{ name: 'tap_dropped_events', labels: { stage: 'consumer' }, value: 3 }] }]);
  t.match(m.tcp[0], { opened: 4, sentBytes: 202 });
  t.equal(m.tcp[0].duration.count, 4);
  t.equal(m.counters[0].value, 3);
});

t.test('connections of one series share one labels object, equal to what each was built with', async (t) => {
  const a = new Aggregates(() => 1000);
  const c1 = ctx();
  const c2 = ctx();
  const other = ctx('client', 'other');
  const expected = { ...c2.labels };
  t.not(c1.labels, c2.labels, 'two objects before opened()');
  a.openConnection(c1);
  a.openConnection(c2);
  a.openConnection(other);
  t.equal(c2.labels, c1.labels, 'the second keeps the first one\'s labels');
  t.same(c2.labels, expected, 'with the same values');
  t.not(other.labels, c1.labels, 'another destination keeps its own');
  t.equal(other.labels.destination_workload, 'other');
  t.equal(a.tcp.size, 2);
  t.equal([...a.tcp.values()][0].opened, 2);
});

t.test('series are capped: new label sets fold into overflow', async (t) => {
  const a = new Aggregates();
  for (let i = 0; i < MAX_SERIES + 10; i++) a.openConnection(ctx(`c${i}`));
  t.equal(a.tcp.size, MAX_SERIES + 1);
  t.ok([...a.tcp.values()].some((s) => s.labels.source_workload === 'overflow' && s.opened === 10));
  const late = ctx('late');
  a.openConnection(late);
  t.equal(late.labels.source_workload, 'late', 'a connection counted in the overflow series keeps its own labels (tap, spans)');
});

t.test('HTTP requests: semconv labels, method normalized, retries and timeouts counted', async (t) => {
  const a = new Aggregates();
  const base = { connection: ctx('client', 'server', 'demo/server'), route: 'get-items', path: '/items/1', serverAddress: 'server.demo', durationSeconds: 0.02, requestBytes: 10, responseBytes: 20, grpcStatus: null };
  a.request({ ...base, method: 'GET', status: 200, retryAttempt: 0, timedOut: false });
  a.request({ ...base, method: 'FROB', status: 503, retryAttempt: 1, timedOut: true });
  const text = renderPrometheus(a.snapshot());
  const s = parseProm(text);
  t.equal(sumOf(s, 'weft_http_requests_total', { http_request_method: 'GET', http_response_status_code: '200', http_route: 'get-items', server_address: 'server.demo' }), 1);
  t.equal(sumOf(s, 'weft_http_requests_total', { http_request_method: '_OTHER', http_response_status_code: '503' }), 1);
  t.equal(sumOf(s, 'weft_http_retries_total', { destination_service: 'demo/server' }), 1);
  t.equal(sumOf(s, 'weft_http_timeouts_total', { destination_service: 'demo/server' }), 1);
  t.notOk(text.includes('/items/1'), 'never the raw path');
  t.equal(sumOf(s, 'weft_http_request_duration_seconds_bucket', { http_request_method: 'GET', le: '0.025' }), 1);
  t.equal(sumOf(s, 'weft_http_request_duration_seconds_bucket', { http_request_method: 'GET', le: '0.01' }), 0);
  const g = goldenStats('service', { now: a.snapshot(), base: undefined, seconds: 10 });
  t.equal(g[0].http?.requests, 2);
  t.equal(g[0].http?.successRate, 0.5);
  t.equal(g[0].http?.requestRate, 0.2);
});

t.test('one connection, requests whose labels change from one to the next: each lands in its own series', async (t) => {
  // The recorder remembers a connection's last series; this alternates every label it keys on, on
  // one connection and on two, and counts per label set by hand (the oracle is the loop below).
  const a = new Aggregates();
  const c1 = ctx('client', 'server', 'demo/server');
  const c2 = ctx('other', 'server', 'demo/server');
  const base = { route: '', path: '/', durationSeconds: 0.001, requestBytes: 1, responseBytes: 2, retryAttempt: 0, timedOut: false };
  const variants = [
    { method: 'GET', status: 200, route: '', serverAddress: 'server.demo', grpcStatus: null },
    { method: 'GET', status: 503, route: '', serverAddress: 'server.demo', grpcStatus: null },
    { method: 'POST', status: 200, route: '', serverAddress: 'server.demo', grpcStatus: null },
    { method: 'GET', status: 200, route: 'r1', serverAddress: 'server.demo', grpcStatus: null },
    { method: 'GET', status: 200, route: '', serverAddress: 'server.demo:8080', grpcStatus: null },
    { method: 'POST', status: 200, route: '', serverAddress: 'server.demo', grpcStatus: 14 },
  ];
  const want = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const v = variants[(i * 7) % variants.length];
    const conn = i % 3 === 0 ? c2 : c1;
    a.request({ ...base, ...v, connection: conn });
    const k = `${conn.labels.source_workload} ${v.method} ${v.status} ${v.route} ${v.serverAddress} ${v.grpcStatus}`;
    want.set(k, (want.get(k) ?? 0) + 1);
  }
  const got = new Map<string, number>();
  for (const s of a.snapshot().http) {
    const l = s.labels;
    got.set(`${l.source_workload} ${l.http_request_method} ${l.http_response_status_code} ${l.http_route} ${l.server_address} ${l.rpc_grpc_status_code === '' ? null : l.rpc_grpc_status_code}`, s.requests);
  }
  t.same(Object.fromEntries([...got].sort()), Object.fromEntries([...want].sort()));
});

t.test('Prometheus text escapes values and leaves empty labels out', async (t) => {
  const a = new Aggregates();
  const c = ctx();
  (c.labels as { destination_service: string }).destination_service = 'we"ird\\svc';
  a.openConnection(c);
  const text = renderPrometheus(a.snapshot());
  t.match(text, /destination_service="we\\"ird\\\\svc"/);
  const s = parseProm(text);
  t.equal(s.find((x) => x.name === 'weft_tcp_connections_opened_total')?.labels.destination_service, 'we"ird\\svc');
  const un = new Aggregates();
  un.openConnection(connectionContext({ direction: 'inbound', path: 'inbound_plaintext', tls: 'none', sourceAddress: '', destinationAddress: '' }));
  t.notMatch(renderPrometheus(un.snapshot()), /source_workload=""/);
});

t.test('golden metrics: windowed rates and failure rate; edges', async (t) => {
  const a = new Aggregates();
  for (let i = 0; i < 4; i++) { const c = ctx('client', 'server', 'demo/server'); a.openConnection(c); a.closeConnection(c, 10, 10, i === 0); }
  const base = structuredClone(a.snapshot());
  for (let i = 0; i < 6; i++) { const c = ctx('client', 'server', 'demo/server'); a.openConnection(c); a.closeConnection(c, 10, 10, false); }
  const [row] = goldenStats('service', { now: a.snapshot(), base, seconds: 3 });
  t.equal(row.tcp.connectionsOpened, 10, 'totals are cumulative');
  t.equal(row.tcp.connectionRate, 2, 'rate covers the window');
  t.equal(row.tcp.failureRate, 0, 'the failure was before the window');
  t.same(goldenStats('workload', { now: a.snapshot(), base, seconds: 3 }), [], 'an outbound cross-node leg is not what a workload served');
  const [e] = edges(a.snapshot());
  t.match(e, { source: { workload: 'client' }, destination: { workload: 'server' }, services: ['demo/server'], connections: 10, failed: 1 });
});

t.test('histogram quantiles interpolate inside buckets', async (t) => {
  const h = newHistogram();
  t.equal(quantile(h, 0.5), null);
  for (let i = 0; i < 100; i++) recordHistogram(h, 0.04);
  const p50 = quantile(h, 0.5) ?? 0;
  t.ok(p50 > 0.025 && p50 <= 0.05, `p50 ${p50} in the 25–50 ms bucket`);
});

const ev = (over: Partial<TapEvent> = {}): TapEvent => ({
  type: 'connection', at: '', direction: 'outbound', path: 'outbound_hbone',
  source: { workload: 'client', namespace: 'demo', identity: '', address: '' },
  destination: { workload: 'server', namespace: 'prod', identity: '', address: '', service: 'prod/server' },
  tls: 'mutual', bytesSent: 0, bytesReceived: 0, durationMs: 0, outcome: 'ok', ...over,
} as TapEvent);

t.test('tap filters', async (t) => {
  const f = (q: string) => parseTapFilter(new URLSearchParams(q));
  t.ok(matchesTap(f('namespace=prod'), ev()), 'either end');
  t.ok(matchesTap(f('workload=client'), ev()));
  t.notOk(matchesTap(f('workload=other'), ev()));
  t.ok(matchesTap(f('service=server'), ev()), 'service by short name');
  t.ok(matchesTap(f('service=prod/server'), ev()));
  t.notOk(matchesTap(f('method=GET'), ev()), 'request filters never match connections');
  const req = { ...ev(), type: 'request', method: 'GET', path: '/api/x', status: 503, authority: '', grpcStatus: null, requestBytes: 0, responseBytes: 0, retryAttempt: 0, timedOut: false } as TapEvent;
  t.ok(matchesTap(f('method=get&path_prefix=/api&status_class=5xx'), req));
  t.notOk(matchesTap(f('status_class=2xx'), req));
  t.throws(() => f('pod=x'), /unknown tap filter/);
  t.throws(() => f('status_class=9xx'), /status_class/);
});

t.test('recorder: tap events only while the flag is up; worker drops counted', async (t) => {
  const flag = newTapFlag();
  const posted: unknown[][] = [];
  let rec: TelemetryRecorder | undefined;
  const tap = new TapBuffer({ flag, post: (e) => posted.push(e), onDrop: (n) => rec?.tapDropped(n), maxBatch: 2, flushMs: 1 });
  const lines: string[] = [];
  rec = new TelemetryRecorder({ tap, accessLog: (l) => lines.push(l) });
  const one = (): void => { const c = ctx(); rec?.opened(c); rec?.closed(c, 5, 6, undefined); };
  one();
  t.equal(lines.length, 1, 'access log line');
  t.match(JSON.parse(lines[0]), { accessLog: true, type: 'connection', bytesSent: 5, bytesReceived: 6, outcome: 'ok' });
  Atomics.store(flag, 0, 1);
  one(); one(); one();
  tap.close();
  t.equal(posted.flat().length, 2, 'the batch is bounded');
  t.equal(rec.aggregates.snapshot().counters.find((c) => c.name === 'tap_dropped_events')?.value, 1, 'the overflow is counted');
});

t.test('held bytes: levels read at snapshot time, summed over workers by identity; throttles counted', async (t) => {
  const w1 = new TelemetryRecorder();
  const w2 = new TelemetryRecorder();
  const id = 'spiffe://cluster.local/ns/demo/sa/app';
  w1.watchHeldBytes(() => [{ key: id, held: 3000 }, { key: 'spiffe://cluster.local/ns/demo/sa/b', held: 0 }]);
  w2.watchHeldBytes(() => [{ key: id, held: 500 }]);
  w1.heldBytesThrottled(id);
  w2.heldBytesThrottled(id);
  w2.heldBytesThrottled(id);
  const prom = parseProm(renderPrometheus(mergeSnapshots([w1.aggregates.snapshot(), w2.aggregates.snapshot()])));
  t.equal(sumOf(prom, 'weft_held_bytes', { source_identity: id }), 3500, 'one series per identity, the workers\' levels added');
  t.equal(prom.filter((s) => s.name === 'weft_held_bytes').length, 2, 'a series per identity, not per worker');
  t.equal(sumOf(prom, 'weft_held_bytes_throttled_total', { source_identity: id }), 3);
  t.notOk('gauges' in new TelemetryRecorder().aggregates.snapshot(), 'a worker with no budget adds no gauges');
});
