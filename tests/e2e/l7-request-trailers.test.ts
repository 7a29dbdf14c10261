// Request trailers through the mesh, end to end: an app sends a request whose body ends with a
// trailer section — HTTP/1.1 chunked (node:http's req.addTrailers) or HTTP/2 trailing HEADERS
// (node:http2's waitForTrailers/sendTrailers) — and the pod reports what it read (req.trailers,
// the body's sha256) from the l7-server's /req-trailers route. Same node (the agent delivers to
// the pod itself) and across nodes (the HTTP/2 hop between agents carries them as a final HEADERS
// frame with END_STREAM); HTTP/1.1 pods get a chunked trailer section, HTTP/2 pods trailing
// HEADERS. What the mesh must not forward (authorization, its own weft-target) is dropped on the
// way and counted (proxy.l7.requestTrailerFieldsDropped); a replayed request (PUT answered 503
// once, then retried) carries the same trailers. On the engine the run gives the agents
// (WEFT_L7_H2_ENGINE, default weft; run again with =node for node:http2 on both ends).
// Real parts: the testbed's namespaces and iptables redirection, both agents and control,
// node:http / node:http2 clients in the app pod and servers in the pods. No fakes.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';

const engine = process.env.WEFT_L7_H2_ENGINE === 'node' ? 'node' : 'weft';
const tb = await withTestbed(t, {
  name: 'l7-rqtrail',
  nodes: [
    { name: 'n1', pods: [{ name: 'ta', namespace: 'demo' }, { name: 'tb', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'tc', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] } });
t.teardown(() => mesh.stop());
for (const pod of ['tb', 'tc']) await mesh.startApp(pod, 'l7-server.ts', ['--port', '8082', '--h2-port', '8081', '--name', pod]);

interface Pod {
  name: string;
  version: string;
  attempt: number;
  bytes: number;
  sha256: string;
  te: string | null;
  trailers: Record<string, string>;
}
interface Result {
  ok: boolean;
  status: number;
  sha256: string;
  pod: Pod;
  error?: string;
}
interface Dump { proxy: { l7?: { requests?: number; requestTrailerFieldsDropped?: number } } }
const l7 = async (node: string): Promise<NonNullable<Dump['proxy']['l7']>> => ((await mesh.admin(node, '/config_dump/proxy')).body as Dump).proxy.l7 ?? {};

async function send(check: 'req-trailers' | 'h2-req-trailers', url: string, method = 'POST', bytes = 300_000): Promise<Result> {
  const r = await mesh.runApp('ta', 'l7-client.ts', [check, '--url', url, '--method', method, '--body-bytes', String(bytes)], 60_000);
  return r.stdout[r.stdout.length - 1] as unknown as Result;
}

t.test(`the agents run the ${engine} engine`, async (t) => {
  for (const node of ['n1', 'n2']) t.match(mesh.agentLog(node), `"l7H2Engine":"${engine}"`);
});

for (const to of ['tb', 'tc'] as const) {
  const where = to === 'tb' ? 'same node' : 'across nodes';
  const ip = tb.pod(to).ip;
  for (const [check, port, version] of [['req-trailers', 8082, '1.1'], ['h2-req-trailers', 8081, '2.0']] as const) {
    const pod = version === '1.1' ? 'HTTP/1.1 pod (chunked trailer section)' : 'HTTP/2 pod (trailing HEADERS)';
    t.test(`ta → ${to} (${where}), ${pod}`, async (t) => {
      const before = await l7('n1');
      const r = await send(check, `http://${ip}:${port}/req-trailers`);
      t.equal(r.status, 200, `answered (${r.error ?? 'no error'})`);
      t.equal(r.pod.name, to);
      t.equal(r.pod.version, version, 'the pod spoke what the app spoke');
      t.equal(r.pod.bytes, 300_000, 'the whole body arrived');
      t.equal(r.pod.sha256, r.sha256, 'byte for byte');
      if (version === '1.1') t.equal(r.pod.te, 'chunked', 'the pod\'s request is chunked: it can carry trailers');
      t.equal(r.pod.trailers['x-checksum'], r.sha256, 'the checksum trailer arrived');
      t.equal(r.pod.trailers['x-note'], 'sent-after-the-body');
      t.notOk('authorization' in r.pod.trailers, 'authorization is never forwarded as a trailer');
      t.notOk('weft-target' in r.pod.trailers, 'the mesh\'s own hop field is never forwarded as a trailer');
      const after = await l7('n1');
      t.ok((after.requests ?? 0) > (before.requests ?? 0), 'the request took the L7 path');
      t.ok((after.requestTrailerFieldsDropped ?? 0) - (before.requestTrailerFieldsDropped ?? 0) >= 2, 'the dropped fields are counted');
    });
  }
}

t.test('a replayed request carries the same trailers (PUT answered 503 once, retried)', async (t) => {
  // 40 000 bytes: under the replay buffer (64 KiB, agent/http/request-policy.ts), so it may be replayed.
  const ip = tb.pod('tc').ip;
  for (const [check, port] of [['req-trailers', 8082], ['h2-req-trailers', 8081]] as const) {
    const r = await send(check, `http://${ip}:${port}/req-trailers/1`, 'PUT', 40_000);
    t.equal(r.status, 200, `${check}: the retry succeeded (${r.error ?? 'no error'})`);
    t.equal(r.pod.attempt, 1, `${check}: the pod answered the replay`);
    t.equal(r.pod.sha256, r.sha256, `${check}: the replay carried the whole body`);
    t.equal(r.pod.trailers['x-checksum'], r.sha256, `${check}: and the same trailers`);
    t.equal(r.pod.trailers['x-note'], 'sent-after-the-body');
  }
});
