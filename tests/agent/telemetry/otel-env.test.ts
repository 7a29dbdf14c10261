// In-process, real exporters against real receivers on loopback: every standard OTEL_* variable
// Weft supports is set here and checked by what a receiver got (or, for console, what was
// printed). The receivers decode independently of the SDK: the HTTP one with the hand-written
// protobuf reader (tests/common/otlp-protobuf.ts) or JSON.parse, the gRPC one with grpc-js and the
// .proto subset in tests/common/otlp-proto/. The SDK reads process.env when a provider is built,
// so each case sets process.env for its duration.
import t, { type Test } from 'tap';
import { Aggregates } from '../../../agent/telemetry/aggregates.ts';
import { startOtlpMetrics } from '../../../agent/telemetry/otlp-metrics.ts';
import { endClientSpan, startClientSpan, type SpannedRequest } from '../../../agent/telemetry/request-spans.ts';
import { connectionContext } from '../../../agent/telemetry/telemetry.ts';
import { createSpanRecorder } from '../../../agent/telemetry/tracing.ts';
import { agentResource } from '../../../agent/telemetry/worker-otel.ts';
import { createLogger } from '../../../common/log.ts';
import { otelExportEnabled, type OtelSignal } from '../../../common/otel/export-enabled.ts';
import { startProcessLogs } from '../../../common/otel/process-logs.ts';
import { resourceFromEnv, type DropReason } from '../../../common/otel/sdk-env.ts';
import { startOtlpGrpcReceiver } from '../../common/otlp-grpc-receiver.ts';
import { flattenLogs, flattenMetrics, flattenSpans, startOtlpReceiver, type OtlpReceiver, type OtlpRequest } from '../../common/otlp-receiver.ts';
import { listGet } from '../../../agent/http/header-list.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const TP = `00-${TRACE}-${PARENT}-01`;
const log = createLogger('otel-env-test');

const OTEL_KEYS = (): string[] => Object.keys(process.env).filter((k) => k.startsWith('OTEL_'));

/** process.env holds exactly `vars` among OTEL_* for the rest of the test. */
function withEnv(t: Test, vars: Record<string, string>): void {
  const saved = Object.fromEntries(OTEL_KEYS().map((k) => [k, process.env[k]]));
  for (const k of OTEL_KEYS()) delete process.env[k];
  Object.assign(process.env, vars);
  t.teardown(() => {
    for (const k of OTEL_KEYS()) delete process.env[k];
    Object.assign(process.env, saved);
  });
}

interface Run {
  drops: Array<{ signal: OtelSignal; reason: DropReason; n: number }>;
  /** The traceparent the client span sent upstream. */
  sent: string;
}

/**
 * What an agent does with the env in place: one client span (child of TP), one metrics export of
 * a known connection, a warning and an access record as log records. Flushes and shuts all down.
 */
async function exportAll(opts: { flush?: boolean } = {}): Promise<Run> {
  const env = (k: string): string | undefined => process.env[k];
  const drops: Run['drops'] = [];
  const onDrop = (signal: OtelSignal, reason: DropReason, n: number): void => { drops.push({ signal, reason, n }); };
  const defaults = agentResource('n9');
  let sent = '';
  if (otelExportEnabled(env, 'TRACES')) {
    const rec = createSpanRecorder({ env, log, resource: await resourceFromEnv(defaults), onDrop });
    const r: SpannedRequest = { method: 'GET', path: '/x', authority: 'server.demo', headers: ['traceparent', TP] };
    endClientSpan(startClientSpan(rec, undefined, r, ''), { status: 200, endpoint: undefined, retries: 0, error: undefined });
    sent = listGet(r.headers, 'traceparent') ?? '';
    if (opts.flush !== false) await rec.forceFlush().catch(() => {});
    await rec.shutdown().catch(() => {});
  }
  const a = new Aggregates();
  const c = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: 'spiffe://cluster.local/ns/a/sa/b', tls: 'mutual', sourceAddress: '', destinationAddress: '' });
  a.openConnection(c);
  a.closeConnection(c, 7, 9, false);
  const m = await startOtlpMetrics({ env, collect: async () => a.snapshot(), log, resource: defaults, startedAt: Date.now() - 1000, onDrop });
  if (m !== null) {
    if (opts.flush !== false) await m.forceFlush().catch(() => {});
    await m.shutdown().catch(() => {});
  }
  if (otelExportEnabled(env, 'LOGS')) {
    const logs = await startProcessLogs({ scope: 'weft-agent', resource: defaults, log, onDrop });
    createLogger('agent.worker0.policy', { write: () => {} }).warn('request denied by policy', { code: 'WEFT_ERR_POLICY_DENIED', path: '/p?token=REDACTED' });
    logs.access({ type: 'request', method: 'GET', path: '/x', status: 200, outcome: 'ok', source: { workload: 'client' } }, TP);
    if (opts.flush !== false) await logs.forceFlush().catch(() => {});
    await logs.shutdown().catch(() => {});
  }
  return { drops, sent };
}

