// Unit/in-process: W3C trace context, the span recorder (in-memory exporter and a real OTLP/HTTP
// receiver on loopback), sampling from the standard OTEL_* variables, and the mesh attributes the
// L7 path's request spans carry.
import t, { type Test } from 'tap';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { WorkloadRecord } from '../../../control/api/model.ts';
import { endClientSpan, startClientSpan, startServerSpan, type SpannedRequest } from '../../../agent/telemetry/request-spans.ts';
import { connectionContext } from '../../../agent/telemetry/telemetry.ts';
import { createSpanRecorder } from '../../../agent/telemetry/tracing.ts';
import { formatTraceparent, noSpans, parseTraceparent, tracesEnabled } from '../../../agent/telemetry/trace-context.ts';
import { createLogger, type Logger } from '../../../common/log.ts';
import { flattenSpans, startOtlpReceiver } from '../../common/otlp-receiver.ts';
import { listGet } from '../../../agent/http/header-list.ts';

const log = createLogger('test');
const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** The SDK reads its settings from process.env when a provider is made: set them for one test. */
function withEnv(t: Test, vars: Record<string, string>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

function workload(name: string, ns = 'demo'): WorkloadRecord {
  return { kind: 'workload', key: `${ns}/${name}-0`, uid: name, name: `${name}-0`, namespace: ns, node: 'n1', ip: '10.0.0.9', serviceAccount: name, identity: `spiffe://cluster.local/ns/${ns}/sa/${name}`, labels: { app: name }, meshed: true, ready: true };
}

const outboundConn = connectionContext({
  direction: 'outbound', path: 'outbound_hbone', source: workload('client'), service: 'demo/server', tls: 'mutual', sourceAddress: '10.0.0.1', destinationAddress: '10.96.0.10',
});

t.test('traceparent parsing follows W3C', async (t) => {
  t.same(parseTraceparent(TP), { traceId: TRACE, spanId: '00f067aa0ba902b7', flags: 1 });
  t.equal(formatTraceparent(parseTraceparent(TP)!), TP);
  t.equal(parseTraceparent(` ${TP} `)?.traceId, TRACE, 'surrounding blanks tolerated');
  t.equal(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null, 'zero trace id');
  t.equal(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'), null, 'zero span id');
  t.equal(parseTraceparent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), null, 'version ff');
  t.equal(parseTraceparent(`${TP}-extra`), null, 'version 00 has no extra fields');
  t.equal(parseTraceparent(`01-${TP.slice(3)}-future`)?.traceId, TRACE, 'a future version is read as 00');
  t.equal(parseTraceparent('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'), null, 'upper case is invalid');
  t.equal(parseTraceparent('garbage'), null);
  t.equal(parseTraceparent(undefined), null);
});

t.test('export is on only with an OTLP traces endpoint', async (t) => {
  t.notOk(tracesEnabled(() => undefined));
  t.ok(tracesEnabled((k) => (k === 'OTEL_EXPORTER_OTLP_ENDPOINT' ? 'http://c:4318' : undefined)));
  t.ok(tracesEnabled((k) => (k === 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' ? 'http://c:4318/v1/traces' : undefined)));
  const env: Record<string, string> = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' };
  t.notOk(tracesEnabled((k) => env[k]), 'OTEL_TRACES_EXPORTER=none');
  t.notOk(tracesEnabled((k) => ({ ...env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' } as Record<string, string>)[k]), 'OTEL_SDK_DISABLED');
  t.equal(createSpanRecorder({ env: () => undefined, log }), noSpans, 'the recorder of a worker without export');
});

t.test('a sampler setting the SDK cannot use is reported in our log', async (t) => {
  withEnv(t, { OTEL_TRACES_SAMPLER: 'sometimes', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' });
  const warned: string[] = [];
  const spy: Logger = { ...log, warn: (m: string) => { warned.push(m); }, child: () => spy };
  const rec = createSpanRecorder({ env: (k) => process.env[k], log: spy });
  t.match(warned.join('\n'), /sometimes/, 'the SDK\'s own complaint reaches the log when the recorder starts');
  await rec.shutdown();
});

t.test('client span: child of the caller, forwarded upstream, mesh attributes, outcome', async (t) => {
  const exporter = new InMemorySpanExporter();
  const rec = createSpanRecorder({ env: () => undefined, log, exporter });
  t.teardown(() => rec.shutdown());
  const r: SpannedRequest = { method: 'GET', path: '/items/3?token=secret', authority: 'server.demo:8080', headers: ['traceparent', TP, 'tracestate', 'vendor=1', 'accept', '*/*'] };
  const span = startClientSpan(rec, outboundConn, r, 'demo/items');
  const fwd = parseTraceparent(listGet(r.headers, 'traceparent'));
  t.equal(fwd?.traceId, TRACE, 'same trace upstream');
  t.not(fwd?.spanId, '00f067aa0ba902b7', 'the span id is the new span');
  t.equal(fwd?.flags, 1, 'sampled, like the caller');
  t.equal(listGet(r.headers, 'tracestate'), 'vendor=1', 'tracestate kept with its traceparent');
  endClientSpan(span, { status: 503, endpoint: { workload: workload('server'), local: false }, retries: 2, error: undefined });
  const [s] = exporter.getFinishedSpans();
  t.equal(s.name, 'GET demo/items');
  t.equal(s.kind, 2 /* SpanKind.CLIENT in the API enum */);
  t.equal(s.spanContext().spanId, fwd?.spanId);
  t.equal(s.parentSpanContext?.spanId, '00f067aa0ba902b7', 'child of the caller');
  t.match(s.attributes, {
    'http.request.method': 'GET', 'url.path': '/items/3', 'server.address': 'server.demo', 'server.port': 8080, 'http.route': 'demo/items',
    'weft.direction': 'outbound', 'weft.source.workload': 'client', 'weft.source.namespace': 'demo', 'weft.source.identity': 'spiffe://cluster.local/ns/demo/sa/client',
    'weft.destination.workload': 'server', 'weft.destination.namespace': 'demo', 'weft.destination.identity': 'spiffe://cluster.local/ns/demo/sa/server',
    'weft.destination.service': 'demo/server', 'weft.tls': 'mutual', 'http.response.status_code': 503, 'http.request.resend_count': 2, 'error.type': '503',
  });
  t.notOk(JSON.stringify(s.attributes).includes('secret'), 'no query string');
  t.equal(s.status.code, 2, 'error status for 5xx');
});

t.test('no or a broken traceparent: a new trace, its tracestate dropped', async (t) => {
  const exporter = new InMemorySpanExporter();
  const rec = createSpanRecorder({ env: () => undefined, log, exporter });
  t.teardown(() => rec.shutdown());
  const r: SpannedRequest = { method: 'POST', path: '/', authority: '10.96.0.10', headers: ['traceparent', '00-zz-00-01', 'tracestate', 'vendor=1'] };
  const span = startClientSpan(rec, undefined, r, '');
  t.equal(listGet(r.headers, 'tracestate'), undefined);
  t.ok(parseTraceparent(listGet(r.headers, 'traceparent')) !== null, 'a valid traceparent goes upstream');
  endClientSpan(span, { status: 200, endpoint: { workload: workload('server'), local: true }, retries: 0, error: undefined });
  const [s] = exporter.getFinishedSpans();
  t.equal(s.parentSpanContext, undefined, 'a root span');
  t.equal(s.name, 'POST');
  t.equal(s.attributes['weft.tls'], 'none', 'same-node endpoint: no TLS');
  t.equal(s.attributes['server.address'], '10.96.0.10');
  t.equal(s.status.code, 0, 'unset for a success');
  const r2: SpannedRequest = { method: 'GET', path: '/', authority: 'x', headers: [] };
  const cut = startClientSpan(rec, undefined, r2, '');
  endClientSpan(cut, { status: 200, endpoint: undefined, retries: 0, error: 'response_aborted' });
  const none = startClientSpan(rec, undefined, { ...r2, headers: [] }, '');
  endClientSpan(none, { status: 0, endpoint: undefined, retries: 0, error: undefined });
  const [, a, b] = exporter.getFinishedSpans();
  t.equal(a.attributes['error.type'], 'response_aborted');
  t.equal(a.status.code, 2, 'a cut response fails the span whatever its status');
  t.equal(b.attributes['error.type'], 'no_response');
});

t.test('server span: child of the source agent span; the pod gets its context', async (t) => {
  const exporter = new InMemorySpanExporter();
  const rec = createSpanRecorder({ env: () => undefined, log, exporter });
  t.teardown(() => rec.shutdown());
  const inbound = connectionContext({ direction: 'inbound', path: 'inbound_hbone', sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/client', destination: workload('server'), tls: 'mutual', sourceAddress: '', destinationAddress: '' });
  const forwarded: SpannedRequest = { method: 'GET', path: '/', authority: 'server.demo', headers: ['traceparent', TP] };
  const span = startServerSpan(rec, { traceparent: TP }, inbound, forwarded, 1);
  span.end(200);
  const [s] = exporter.getFinishedSpans();
  t.equal(s.kind, 1 /* SERVER */);
  t.equal(s.parentSpanContext?.spanId, '00f067aa0ba902b7');
  t.equal(listGet(forwarded.headers, 'traceparent'), `00-${TRACE}-${s.spanContext().spanId}-01`, 'the pod sees the server span');
  t.match(s.attributes, {
    'weft.direction': 'inbound', 'weft.source.namespace': 'demo', 'weft.source.identity': 'spiffe://cluster.local/ns/demo/sa/client',
    'weft.destination.workload': 'server', 'weft.tls': 'mutual', 'http.request.resend_count': 1, 'http.response.status_code': 200,
  });
  t.notOk('weft.source.workload' in s.attributes, 'the peer is known by identity only');
});

t.test('sampling from OTEL_TRACES_SAMPLER: ratio 0 exports nothing, the context still travels', async (t) => {
  withEnv(t, { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
  const exporter = new InMemorySpanExporter();
  const rec = createSpanRecorder({ env: (k) => process.env[k], log, exporter });
  t.teardown(() => rec.shutdown());
  const root: SpannedRequest = { method: 'GET', path: '/', authority: 's', headers: [] };
  endClientSpan(startClientSpan(rec, undefined, root, ''), { status: 200, endpoint: undefined, retries: 0, error: undefined });
  const tp = parseTraceparent(listGet(root.headers, 'traceparent'));
  t.ok(tp !== null, 'a traceparent is still sent upstream');
  t.equal(tp?.flags, 0, 'marked not sampled, so the next hop does not sample either');
  const unsampled: SpannedRequest = { method: 'GET', path: '/', authority: 's', headers: ['traceparent', TP.replace(/01$/, '00')] };
  endClientSpan(startClientSpan(rec, undefined, unsampled, ''), { status: 200, endpoint: undefined, retries: 0, error: undefined });
  t.equal(parseTraceparent(listGet(unsampled.headers, 'traceparent'))?.traceId, TRACE, "the caller's trace id kept");
  t.equal(exporter.getFinishedSpans().length, 0, 'nothing exported at ratio 0');
  // Parent-based: a caller that sampled its trace gets the mesh's spans whatever the ratio.
  const sampled: SpannedRequest = { method: 'GET', path: '/', authority: 's', headers: ['traceparent', TP] };
  endClientSpan(startClientSpan(rec, undefined, sampled, ''), { status: 200, endpoint: undefined, retries: 0, error: undefined });
  t.equal(exporter.getFinishedSpans().length, 1);
});

for (const protocol of ['http/json', 'http/protobuf'] as const) t.test(`OTLP/HTTP export (${protocol}) to a receiver, with the resource`, async (t) => {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  withEnv(t, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${rx.port}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol });
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const rec = createSpanRecorder({ env: (k) => process.env[k], log, resource: resourceFromAttributes({ 'service.name': 'weft-agent', 'k8s.node.name': 'n7' }) });
  t.equal(rec.exporting, true);
  const r: SpannedRequest = { method: 'GET', path: '/x', authority: 'server.demo', headers: ['traceparent', TP] };
  endClientSpan(startClientSpan(rec, outboundConn, r, ''), { status: 500, endpoint: { workload: workload('server'), local: false }, retries: 0, error: undefined });
  await rec.forceFlush();
  await rec.shutdown();
  const traces = rx.requests.filter((q) => q.path === '/v1/traces');
  t.same(traces.map((q) => q.protocol), [protocol], 'sent in the encoding asked for');
  const spans = traces.flatMap((q) => flattenSpans(q.body));
  t.equal(spans.length, 1);
  t.equal(spans[0].traceId, TRACE);
  t.equal(spans[0].parentSpanId, '00f067aa0ba902b7');
  t.equal(spans[0].kind, 3, 'OTLP SPAN_KIND_CLIENT');
  t.equal(spans[0].status, 2, 'OTLP STATUS_CODE_ERROR');
  t.equal(spans[0].resource['k8s.node.name'], 'n7');
  t.equal(spans[0].attributes['weft.destination.service'], 'demo/server');
  t.equal(spans[0].attributes['http.response.status_code'], '500');
});
