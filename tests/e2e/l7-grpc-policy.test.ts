// Two L7 promises end to end on the testbed: a real gRPC client and server (grpc-js: unary, both
// streaming directions and bidi, status codes in trailers) pass through the mesh unchanged, and an
// HTTP path rule denies one path of a service while its other paths pass.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';

const tb = await withTestbed(t, {
  name: 'l7-grpc',
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'grpc', namespace: 'demo' }, { name: 'web', namespace: 'demo' }] },
  ],
});
const base = {
  meshedNamespaces: ['demo'],
  services: [{ name: 'grpc', namespace: 'demo', clusterIP: '10.96.0.30', port: 9090, targetPort: 9090, selector: 'grpc' }],
};
const mesh = await Mesh.start(tb, { cluster: base });
t.teardown(() => mesh.stop());
await mesh.startApp('grpc', 'grpc-server.ts', ['--port', '9090']);
await mesh.startApp('web', 'l7-server.ts', ['--port', '8080', '--name', 'web']);

interface GrpcResult {
  ok: boolean;
  serverStream: number;
  clientStream: number | null;
  bidi: string;
  unavailable: number | null;
  errors: string[];
}

async function grpcClient(target: string): Promise<GrpcResult> {
  const r = await mesh.runApp('client', 'grpc-client.ts', ['--target', target, '--stream', '200'], 60_000);
  const last = r.stdout[r.stdout.length - 1] as unknown as GrpcResult | undefined;
  if (last === undefined) throw new Error(`grpc-client printed nothing (exit ${r.code}): ${r.stderr}`);
  return last;
}

interface L7Counters { proxy: { l7?: Record<string, number> } }

t.test('grpc-js unary, server/client streaming and bidi pass through the mesh unchanged', async (t) => {
  const before = ((await mesh.admin('n1', '/config_dump/proxy')).body as L7Counters).proxy.l7 ?? {};
  for (const target of [`${tb.pod('grpc').ip}:9090`, '10.96.0.30:9090']) {
    const r = await grpcClient(target);
    t.ok(r.ok, `every call kind works via ${target} (errors: ${r.errors.join(', ')})`);
    t.equal(r.serverStream, 200, 'a 200-message server stream arrives whole and in order');
    t.equal(r.clientStream, 200, 'a 200-message client stream is counted by the server');
    t.equal(r.bidi, 'ABC', 'bidi echoes each message');
    t.equal(r.unavailable, 14, 'a gRPC status (UNAVAILABLE) travels back in the trailers');
  }
  const after = ((await mesh.admin('n1', '/config_dump/proxy')).body as L7Counters).proxy.l7 ?? {};
  const grew = Object.keys(after).some((k) => (after[k] ?? 0) > (before[k] ?? 0));
  t.ok(grew, 'the calls took the L7 path (HTTP/2 detected), not an opaque tunnel');
});

t.test('an HTTP path rule denies one path with 403 naming the policy; other paths pass', async (t) => {
  const deny = {
    apiVersion: 'weft.dev/v1alpha1', kind: 'AuthorizationPolicy',
    metadata: { name: 'no-admin', namespace: 'demo' },
    spec: { selector: { matchLabels: { app: 'web' } }, action: 'DENY', rules: [{ to: [{ paths: [{ prefix: '/admin' }] }] }] },
  };
  await mesh.writeCluster({ ...base, extraObjects: [deny] });
  await mesh.waitUntil(async () => {
    const p = (await mesh.admin('n2', '/config_dump/policies')).body as { policies: { workloads: Record<string, { deny: { policy: string }[] }> } };
    return p.policies.workloads['demo/web']?.deny.some((d) => d.policy.includes('no-admin')) ?? false;
  }, 20_000, 'n2 to enforce the DENY');
  const get = async (path: string): Promise<{ status: number; deniedBy: string | null; body: string }> => {
    const script = `const h=require('http');h.get('http://${tb.pod('web').ip}:8080${path}',(r)=>{let b='';r.on('data',(c)=>b+=c);r.on('end',()=>console.log(JSON.stringify({status:r.statusCode,deniedBy:r.headers['weft-denied-by']??null,body:b})))}).on('error',(e)=>console.log(JSON.stringify({status:0,deniedBy:null,body:e.code})))`;
    const r = await tb.exec(tb.pod('client').netns, process.execPath, ['-e', script]);
    return JSON.parse(r.stdout.trim()) as { status: number; deniedBy: string | null; body: string };
  };
  const denied = await get('/admin/users');
  t.equal(denied.status, 403, 'the denied path answers 403');
  t.match(denied.deniedBy ?? '', /no-admin/, 'with a header naming the policy');
  const allowed = await get('/');
  t.equal(allowed.status, 200, 'another path of the same service passes');
  t.match(allowed.body, /"name":"web"/, 'and reaches the app');
  const again = await get('/admin');
  t.equal(again.status, 403, 'the prefix covers the path itself too');
});