const of = (rx: { requests: OtlpRequest[] }, path: string): OtlpRequest[] => rx.requests.filter((r) => r.path === path);

async function receivers(t: Test): Promise<{ http: OtlpReceiver; grpc: OtlpReceiver }> {
  const http = await startOtlpReceiver();
  const grpc = await startOtlpGrpcReceiver();
  t.teardown(() => Promise.all([http.close(), grpc.close()]));
  return { http, grpc };
}

for (const protocol of ['grpc', 'http/protobuf', 'http/json'] as const) {
  t.test(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: traces, metrics and logs with endpoint, headers, compression, timeout and resource`, async (t) => {
    const rx = await receivers(t);
    const target = protocol === 'grpc' ? rx.grpc : rx.http;
    withEnv(t, {
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${target.port}`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-weft-key=k1,x-tenant=acme',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_TIMEOUT: '7000',
      OTEL_SERVICE_NAME: 'edge-agent',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=mesh',
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_BLRP_SCHEDULE_DELAY: '50',
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    const run = await exportAll();
    t.same(run.drops, [], 'nothing dropped');
    for (const path of ['/v1/traces', '/v1/metrics', '/v1/logs']) {
      const got = of(target, path);
      t.ok(got.length > 0, `${path} reached the receiver`);
      t.same([...new Set(got.map((r) => r.protocol))], [protocol], `${path} in ${protocol}`);
      t.equal(got[0].headers?.['x-weft-key'], 'k1', `${path}: OTEL_EXPORTER_OTLP_HEADERS sent`);
      t.equal(got[0].headers?.['x-tenant'], 'acme');
      t.equal(got[0].compression, 'gzip', `${path}: OTEL_EXPORTER_OTLP_COMPRESSION=gzip`);
      if (protocol === 'grpc') {
        // The gRPC exporter sends its timeout as the call's deadline: the receiver can read it.
        t.ok(got[0].deadlineMs !== undefined && got[0].deadlineMs > 5000 && got[0].deadlineMs <= 7000, `${path}: deadline from OTEL_EXPORTER_OTLP_TIMEOUT (${got[0].deadlineMs} ms)`);
      }
    }
    const spans = of(target, '/v1/traces').flatMap((r) => flattenSpans(r.body));
    t.equal(spans.length, 1);
    t.equal(spans[0].traceId, TRACE, 'the caller\'s trace');
    t.equal(spans[0].parentSpanId, PARENT, 'child of the caller\'s span');
    t.equal(spans[0].kind, 3, 'SPAN_KIND_CLIENT');
    t.equal(spans[0].resource['service.name'], 'edge-agent', 'OTEL_SERVICE_NAME wins over the default');
    t.equal(spans[0].resource['deployment.environment'], 'test', 'OTEL_RESOURCE_ATTRIBUTES');
    t.equal(spans[0].resource['team'], 'mesh');
    t.equal(spans[0].resource['k8s.node.name'], 'n9', 'our defaults stay');
    const points = of(target, '/v1/metrics').flatMap((r) => flattenMetrics(r.body));
    t.equal(points.find((p) => p.metric === 'weft.tcp.sent')?.value, 7, 'metric value');
    t.equal(points.find((p) => p.metric === 'weft.tcp.connection.duration')?.value, 1, 'histogram count');
    t.equal(points[0]?.resource['service.name'], 'edge-agent');
    const logs = of(target, '/v1/logs').flatMap((r) => flattenLogs(r.body));
    const warn = logs.find((l) => l.body === 'request denied by policy');
    t.equal(warn?.severityNumber, 13, 'SEVERITY_NUMBER_WARN');
    t.equal(warn?.severityText, 'WARN');
    t.equal(warn?.attributes['weft.component'], 'agent.worker0.policy');
    t.equal(warn?.attributes.code, 'WEFT_ERR_POLICY_DENIED');
    t.equal(warn?.attributes.path, '/p?token=REDACTED', 'the fields as logged (already redacted)');
    t.equal(warn?.traceId, '', 'not request-scoped: no trace context');
    t.equal(warn?.resource['service.name'], 'edge-agent');
    const access = logs.find((l) => l.attributes['event.name'] === 'weft.access');
    t.equal(access?.traceId, TRACE, 'the access record is in the request\'s trace');
    t.equal(access?.spanId, PARENT);
    t.equal(access?.attributes['source.workload'], 'client');
    t.equal(access?.scope, 'weft-agent');
  });
}

