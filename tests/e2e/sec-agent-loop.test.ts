// A pod that dials the agent's own listeners at a node address (issue 17, part 7). Node addresses
// are never captured (iptables `--dst-type LOCAL -j RETURN`, the eBPF `weft_local` map), so the
// connection reaches the listener directly; before, the outbound listener passed it through to
// node-ip:15001 — itself — from the node, which no workload limit covers: a loop. Now each is
// refused and counted as weft_rejected_input_total{reason="agent_listener"}, logged at most once
// per source per 10 s in each proxy worker, and nothing is passed through. Run from real pod namespaces (a meshed pod
// and one outside the mesh) with raw sockets, at the node's address and at the pods' gateway (also
// a node address). In both redirect modes: WEFT_TEST_REDIRECT_MODE, or ebpf-sec-agent-loop.test.ts.
import t from 'tap';
import { withTestbed } from '../testbed/index.ts';
import { Mesh } from '../testbed/mesh.ts';
import type { Scenario, ScenarioResult } from '../apps/bad-input-client.ts';
import { rejectedInput, runScenarios } from './sec-helpers.ts';
import { proxyStats, tcpClient } from './helpers.ts';
import { testbedName, testRedirectMode } from '../ebpf/mode.ts';

const mode = testRedirectMode();
const tb = await withTestbed(t, {
  name: testbedName('sec-loop'),
  nodes: [
    { name: 'n1', pods: [{ name: 'client', namespace: 'demo' }, { name: 'legacy', namespace: 'legacy' }, { name: 'server', namespace: 'demo' }] },
  ],
});
// Two proxy workers: each throttles its own log lines, so 3 refusals log at most 2.
const WORKERS = 2;
const mesh = await Mesh.start(tb, { cluster: { meshedNamespaces: ['demo'] }, redirectMode: mode, agentEnv: { WEFT_WORKERS: String(WORKERS) }, controlEnv: { WEFT_LISTEN_ADDRESS: '127.0.0.1:0' } });
t.teardown(() => mesh.stop());
await mesh.startApp('server', 'tcp-server.ts', ['--port', '8080']);

const ATTEMPTS = 3;
const addresses = { 'node address': tb.node('n1').ip, 'pod gateway': tb.model.podGateway };

function run(pod: string, scenarios: Scenario[]): Promise<Map<string, ScenarioResult>> {
  return runScenarios((cmd, args) => tb.spawn(tb.pod(pod).netns, cmd, args), scenarios);
}
const passthrough = async (): Promise<number> => (await proxyStats(mesh, 'n1')).paths.outbound_passthrough.opened;
const listenerLogLines = (): number => mesh.agentLog('n1').split('\n').filter((l) => l.includes('"code":"WEFT_ERR_AGENT_LISTENER"')).length;

t.test(`${mode}: the outbound and inbound capture ports at a node address are refused, counted, never passed through`, async (t) => {
  for (const pod of ['client', 'legacy']) {
    for (const [where, ip] of Object.entries(addresses)) {
      for (const port of [15001, 15006]) {
        const before = { counted: (await rejectedInput(mesh, 'n1')).get('agent_listener') ?? 0, passed: await passthrough(), logs: listenerLogLines() };
        const scenarios: Scenario[] = [];
        for (let i = 0; i < ATTEMPTS; i++) scenarios.push({ kind: 'raw', name: `#${i}`, host: ip, port, send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', waitMs: 3000 });
        const results = await run(pod, scenarios);
        const label = `${pod} → ${where} ${ip}:${port}`;
        for (const [name, r] of results) {
          t.ok(r.closed, `${label} ${name}: the agent closed it (${r.error ?? 'closed'})`);
          t.equal(r.response, '', `${label} ${name}: and answered nothing`);
        }
        const after = (await rejectedInput(mesh, 'n1')).get('agent_listener') ?? 0;
        t.equal(after - before.counted, ATTEMPTS, `${label}: every attempt counted as agent_listener`);
        t.equal(await passthrough(), before.passed, `${label}: nothing passed through (no loop)`);
        t.ok(listenerLogLines() - before.logs <= WORKERS, `${label}: at most one log line per worker for ${ATTEMPTS} refusals (throttled)`);
      }
    }
  }
  t.ok(listenerLogLines() >= 1, 'the refusal is logged');
  t.match(mesh.agentLog('n1'), /"code":"WEFT_ERR_AGENT_LISTENER","reason":"[^"]*is the agent's own listener/);
});

// (The admin port is the admin surface's business: tests/e2e/sec-admin-surface.test.ts. The
// testbed binds it to the node address on purpose; it is not a capture listener and is never
// passed through either, since connections to node addresses are not captured.)
t.test(`${mode}: the HBONE port at a node address takes only mTLS and passes nothing through`, async (t) => {
  const before = await passthrough();
  const results = await run('client', [
    { kind: 'raw', name: 'hbone', host: tb.node('n1').ip, port: 15008, send: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', waitMs: 5000 },
  ]);
  t.ok(results.get('hbone')?.closed, 'plaintext to 15008 is cut by the TLS server');
  t.notMatch(results.get('hbone')?.response ?? '', /HTTP\/1\.1 200/, 'no HTTP answer from 15008');
  t.equal(await passthrough(), before, 'nothing passed through');
});

t.test(`${mode}: the agent still serves its pods afterwards`, async (t) => {
  t.ok((await tcpClient(mesh, 'client', tb.pod('server').ip, 8080, 'echo', ['--bytes', '4000'], 60_000)).ok, 'client → server');
  t.ok((await tcpClient(mesh, 'legacy', tb.pod('server').ip, 8080, 'echo', ['--bytes', '4000'], 60_000)).ok, 'legacy → server (plaintext, permissive)');
});
