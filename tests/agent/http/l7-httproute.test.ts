// HTTPRoute objects and weft.dev/* Service annotations → records (control's translation), and the
// agent's route index.
import t from 'tap';
import { translateObjects } from '../../../control/discovery/k8s-translate.ts';
import { parseDuration } from '../../../control/discovery/httproute.ts';
import { AgentState } from '../../../agent/state/index.ts';
import { checkRecords } from '../../../agent/state/record-check.ts';
import type { RouteRecord, ServiceRecord } from '../../../control/api/model.ts';

const opts = { trustDomain: 'cluster.local' };
const svc = (annotations: Record<string, string> = {}) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'demo', annotations },
  spec: { clusterIP: '10.96.0.5', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
});
const httpRoute = (spec: Record<string, unknown>, name = 'web-route') => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'demo', creationTimestamp: '2026-01-01T00:00:00Z' }, spec,
});

t.test('durations', async (t) => {
  t.equal(parseDuration('10s'), 10_000);
  t.equal(parseDuration('1m30s'), 90_000);
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('0s'), 0);
  t.equal(parseDuration('10'), null);
  t.equal(parseDuration('1.5s'), null);
});

t.test('an HTTPRoute with a Service parent becomes a RouteRecord', async (t) => {
  const recs = translateObjects([{ origin: 'x.yaml#0', object: svc() }, {
    origin: 'x.yaml#1',
    object: httpRoute({
      parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }, { name: 'some-gateway' }],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'GET', headers: [{ name: 'X-Canary', value: 'yes' }] }],
          backendRefs: [{ name: 'web-v1', port: 80, weight: 90 }, { name: 'web-v2', port: 80, weight: 10 }],
          timeouts: { request: '2s' },
          retry: { attempts: 3, codes: [503], backoff: '100ms' },
        },
        { backendRefs: [{ name: 'web', port: 80 }] },
      ],
    }),
  }], opts);
  const route = recs.find((r) => r.kind === 'route') as RouteRecord;
  t.same(route, {
    kind: 'route', key: 'demo/web-route', name: 'web-route', namespace: 'demo', createdAt: '2026-01-01T00:00:00Z',
    parents: [{ service: 'demo/web', port: 80 }],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-canary', value: 'yes' }], method: 'GET' }],
        backends: [{ service: 'demo/web-v1', port: 80, weight: 90 }, { service: 'demo/web-v2', port: 80, weight: 10 }],
        timeoutMs: 2000,
        retry: { attempts: 3, codes: [503], backoffMs: 100 },
      },
      { matches: [], backends: [{ service: 'demo/web', port: 80, weight: 1 }] },
    ],
  });
  t.equal(checkRecords(recs), null, 'the agent accepts it');
});

t.test('routes attached only to Gateways are not the mesh\'s business', async (t) => {
  const recs = translateObjects([{ origin: 'x', object: httpRoute({ parentRefs: [{ name: 'gw' }], rules: [] }) }], opts);
  t.same(recs, []);
});

t.test('unsupported route features are refused, not half-applied', async (t) => {
  const bad = [
    { parentRefs: [{ kind: 'Service', name: 'web' }], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/a.*' } }] }] },
    { parentRefs: [{ kind: 'Service', name: 'web' }], rules: [{ backendRefs: [{ kind: 'Bucket', group: 'x.io', name: 'b', port: 1 }] }] },
    { parentRefs: [{ kind: 'Service', name: 'web' }], rules: [{ backendRefs: [{ name: 'b' }] }] },
    { parentRefs: [{ kind: 'Service', name: 'web' }], rules: [{ timeouts: { request: 'soon' } }] },
    { parentRefs: [{ kind: 'Service', name: 'web' }], rules: [{ retry: { attempts: 99 } }] },
  ];
  for (const spec of bad) t.throws(() => translateObjects([{ origin: 'x', object: httpRoute(spec) }], opts), { code: 'WEFT_ERR_SOURCE_INVALID' }, JSON.stringify(spec.rules));
  t.throws(() => translateObjects([{ origin: 'x', object: { ...httpRoute({}), apiVersion: 'v1' } }], opts), /apiVersion must be gateway/);
});

t.test('Service annotations become defaults', async (t) => {
  const [s] = translateObjects([{ origin: 'x', object: svc({ 'weft.dev/timeout': '5s', 'weft.dev/retry-limit': '2', 'weft.dev/opaque-ports': '80, 9000' }) }], opts) as ServiceRecord[];
  t.same(s.defaults, { timeoutMs: 5000, retryLimit: 2, opaquePorts: [80, 9000] });
  const [plain] = translateObjects([{ origin: 'x', object: svc() }], opts) as ServiceRecord[];
  t.equal(plain.defaults, undefined, 'no annotations, no field');
  t.throws(() => translateObjects([{ origin: 'x', object: svc({ 'weft.dev/timeout': 'five' }) }], opts), /weft.dev\/timeout/);
  t.throws(() => translateObjects([{ origin: 'x', object: svc({ 'weft.dev/opaque-ports': '80,x' }) }], opts), /opaque-ports/);
});

t.test('the agent indexes routes by parent service', async (t) => {
  const st = new AgentState();
  const r1: RouteRecord = { kind: 'route', key: 'demo/r1', name: 'r1', namespace: 'demo', createdAt: '', parents: [{ service: 'demo/web' }], rules: [] };
  const r2: RouteRecord = { ...r1, key: 'demo/r2', name: 'r2', parents: [{ service: 'demo/web' }, { service: 'demo/api' }] };
  st.applySnapshot(1, [r1, r2]);
  t.same(st.routesFor('demo/web').map((r) => r.key).sort(), ['demo/r1', 'demo/r2']);
  const before = st.routesFor('demo/web');
  st.applyDelta(2, [], ['route:demo/r1']);
  t.same(st.routesFor('demo/web').map((r) => r.key), ['demo/r2']);
  t.not(st.routesFor('demo/web'), before, 'a change gives a new list (compiled tables are cached by identity)');
  st.applyDelta(3, [], ['route:demo/r2']);
  t.same(st.routesFor('demo/api'), []);
});