t.test('per-signal settings win over the general ones: each signal to its own receiver and encoding', async (t) => {
  const rx = await receivers(t);
  const json = await startOtlpReceiver();
  t.teardown(() => json.close());
  withEnv(t, {
    // The general endpoint is a closed port: anything that used it would be dropped, not received.
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${rx.grpc.port}`,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-signal=traces',
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '4000',
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'none',
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${rx.http.port}/v1/metrics`,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-signal=metrics',
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'gzip',
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '4000',
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `http://127.0.0.1:${json.port}/v1/logs`,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'x-signal=logs',
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: 'gzip',
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '4000',
    OTEL_METRIC_EXPORT_INTERVAL: '600000',
  });
  const run = await exportAll();
  t.same(run.drops, []);
  const tr = of(rx.grpc, '/v1/traces');
  t.equal(tr[0]?.protocol, 'grpc', 'traces: _TRACES_PROTOCOL and _TRACES_ENDPOINT');
  t.equal(tr[0]?.headers?.['x-signal'], 'traces', '_TRACES_HEADERS');
  t.equal(tr[0]?.compression, 'none', '_TRACES_COMPRESSION');
  t.ok((tr[0]?.deadlineMs ?? 0) <= 4000 && (tr[0]?.deadlineMs ?? 0) > 2000, `_TRACES_TIMEOUT as deadline (${tr[0]?.deadlineMs})`);
  const me = of(rx.http, '/v1/metrics');
  t.equal(me[0]?.protocol, 'http/protobuf', 'metrics: _METRICS_PROTOCOL and _METRICS_ENDPOINT');
  t.equal(me[0]?.headers?.['x-signal'], 'metrics');
  t.equal(me[0]?.compression, 'gzip');
  const lo = of(json, '/v1/logs');
  t.equal(lo[0]?.protocol, 'http/json', 'logs: _LOGS_PROTOCOL and _LOGS_ENDPOINT');
  t.equal(lo[0]?.headers?.['x-signal'], 'logs');
  t.equal(lo[0]?.compression, 'gzip');
  t.equal(of(rx.http, '/v1/traces').length + of(rx.http, '/v1/logs').length + of(rx.grpc, '/v1/metrics').length, 0, 'no signal went elsewhere');
});

