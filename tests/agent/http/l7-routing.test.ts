// Route matching (Gateway API precedence), protocol detection and the detection plan: tables.
import t from 'tap';
import fc from 'fast-check';
import type { RouteRecord, ServiceRecord } from '../../../control/api/model.ts';
import { compileRoutes, matchRoute } from '../../../agent/http/route-table.ts';
import { H2_PREFACE, detectProtocol, planDetection, protocolFromAppProtocol } from '../../../agent/proxy/detect.ts';

function route(key: string, createdAt: string, rules: RouteRecord['rules'], parents: RouteRecord['parents'] = [{ service: 'demo/web' }]): RouteRecord {
  const [namespace, name] = key.split('/');
  return { kind: 'route', key, namespace, name, createdAt, parents, rules };
}
const to = (service: string) => [{ service, port: 80, weight: 1 }];

t.test('route precedence and matching', async (t) => {
  const routes = [
    route('demo/b', '2026-01-02T00:00:00Z', [
      { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: to('demo/api') },
      { matches: [{ path: { type: 'PathPrefix', value: '/api/v2' } }], backends: to('demo/api-v2') },
      { matches: [{ path: { type: 'Exact', value: '/api' } }], backends: to('demo/api-exact') },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }], backends: to('demo/api-post') },
      { matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-canary', value: 'yes' }] }], backends: to('demo/api-canary') },
    ]),
    route('demo/a', '2026-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backends: to('demo/older') }]),
    route('demo/other', '2026-01-01T00:00:00Z', [{ matches: [], backends: to('demo/elsewhere') }], [{ service: 'demo/other' }]),
    route('demo/port', '2026-01-01T00:00:00Z', [{ matches: [{ path: { type: 'PathPrefix', value: '/p' } }], backends: to('demo/port9090') }], [{ service: 'demo/web', port: 9090 }]),
  ];
  const table = compileRoutes(routes, 'demo/web', 80);
  const rows: [string, string, Record<string, string>, string | undefined][] = [
    ['GET', '/api', {}, 'demo/api-exact'],
    ['GET', '/api?x=1', {}, 'demo/api-exact'],
    ['GET', '/api/v2/items', {}, 'demo/api-v2'],
    ['GET', '/api/v2', {}, 'demo/api-v2'],
    ['GET', '/api/v20', {}, 'demo/api-post'.replace('api-post', 'older')],
    ['POST', '/api/x', {}, 'demo/api-post'],
    ['GET', '/api/x', { 'x-canary': 'yes' }, 'demo/api-canary'],
    ['GET', '/api/x', {}, 'demo/older'],
    ['GET', '/apix', {}, undefined],
    ['GET', '/', {}, undefined],
    ['GET', '/p/1', {}, undefined],
  ];
  for (const [m, path, h, want] of rows) t.equal(matchRoute(table, m, path, h)?.rule.backends[0].service, want, `${m} ${path} ${JSON.stringify(h)}`);
  // The same rows with the head as the agent's HTTP/1 codec keeps it: a header list.
  for (const [m, path, h, want] of rows) t.equal(matchRoute(table, m, path, Object.entries(h).flat())?.rule.backends[0].service, want, `list: ${m} ${path} ${JSON.stringify(h)}`);
  t.equal(matchRoute(table, 'GET', '/api/x', ['x-canary', 'yes', 'x-canary', 'no'])?.rule.backends[0].service, 'demo/older', 'a repeated field is its values joined (as node:http reads it): no exact match');
  const t9090 = compileRoutes(routes, 'demo/web', 9090);
  t.equal(matchRoute(t9090, 'GET', '/p/1', {})?.rule.backends[0].service, 'demo/port9090', 'a parentRef port limits the route to that port');
  t.equal(matchRoute(compileRoutes(routes, 'demo/other', 80), 'DELETE', '/anything', {})?.rule.backends[0].service, 'demo/elsewhere', 'no matches = every request');
});

t.test('property: a PathPrefix matches exactly the paths under it, element-wise', async () => {
  const seg = fc.stringMatching(/^[a-z]{1,4}$/);
  fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 3 }), fc.array(seg, { maxLength: 3 }), fc.string({ maxLength: 3 }), (prefix, rest, junk) => {
    const p = '/' + prefix.join('/');
    const table = compileRoutes([route('demo/r', '', [{ matches: [{ path: { type: 'PathPrefix', value: p } }], backends: to('demo/x') }])], 'demo/web', 80);
    const under = rest.length === 0 ? p : `${p}/${rest.join('/')}`;
    if (matchRoute(table, 'GET', under, {}) === undefined) return false;
    const glued = p + 'z' + junk.replace(/\//g, '');
    return matchRoute(table, 'GET', glued, {}) === undefined;
  }));
});

