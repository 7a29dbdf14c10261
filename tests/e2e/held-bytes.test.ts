// A source workload's stalled readers may make its node's agent hold only about its budget
// (WEFT_MAX_HELD_BYTES_PER_WORKLOAD, agent/h2/held-bytes-budget.ts). Without it each download
// whose pod stopped reading holds its whole 4 MiB stream window in the source agent (connection
// credit goes back on receipt, stream credit on consume): 24 of them ~96 MiB, and at the
// per-workload connection and request limits ~20 GiB. With the budget, once the workload holds
// more than it, its sessions announce a 64 KiB stream window (SETTINGS_INITIAL_WINDOW_SIZE), so
// the stalled streams take no more; another workload's downloads, and the same workload's other
// pod's, still complete. The budget here is 8 MiB, on both agents.
// Real parts: the testbed's namespaces and two agents (one worker each), l7-server.ts in a pod on
// n2 (an L7 port and an opaque one, which the mesh carries through HBONE tunnels), on n1 app-1
// (service account app) whose 24 connections read 64 KiB of a 256 MiB download each and stop
// reading (tests/apps/stall-client.ts), app-2 (the same identity) and other-1 (service account
// other) running the probes (l7-client.ts, its own byte check). The held bytes are n1's own
// figure on its admin /metrics (weft_held_bytes): the oracle of "bounded" is the agent's count,
// checked against the budget; the probes' byte checks are independent of the agent.
// Measured (2026-12-07): n1 held 7.2 MiB (tunnels) and 10.8 MiB (L7) for the stalled identity.
// With HELD_BYTES_TEST_BUDGET=0 (no budget, the base build's behaviour) 75.2 and 65.9 MiB: the
// file fails. On the base build (/tmp/s12base-dist, this file run from a copy of the tree whose
// dist/ is that build) it fails too: n1 exports no weft_held_bytes (docs/design-notes.md, "Held
// bytes per workload").
// `flock /tmp/weft-e2e.lock tap --reporter=terse tests/e2e/held-bytes.test.ts`.
import t, { type Test } from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import { stallDownloads } from './stalled-downloads.ts';
import { parseProm, sumOf } from '../agent/telemetry/prom-parse.ts';

const OPAQUE_PORT = 9090;
const STALLED = 24;
const BUDGET = 8 << 20;
/** The agents' stream windows (agent/proxy/hbone/flow-windows.ts) and the throttled one. */
const STREAM_WINDOW = 4 << 20;
const SESSION_WINDOW = 16 << 20;
const THROTTLED_WINDOW = 65_535;
/**
 * Past the budget: one throttled window per stalled stream, and what was in flight while the
 * lowering SETTINGS went to n2 and its ACK came back (at most the session window).
 */
const BOUND = BUDGET + STALLED * THROTTLED_WINDOW + SESSION_WINDOW;
const PROBE_MS = 30_000;
const FILL_MS = 15_000;
const DOWNLOAD = 256 << 20;

const tb = await withTestbed(t, {
  name: 'held-bytes',
  nodes: [
    { name: 'n1', pods: [{ name: 'app-1', namespace: 'demo' }, { name: 'app-2', namespace: 'demo' }, { name: 'other-1', namespace: 'demo' }] },
    { name: 'n2', pods: [{ name: 'server', namespace: 'demo' }] },
  ],
});
const budgetEnv = process.env.HELD_BYTES_TEST_BUDGET ?? String(BUDGET); // a local check of the unbounded figure: 0
const mesh = await Mesh.start(tb, {
  cluster: { meshedNamespaces: ['demo'] },
  agentEnv: { WEFT_WORKERS: '1', WEFT_OPAQUE_PORTS: String(OPAQUE_PORT), WEFT_MAX_HELD_BYTES_PER_WORKLOAD: budgetEnv },
});
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'l7-server.ts', ['--port', String(OPAQUE_PORT), '--name', 'server-opaque']);
await mesh.startApp('server', 'l7-server.ts', ['--port', '8080', '--name', 'server']);
const server = tb.pod('server').ip;

/** `pod`'s 1 MiB download (l7-client's own check) from `port`, within PROBE_MS. */
async function probe(pod: string, port: number): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await mesh.runApp(pod, 'l7-client.ts', ['download', '--url', `http://${server}:${port}`], PROBE_MS);
    return r.stdout[r.stdout.length - 1];
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  }
}

/** n1's weft_held_bytes and weft_held_bytes_throttled_total for identity `sa` in demo (undefined: not exported). */
async function heldOnN1(sa: string): Promise<{ held: number | undefined; throttles: number }> {
  const samples = parseProm((await mesh.admin('n1', '/metrics')).body as string);
  const mine = (name: string) => samples.filter((s) => s.name === name && (s.labels.source_identity ?? '').endsWith(`/ns/demo/sa/${sa}`));
  const held = mine('weft_held_bytes');
  return { held: held.length === 0 ? undefined : held.reduce((n, s) => n + s.value, 0), throttles: mine('weft_held_bytes_throttled_total').reduce((n, s) => n + s.value, 0) };
}

function stall(t: Test, port: number): Promise<void> {
  return stallDownloads(t, mesh, { host: server, port, connections: STALLED, bytes: DOWNLOAD, fillMs: FILL_MS });
}

async function check(t: Test, port: number, what: string): Promise<void> {
  await stall(t, port);
  const { held, throttles } = await heldOnN1('app');
  const mib = (n: number | undefined): string => (n === undefined ? 'none' : (n / (1 << 20)).toFixed(1));
  t.ok(held !== undefined && held <= BOUND, `${what}: n1 holds ${mib(held)} MiB for the stalled workload, at most ${mib(BOUND)} (budget ${mib(BUDGET)} + slack), not up to ${mib(STALLED * STREAM_WINDOW)}`);
  t.ok(throttles >= 1, `${what}: the workload was throttled (${throttles} time(s))`);
  const other = await probe('other-1', port);
  t.equal(other?.ok, true, `${what}: another workload's 1 MiB download arrived whole (${JSON.stringify(other)})`);
  const same = await probe('app-2', port);
  t.equal(same?.ok, true, `${what}: the throttled workload's other pod still downloads, on the smaller window (${JSON.stringify(same)})`);
  t.equal((await heldOnN1('other')).throttles, 0, `${what}: the other workload was never throttled`);
}

t.test('before any stall, the probes pass', async (t) => {
  t.equal((await probe('other-1', OPAQUE_PORT))?.ok, true, 'through a tunnel');
  t.equal((await probe('other-1', 8080))?.ok, true, 'L7');
});

t.test(`opaque tunnels: ${STALLED} stalled downloads of one workload hold about its budget`, (t) => check(t, OPAQUE_PORT, 'tunnels'));

t.test(`L7: ${STALLED} stalled HTTP downloads of one workload hold about its budget`, (t) => check(t, 8080, 'L7'));
