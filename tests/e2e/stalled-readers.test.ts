// Slow readers on one node must not stall the traffic of other pods to a peer node. Every tunnel
// and L7 request from pods of one identity on n1 to n2 shares one HTTP/2 session between the two
// agents. The agent returned a DATA frame's connection credit only when the pod took the bytes, so
// downloads whose pods stopped reading kept theirs: 16 of them (16 × the 4 MiB stream window = the
// 64 MiB session window) held all of it and every other stream of the session waited — here
// another pod's request, forever. Since the codec returns connection credit on receipt
// (agent/h2/connection.ts), a stalled download holds at most its own stream window.
// Real parts: the testbed's namespaces and two agents (one worker each, so all streams share one
// session per identity), tcp-server.ts and http-server.ts in a pod on n2, and in two pods of one
// service account on n1 (app-1, app-2: one identity) a client whose 24 connections read 64 KiB of
// a 256 MiB download each and then stop reading (tests/apps/stall-client.ts), and the probes
// (tcp-client.ts, l7-client.ts). The oracle is the probe's own byte check, within a deadline.
import t, { type Test } from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { tcpClient } from './helpers.ts';

const OPAQUE_PORT = 9090;
const STALLED = 24;
/** A probe that waits on a stalled session never finishes: fail after this instead of hanging. */
const PROBE_MS = 30_000;

const tb = await withTestbed(t, {
  name: 'stalled-readers',
  nodes: [
    { name: 'n1', pods: [{ name: 'app-1', namespace: 'demo' }, { name: 'app-2', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, agentEnv: { WEFT_WORKERS: '1', WEFT_OPAQUE_PORTS: String(OPAQUE_PORT) } });
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'tcp-server.ts', ['--port', String(OPAQUE_PORT)]);
await mesh.startApp('server', 'http-server.ts', ['--port', '8080', '--name', 'server']);
const server = tb.pod('server').ip;

/** Starts STALLED stalled downloads from app-1 and waits until each has read and stopped. */
async function stall(t: Test, proto: 'tcp' | 'http', port: number): Promise<void> {
  const app = await mesh.startApp('app-1', 'stall-client.ts', ['--host', server, '--port', String(port), '--proto', proto, '--connections', String(STALLED)]);
  t.teardown(() => app.stop(1000));
  const line = await app.waitForLine((l) => 'stalled' in l, 60_000);
  t.equal(line.stalled, STALLED, `${STALLED} downloads flowed, then their reader stopped`);
  // Let the stalled streams run into their windows: the pod's socket buffers, then the agent's.
  await new Promise((r) => setTimeout(r, 3000));
}

t.test(`opaque tunnels: ${STALLED} stalled downloads to n2, another pod's tunnel to n2 still completes`, async (t) => {
  await stall(t, 'tcp', OPAQUE_PORT);
  const r = await tcpClient(mesh, 'app-2', server, OPAQUE_PORT, 'source', ['--bytes', String(8 << 20)], PROBE_MS);
  t.ok(r.ok, `app-2's 8 MiB download through its own tunnel arrived whole (${r.bytesReceived} bytes, ${r.durationMs} ms)`);
});

t.test(`L7: ${STALLED} stalled HTTP downloads to n2, another pod's request to n2 still completes`, async (t) => {
  await stall(t, 'http', 8080);
  const r = await mesh.runApp('app-2', 'l7-client.ts', ['download', '--url', `http://${server}:8080`], PROBE_MS);
  const last = r.stdout[r.stdout.length - 1] as { ok?: boolean; bytes?: number } | undefined;
  t.equal(last?.ok, true, `app-2's 1 MiB download arrived whole (${JSON.stringify(last)}; stderr: ${r.stderr.slice(0, 400)})`);
});
