// Slow readers on one node must not stall the traffic of other pods to a peer node. Every tunnel
// and L7 request from pods of one identity on n1 to n2 shares one HTTP/2 session between the two
// agents (one per pool: tunnels and L7 requests use different ones). The agent returned a DATA
// frame's connection credit only when the pod took the bytes, so downloads whose pods stopped
// reading kept theirs: 16 of them (16 × the 4 MiB stream window = the then 64 MiB session window)
// held all of it and every other stream of the session waited — here another pod's request,
// forever. Since the codec returns connection credit on receipt (agent/h2/connection.ts), a
// stalled download holds at most its own stream window.
// Shown both ways (2026-12-07, with tests/testbed/mesh.ts's AGENT_BUNDLE pointed at each build by
// a local edit): on the build before that change (/tmp/s11base-dist/agent.mjs) both stalled cases
// fail, app-2's probe "did not exit within 30000 ms", and n1's session had taken ~200 MB (24 ×
// ~4 MiB in n1's socket send buffer, up to ~4 MiB in app-1's receive buffer, 4 MiB in the agent);
// on main both pass. `flock /tmp/weft-e2e.lock tap --reporter=terse tests/e2e/stalled-readers.test.ts`.
// (Before stall-client.ts kept its process alive, it exited as soon as its sockets were paused,
// the stalled connections closed at once and this file passed on both builds.)
// Real parts: the testbed's namespaces and two agents (one worker each, so all streams of a pool
// share one session per identity), l7-server.ts in a pod on n2 (on an L7 port and on an opaque
// one, which the mesh carries through HBONE tunnels), and in two pods of one
// service account on n1 (app-1, app-2: one identity) a client whose 24 connections read 64 KiB of
// a 256 MiB download each and then stop reading (tests/apps/stall-client.ts), and the probes
// (l7-client.ts; both pass before the stall). The oracle is the probe's own byte
// check, within a deadline.
import t, { type Test } from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { stallDownloads } from './stalled-downloads.ts';

const OPAQUE_PORT = 9090;
const STALLED = 24;
/** A probe that waits on a stalled session never finishes: fail after this instead of hanging. */
const PROBE_MS = 30_000;
/** How long the stalled downloads are given to fill every buffer and window on their way. */
const FILL_MS = 15_000;
/** What each stalled connection asks for: far more than every buffer on the way holds. */
const DOWNLOAD = 256 << 20;

/**
 * app-2's download (l7-client's check: 1 MiB chunked, length checked) from `port`, within PROBE_MS;
 * a probe still waiting then (a stalled session) is `{ ok: false, error }`, not a thrown test.
 */
async function probe(port: number): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await mesh.runApp('app-2', 'l7-client.ts', ['download', '--url', `http://${server}:${port}`], PROBE_MS);
    return r.stdout[r.stdout.length - 1];
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  }
}

/** The agents' last warnings, on a failed probe: what a reader of the failure wants next. */
function agentWarnings(t: Test): void {
  for (const n of ['n1', 'n2']) t.comment(`${n}: ${mesh.agentLog(n).split('\n').filter((l) => /warn|error/.test(l)).slice(-8).join('\n')}`);
}

const tb = await withTestbed(t, {
  name: 'stalled-readers',
  nodes: [
    { name: 'n1', pods: [{ name: 'app-1', namespace: 'demo' }, { name: 'app-2', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, agentEnv: { WEFT_WORKERS: '1', WEFT_OPAQUE_PORTS: String(OPAQUE_PORT) } });
t.teardown(() => mesh.stop());
// The same HTTP server on an opaque port: the mesh carries it as bytes, through HBONE tunnels.
await mesh.startApp('server', 'l7-server.ts', ['--port', String(OPAQUE_PORT), '--name', 'server-opaque']);
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--name', 'server']);
const server = tb.pod('server').ip;

/** Starts STALLED stalled downloads from app-1 and waits until each has read and stopped. */
function stall(t: Test, port: number): Promise<void> {
  return stallDownloads(t, mesh, { host: server, port, connections: STALLED, bytes: DOWNLOAD, fillMs: FILL_MS });
}

t.test('before any stall, both probes pass', async (t) => {
  t.equal((await probe(OPAQUE_PORT))?.ok, true, 'through a tunnel');
  t.equal((await probe(8080))?.ok, true, 'L7');
});

t.test(`opaque tunnels: ${STALLED} stalled downloads to n2, another pod's tunnel to n2 still completes`, async (t) => {
  await stall(t, OPAQUE_PORT);
  const r = await probe(OPAQUE_PORT);
  t.equal(r?.ok, true, `app-2's 1 MiB download through its own tunnel arrived whole (${JSON.stringify(r)})`);
  if (r?.ok !== true) agentWarnings(t);
});

t.test(`L7: ${STALLED} stalled HTTP downloads to n2, another pod's request to n2 still completes`, async (t) => {
  await stall(t, 8080);
  const last = await probe(8080);
  t.equal(last?.ok, true, `app-2's 1 MiB download arrived whole (${JSON.stringify(last)})`);
  if (last?.ok !== true) agentWarnings(t);
});