t.test('OTEL_<SIGNAL>_EXPORTER=none and OTEL_SDK_DISABLED switch a signal off; console prints', async (t) => {
  const rx = await receivers(t);
  const base = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${rx.http.port}`, OTEL_METRIC_EXPORT_INTERVAL: '600000' };
  const none = { ...base, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' };
  const env = (v: Record<string, string>) => (k: string): string | undefined => v[k];
  for (const s of ['TRACES', 'METRICS', 'LOGS'] as const) {
    t.notOk(otelExportEnabled(env(none), s), `${s}: exporter none`);
    t.notOk(otelExportEnabled(env({ ...base, OTEL_SDK_DISABLED: 'true' }), s), `${s}: SDK disabled`);
    t.ok(otelExportEnabled(env(base), s), `${s}: on with an endpoint`);
    t.notOk(otelExportEnabled(env({}), s), `${s}: off with nothing set (Weft exports only when asked)`);
    t.ok(otelExportEnabled(env({ [`OTEL_${s}_EXPORTER`]: 'console' }), s), `${s}: an exporter named is enough`);
  }
  await t.test('none: nothing reaches the receiver', async (t) => {
    withEnv(t, none);
    await exportAll();
    t.equal(rx.http.requests.length, 0);
  });
  await t.test('disabled: nothing reaches the receiver', async (t) => {
    withEnv(t, { ...base, OTEL_SDK_DISABLED: 'true' });
    await exportAll();
    t.equal(rx.http.requests.length, 0);
  });
  await t.test('only traces off: metrics and logs still go', async (t) => {
    withEnv(t, { ...base, OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    await exportAll();
    t.same([...new Set(rx.http.requests.map((r) => r.path))].sort(), ['/v1/logs', '/v1/metrics']);
    rx.http.requests.length = 0;
  });
  await t.test('console: printed on stdout, nothing sent', async (t) => {
    withEnv(t, { OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'console', OTEL_LOGS_EXPORTER: 'console', OTEL_METRIC_EXPORT_INTERVAL: '600000' });
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => { out.push(String(chunk)); return true; }) as typeof process.stdout.write;
    try {
      await exportAll();
    } finally {
      process.stdout.write = write;
    }
    const text = out.join('');
    t.match(text, TRACE, 'the span printed');
    t.match(text, 'weft.tcp.sent', 'the metrics printed');
    t.match(text, 'request denied by policy', 'the log record printed');
    t.equal(rx.http.requests.length, 0);
  });
});

t.test('OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG decide what the receiver gets', async (t) => {
  const rx = await receivers(t);
  const cases: Array<{ sampler: string; arg?: string; parent: string | undefined; exported: boolean }> = [
    { sampler: 'always_off', parent: TP, exported: false },
    { sampler: 'always_on', parent: TP.replace(/01$/, '00'), exported: true },
    { sampler: 'traceidratio', arg: '0', parent: TP, exported: false },
    { sampler: 'traceidratio', arg: '1', parent: undefined, exported: true },
    { sampler: 'parentbased_traceidratio', arg: '0', parent: TP, exported: true },
    { sampler: 'parentbased_traceidratio', arg: '0', parent: undefined, exported: false },
    { sampler: 'parentbased_always_off', parent: TP, exported: true },
    { sampler: 'parentbased_always_off', parent: undefined, exported: false },
    { sampler: 'parentbased_always_on', parent: TP.replace(/01$/, '00'), exported: false },
  ];
  for (const c of cases) {
    await t.test(`${c.sampler}${c.arg === undefined ? '' : `=${c.arg}`}, ${c.parent === undefined ? 'no parent' : c.parent.endsWith('01') ? 'sampled parent' : 'unsampled parent'}`, async (t) => {
      withEnv(t, {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${rx.grpc.port}`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: c.sampler, ...(c.arg === undefined ? {} : { OTEL_TRACES_SAMPLER_ARG: c.arg }),
        OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none',
      });
      rx.grpc.requests.length = 0;
      const rec = createSpanRecorder({ env: (k) => process.env[k], log, resource: await resourceFromEnv({}) });
      const r: SpannedRequest = { method: 'GET', path: '/', authority: 's', headers: c.parent === undefined ? [] : ['traceparent', c.parent] };
      endClientSpan(startClientSpan(rec, undefined, r, ''), { status: 200, endpoint: undefined, retries: 0, error: undefined });
      await rec.forceFlush();
      await rec.shutdown();
      const n = of(rx.grpc, '/v1/traces').flatMap((q) => flattenSpans(q.body)).length;
      t.equal(n, c.exported ? 1 : 0, c.exported ? 'exported' : 'not exported');
      t.ok(typeof listGet(r.headers, 'traceparent') === 'string', 'a traceparent travels either way');
    });
  }
});

