// Pods that speak HTTP/2 with prior knowledge (h2c, gRPC) through the mesh, on the engine the run
// gives the agents (WEFT_L7_H2_ENGINE; the testbed forwards it, default weft: the agent's codec
// serves the app's connection — agent/proxy/outbound-h2.ts — and dials the h2c pod —
// agent/http/h2c-pod-session.ts; `node`: node:http2 both places). Same node (one agent is source
// and destination) and across nodes (HBONE hop in between): curl --http2-prior-knowledge GET and a
// POST past every window echoed byte for byte, every grpc-js call kind with a status in trailers,
// h2load (nghttp2's load client, when installed) with many streams per connection; and an abusive
// app: a rapid-reset burst ends in GOAWAY ENHANCE_YOUR_CALM and is counted as h2_protocol.
// Real parts: the testbed's namespaces and iptables redirection, both agents and control, curl,
// grpc-js, h2load, node:http2 servers in the pods. No fakes.
import t from 'tap';
import { randomBytes, createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { rejectedInput } from './sec-helpers.ts';

const engine = process.env.WEFT_L7_H2_ENGINE === 'node' ? 'node' : 'weft';
const tb = await withTestbed(t, {
  name: 'l7-h2-pods',
  nodes: [
    { name: 'n1', pods: [{ name: 'ha', namespace: 'demo' }, { name: 'hb', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'hc', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] } });
t.teardown(() => mesh.stop());
for (const pod of ['hb', 'hc']) {
  await mesh.startApp(pod, 'l7-server.ts', ['--port', '8082', '--h2-port', '8081', '--name', pod]);
  await mesh.startApp(pod, 'grpc-server.ts', ['--port', '9090']);
}
const body = randomBytes(5 << 20);
const bodyFile = join(tmpdir(), `weft-l7-h2-pods-${process.pid}.bin`);
await writeFile(bodyFile, body);
t.teardown(() => rm(bodyFile, { force: true }));
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const hasH2load = ((): boolean => {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface L7Counters { proxy: { l7?: { requests?: number } } }
const requests = async (node: string): Promise<number> => ((await mesh.admin(node, '/config_dump/proxy')).body as L7Counters).proxy.l7?.requests ?? 0;

t.test(`the agents run the ${engine} engine`, async (t) => {
  for (const node of ['n1', 'n2']) t.match(mesh.agentLog(node), `"l7H2Engine":"${engine}"`);
});

for (const to of ['hb', 'hc'] as const) {
  const where = to === 'hb' ? 'same node' : 'across nodes';
  t.test(`ha → ${to} (${where})`, async (t) => {
    const before = await requests('n1');
    const ip = tb.pod(to).ip;
    const get = await tb.exec(tb.pod('ha').netns, 'curl', ['-s', '--max-time', '30', '--http2-prior-knowledge', '-w', ' %{http_code} %{http_version}', `http://${ip}:8081/hello`]);
    t.match(get.stdout, /"path":"\/hello"/, 'the pod answered the path');
    t.match(get.stdout, / 200 2$/, 'HTTP/2 prior knowledge, 200');
    const echoed = await tb.exec(tb.pod('ha').netns, 'sh', ['-c', `curl -s --max-time 60 --http2-prior-knowledge -H 'content-type: application/octet-stream' --data-binary @${bodyFile} http://${ip}:8081/echo | sha256sum`]);
    t.equal(echoed.stdout.split(' ')[0], sha(body), 'a 5 MiB POST over h2 echoed back byte for byte');
    const r = await mesh.runApp('ha', 'grpc-client.ts', ['--target', `${ip}:9090`, '--stream', '300'], 60_000);
    const g = r.stdout[r.stdout.length - 1] as unknown as { ok: boolean; serverStream: number; clientStream: number; bidi: string; unavailable: number; errors: string[] } | undefined;
    t.ok(g?.ok, `grpc-js: unary, server, client and bidi streaming (errors: ${g?.errors.join(', ')})`);
    t.equal(g?.serverStream, 300);
    t.equal(g?.clientStream, 300);
    t.equal(g?.bidi, 'ABC');
    t.equal(g?.unavailable, 14, 'a gRPC status travels back in the trailers');
    if (hasH2load) {
      const h = await tb.exec(tb.pod('ha').netns, 'h2load', ['-n', '3000', '-c', '4', '-m', '32', `http://${ip}:8081/`]);
      t.match(h.stdout, /requests: 3000 total, 3000 started, 3000 done, 3000 succeeded, 0 failed, 0 errored/, 'h2load: 3000 requests, 32 streams per connection, all succeeded');
      t.match(h.stdout, /status codes: 3000 2xx/, 'all 2xx');
    } else {
      t.comment('h2load not installed (Debian nghttp2-client): skipped');
    }
    t.ok((await requests('n1')) - before >= 3, 'they took the L7 path of the source agent');
  });
}

t.test('a rapid-reset burst from an app ends in GOAWAY ENHANCE_YOUR_CALM and is counted', { skip: engine === 'node' ? 'the codec\'s limit (node:http2 enforces its own)' : false }, async (t) => {
  const before = (await rejectedInput(mesh, 'n1')).get('h2_protocol') ?? 0;
  const r = await mesh.runApp('ha', 'h2-rapid-reset.ts', ['--host', tb.pod('hb').ip, '--port', '8081', '--streams', '1500'], 60_000);
  const out = r.stdout[r.stdout.length - 1] as unknown as { goaway: number; debug?: string } | undefined;
  t.equal(out?.goaway, 11, `GOAWAY ENHANCE_YOUR_CALM (0xb); the agent said ${JSON.stringify(out?.debug ?? '')}`);
  await mesh.waitUntil(async () => ((await rejectedInput(mesh, 'n1')).get('h2_protocol') ?? 0) > before, 15_000, 'the refusal counted');
  t.pass('weft_rejected_input_total{reason="h2_protocol"} went up');
  // The agent is unharmed: the next app connection is served.
  const get = await tb.exec(tb.pod('ha').netns, 'curl', ['-s', '--max-time', '30', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_code}', `http://${tb.pod('hb').ip}:8081/`]);
  t.equal(get.stdout, '200');
});
