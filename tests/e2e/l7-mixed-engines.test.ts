// A mesh whose agents speak HTTP/2 to each other on different engines (WEFT_L7_H2_ENGINE): n1 on
// node:http2, n2 on the agent's own codec — the state of a mesh mid-way through rolling the
// setting out (docs/upgrade.md). Every L7 request crosses the hop in both directions, so each
// engine is the client side of one direction and the server side of the other: HTTP/1.1 GET and
// a POST with a body far past every HTTP/2 window (curl), HTTP/2 prior knowledge (curl), and every
// grpc-js call kind with a status in trailers. Opaque TCP crosses too, as HBONE CONNECT tunnels
// (the tunnel client switches with the engine): byte-exact echo, upload and download.
// Real parts: the testbed's namespaces and iptables redirection, both agents and control, curl,
// grpc-js, node:http servers in the pods. No fakes.
import t from 'tap';
import { randomBytes, createHash } from 'node:crypto';
import { writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { proxyStats, tcpClient } from './helpers.ts';

const tb = await withTestbed(t, {
  name: 'l7-mixed-h2',
  nodes: [
    { name: 'n1', pods: [{ name: 'one', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'two', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] } });
t.teardown(() => mesh.stop());
const ENGINE = { n1: 'node', n2: 'weft' } as const;
for (const node of ['n1', 'n2'] as const) {
  await mesh.stopAgent(node);
  await mesh.startAgent(node, { WEFT_L7_H2_ENGINE: ENGINE[node] });
  await mesh.waitReady(node);
}
for (const pod of ['one', 'two']) {
  await mesh.startApp(pod, 'http-server.ts', ['--port', '8080', '--name', pod]);
  await mesh.startApp(pod, 'l7-server.ts', ['--port', '8082', '--h2-port', '8081', '--name', `${pod}-h2`]);
  await mesh.startApp(pod, 'grpc-server.ts', ['--port', '9090']);
  await mesh.startApp(pod, 'tcp-server.ts', ['--port', '7070']);
}
const body = randomBytes(3 << 20);
const bodyFile = join(tmpdir(), `weft-l7-mixed-${process.pid}.bin`);
await writeFile(bodyFile, body);
t.teardown(() => rm(bodyFile, { force: true }));
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

async function curl(from: string, args: string[]): Promise<string> {
  const r = await tb.exec(tb.pod(from).netns, 'curl', ['-s', '--max-time', '30', ...args]);
  return r.stdout;
}

interface L7Counters { proxy: { l7?: { requests?: number } } }
const requests = async (node: string): Promise<number> => ((await mesh.admin(node, '/config_dump/proxy')).body as L7Counters).proxy.l7?.requests ?? 0;

t.test('each agent runs the engine it was given', async (t) => {
  for (const node of ['n1', 'n2'] as const) t.match(mesh.agentLog(node), `"l7H2Engine":"${ENGINE[node]}"`, `${node}: ${ENGINE[node]}`);
});

for (const [from, to] of [['one', 'two'], ['two', 'one']] as const) {
  const via = from === 'one' ? 'node:http2 client → codec server' : 'codec client → node:http2 server';
  t.test(`${from} → ${to} (${via})`, async (t) => {
    const node = from === 'one' ? 'n1' : 'n2';
    const before = await requests(node);
    const ip = tb.pod(to).ip;
    const get = await curl(from, ['-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://${ip}:8080/bytes/5000000`]);
    t.equal(get, '200 5000000', 'HTTP/1.1 GET of 5 MB');
    const echoed = await tb.exec(tb.pod(from).netns, 'sh', ['-c', `curl -s --max-time 30 -H 'content-type: application/octet-stream' --data-binary @${bodyFile} http://${ip}:8080/echo | sha256sum`]);
    t.equal(echoed.stdout.split(' ')[0], sha(body), 'a 3 MiB POST echoed back byte for byte');
    const h2 = await curl(from, ['--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `http://${ip}:8081/`]);
    t.equal(h2, '200 2', 'HTTP/2 prior knowledge');
    const r = await mesh.runApp(from, 'grpc-client.ts', ['--target', `${ip}:9090`, '--stream', '200'], 60_000);
    const g = r.stdout[r.stdout.length - 1] as unknown as { ok: boolean; serverStream: number; clientStream: number; bidi: string; unavailable: number; errors: string[] } | undefined;
    t.ok(g?.ok, `grpc-js: every call kind (errors: ${g?.errors.join(', ')})`);
    t.equal(g?.serverStream, 200);
    t.equal(g?.clientStream, 200);
    t.equal(g?.bidi, 'ABC');
    t.equal(g?.unavailable, 14, 'a gRPC status travels back in the trailers');
    t.ok((await requests(node)) - before >= 4, 'they took the L7 path of the source agent');
  });
}

for (const [from, to] of [['one', 'two'], ['two', 'one']] as const) {
  const via = from === 'one' ? 'node:http2 tunnel client → codec listener' : 'codec tunnel client → node:http2 listener';
  t.test(`opaque TCP ${from} → ${to} (${via})`, async (t) => {
    const node = from === 'one' ? 'n1' : 'n2';
    const before = (await proxyStats(mesh, node)).paths.outbound_hbone.opened;
    const ip = tb.pod(to).ip;
    const echo = await tcpClient(mesh, from, ip, 7070, 'echo', ['--bytes', String(4 << 20)]);
    t.ok(echo.ok, '4 MiB echoed byte for byte (the client half-closes and still gets the rest)');
    const up = await tcpClient(mesh, from, ip, 7070, 'sink', ['--bytes', String(32 << 20)]);
    t.ok(up.ok, '32 MiB upload: the server hashed exactly what was sent');
    const down = await tcpClient(mesh, from, ip, 7070, 'source', ['--bytes', String(32 << 20), '--seed', '19']);
    t.ok(down.ok, '32 MiB download hashes right');
    t.ok((await proxyStats(mesh, node)).paths.outbound_hbone.opened - before >= 3, 'they went through HBONE tunnels');
  });
}