t.test('OTEL_METRIC_EXPORT_INTERVAL: exports arrive on their own at that pace', async (t) => {
  const rx = await receivers(t);
  withEnv(t, { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `http://127.0.0.1:${rx.grpc.port}`, OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc', OTEL_METRIC_EXPORT_INTERVAL: '200', OTEL_METRIC_EXPORT_TIMEOUT: '150' });
  const a = new Aggregates();
  const m = await startOtlpMetrics({ env: (k) => process.env[k], collect: async () => a.snapshot(), log, resource: {}, startedAt: Date.now() });
  t.teardown(() => m?.shutdown());
  const t0 = Date.now();
  while (of(rx.grpc, '/v1/metrics').length < 3 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
  t.ok(of(rx.grpc, '/v1/metrics').length >= 3, 'three periodic exports without a flush');
});

t.test('a collector that is down or hangs: exports give up within their timeout and the loss is counted', async (t) => {
  const hung = await startOtlpReceiver('127.0.0.1', 0, undefined, { hold: true });
  const hungGrpc = await startOtlpGrpcReceiver('127.0.0.1', 0, undefined, { hold: true });
  t.teardown(() => Promise.all([hung.close(), hungGrpc.close()]));
  for (const [name, env] of [
    ['down (closed port), http/protobuf', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }],
    ['hangs, http/json', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${hung.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }],
    ['hangs, grpc', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${hungGrpc.port}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }],
  ] as const) {
    await t.test(name, async (t) => {
      withEnv(t, { ...env, OTEL_EXPORTER_OTLP_TIMEOUT: '300', OTEL_BSP_EXPORT_TIMEOUT: '500', OTEL_BLRP_EXPORT_TIMEOUT: '500', OTEL_METRIC_EXPORT_INTERVAL: '600000', OTEL_METRIC_EXPORT_TIMEOUT: '500' });
      const t0 = Date.now();
      const run = await exportAll();
      const took = Date.now() - t0;
      const lost = (s: OtelSignal): number => run.drops.filter((d) => d.signal === s && d.reason === 'export_failed').reduce((n, d) => n + d.n, 0);
      t.equal(lost('TRACES'), 1, 'the span is counted as lost');
      t.ok(lost('METRICS') >= 2, 'the metric points are counted as lost');
      t.equal(lost('LOGS'), 2, 'the two log records are counted as lost');
      t.ok(took < 30_000, `gave up instead of waiting forever (${took} ms)`);
    });
  }
});

t.test('OTEL_BSP_MAX_QUEUE_SIZE: a full queue drops spans (counted) instead of holding the caller', async (t) => {
  const hung = await startOtlpGrpcReceiver('127.0.0.1', 0, undefined, { hold: true });
  t.teardown(() => hung.close());
  withEnv(t, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${hung.port}`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc', OTEL_BSP_MAX_QUEUE_SIZE: '4', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2', OTEL_BSP_SCHEDULE_DELAY: '60000', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '200' });
  const drops: Array<{ reason: DropReason; n: number }> = [];
  const rec = createSpanRecorder({ env: (k) => process.env[k], log, resource: await resourceFromEnv({}), onDrop: (_s, reason, n) => drops.push({ reason, n }) });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20; i++) {
    const r: SpannedRequest = { method: 'GET', path: '/', authority: 's', headers: ['traceparent', TP] };
    endClientSpan(startClientSpan(rec, undefined, r, ''), { status: 200, endpoint: undefined, retries: 0, error: undefined });
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await rec.shutdown().catch(() => {});
  t.ok(drops.filter((d) => d.reason === 'queue_full').reduce((n, d) => n + d.n, 0) >= 10, 'spans past the queue were dropped and counted');
  t.ok(ms < 5000, `the 20 requests never waited for the collector (${ms.toFixed(0)} ms)`);
});

t.test('log line fields as record attributes (table)', async (t) => {
  const { logAttributes } = await import('../../../common/otel/log-records.ts');
  const rows: Array<[Record<string, unknown>, Record<string, unknown>]> = [
    [{ time: 'x', level: 'warn', component: 'c', msg: 'm' }, { 'weft.component': 'agent.x' }],
    [{ policy: 'demo/p', port: 8080, allowed: false }, { 'weft.component': 'agent.x', policy: 'demo/p', port: 8080, allowed: false }],
    [{ err: { code: 'WEFT_ERR_X', message: 'boom' } }, { 'weft.component': 'agent.x', err: '{"code":"WEFT_ERR_X","message":"boom"}' }],
    [{ gone: undefined, none: null, list: ['a', 'b'] }, { 'weft.component': 'agent.x', list: '["a","b"]' }],
  ];
  for (const [fields, want] of rows) t.same(logAttributes('agent.x', fields), want, JSON.stringify(fields));
});

t.test('OTEL_NODE_RESOURCE_DETECTORS adds the SDK\'s detectors to the resource the receiver gets', async (t) => {
  const rx = await receivers(t);
  withEnv(t, {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${rx.http.port}/v1/traces`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_NODE_RESOURCE_DETECTORS: 'env,host,process', OTEL_RESOURCE_ATTRIBUTES: 'team=mesh', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none',
  });
  await exportAll();
  const span = of(rx.http, '/v1/traces').flatMap((r) => flattenSpans(r.body))[0];
  const { hostname } = await import('node:os');
  t.equal(span?.resource['host.name'], hostname(), 'host detector');
  t.equal(span?.resource['process.pid'], String(process.pid), 'process detector');
  t.equal(span?.resource['team'], 'mesh', 'env detector still applies');
  t.equal(span?.resource['service.name'], 'weft-agent', 'our default service name when OTEL_SERVICE_NAME is unset');
});