t.test('protocol detection', async (t) => {
  const rows: [string | Buffer, string][] = [
    ['GET / HTTP/1.1\r\n', 'http1'],
    ['GET /a HTTP/1.0\n', 'http1'],
    ['POST ', 'need-more'],
    ['POST /x HTTP/1.1', 'need-more'],
    ['M-SEARCH * HTTP/1.1\r\n', 'http1'],
    ['SOURCE 67108864 7\n', 'tcp'],
    ['AUTH user\r\n', 'tcp'],
    ['GET / HTTP/2.0\r\n', 'tcp'],
    ['GET  HTTP/1.1\r\n', 'http1'],
    [' HTTP/1.1\r\n', 'tcp'],
    ['GET HTTP/1.1\r\n', 'tcp'],
    ['GE', 'need-more'],
    ['', 'need-more'],
    ['get / HTTP/1.1', 'tcp'],
    [' GET', 'tcp'],
    ['*1\r\n$4\r\nPING\r\n', 'tcp'],
    ['PING\r\n', 'tcp'],
    [Buffer.from([0x16, 0x03, 0x01, 0x00]), 'tcp'],
    [H2_PREFACE, 'h2'],
    [Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4])]), 'h2'],
    [H2_PREFACE.subarray(0, 10), 'need-more'],
    ['PRI * HTTP/1.1\r\n', 'http1'],
    ['GET /' + 'a'.repeat(9000), 'tcp'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'tcp'],
  ];
  for (const [input, want] of rows) t.equal(detectProtocol(Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1')), want, JSON.stringify(input.toString()));
});

t.test('property: detection is stable as bytes arrive', async () => {
  // Once decided, more bytes never change the verdict; splitting the input never matters.
  const inputs = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.constantFrom('GET /x HTTP/1.1\r\n\r\n', 'OPTIONS * HTTP/1.1\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0', 'SSH-2.0-x\r\n').map((s) => Buffer.from(s, 'latin1')),
  );
  fc.assert(fc.property(inputs, (buf) => {
    let decided: string | undefined;
    for (let i = 1; i <= buf.length; i++) {
      const v = detectProtocol(buf.subarray(0, i));
      if (decided !== undefined && v !== decided) return false;
      if (v !== 'need-more') decided = v;
    }
    return true;
  }));
});

t.test('what skips detection', async (t) => {
  const svc = (appProtocol?: string, opaque?: number[]): { record: ServiceRecord; port: ServiceRecord['ports'][number] } => {
    const port = { port: 80, targetPort: 8080, protocol: 'TCP' as const, ...(appProtocol === undefined ? {} : { appProtocol }) };
    return { record: { kind: 'service', key: 'demo/s', name: 's', namespace: 'demo', clusterIP: '10.96.0.1', ports: [port], selector: {}, ...(opaque === undefined ? {} : { defaults: { opaquePorts: opaque } }) }, port };
  };
  const none = new Set<number>();
  t.same(planDetection(8080, undefined, none), { kind: 'detect' });
  t.match(planDetection(3306, undefined, none), { kind: 'fixed', protocol: 'tcp' });
  t.match(planDetection(5432, undefined, none), { kind: 'fixed', protocol: 'tcp' });
  t.match(planDetection(25, undefined, none), { kind: 'fixed', protocol: 'tcp' });
  t.match(planDetection(9000, undefined, new Set([9000])), { kind: 'fixed', protocol: 'tcp', reason: /agent/ });
  t.match(planDetection(80, svc(undefined, [80]), none), { kind: 'fixed', protocol: 'tcp', reason: /annotation/ });
  t.match(planDetection(80, svc('kubernetes.io/h2c'), none), { kind: 'fixed', protocol: 'h2' });
  t.match(planDetection(80, svc('http'), none), { kind: 'fixed', protocol: 'http1' });
  t.match(planDetection(80, svc('tcp'), none), { kind: 'fixed', protocol: 'tcp' });
  t.same(planDetection(80, svc('something-else'), none), { kind: 'detect' });
  t.equal(protocolFromAppProtocol('grpc'), 'h2');
});
