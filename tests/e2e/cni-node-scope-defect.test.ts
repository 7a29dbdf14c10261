// Issue 20's defect, shown on the testbed: a bridge CNI (cni0 + br_netfilter +
// bridge-nf-call-iptables=1) with the real kube-proxy in iptables mode and the agent capturing at
// the NODE (WEFT_CAPTURE_SCOPE=node, today's TPROXY rules in the node namespace). The checks are
// the ones the CNI matrix runs (cni-cell.ts); here they document what node-level capture does:
//
//   - a meshed pod's request to a ClusterIP is DNATed by kube-proxy and never carried by the
//     agent: in iptables mode the agent's TPROXY rule marks the same SYN and nothing answers; in
//     eBPF mode kube-proxy's endpoint answers, outside the mesh;
//   - a same-node request to a pod IP is bridged at layer 2 and answered without the agent ever
//     seeing it (no mTLS, no policy, no metrics) — and STRICT does not stop plaintext there;
//   - iptables mode only: a cross-node request to a pod IP is not answered either (eBPF mode
//     carries it over HBONE).
//
// Runs in the redirect mode of WEFT_TEST_REDIRECT_MODE (cni-node-scope-defect-ebpf.test.ts: ebpf).
//
// The same checks pass in pod scope (cni-bridge-iptables.test.ts), where the agent captures in
// the pod's own namespace before the node's bridge or kube-proxy see a packet.
import t from 'tap';
import { startCell, get, served, dnatPackets, recordsTo, opened, VIP } from './cni-cell.ts';
import { proxyStats } from './helpers.ts';
import { testRedirectMode } from '../ebpf/mode.ts';

const mode = testRedirectMode();

const NO_ANSWER_MS = 12_000;
const noAnswer = (err: Error): { ok: false; error: string } => ({ ok: false, error: err.message });

const cell = await startCell(t, { cni: 'bridge', mode, scope: 'node' });
if (cell !== null) {
  const { tb, mesh, kube } = cell;

  t.test(`node scope: a meshed request to a ClusterIP is DNATed by kube-proxy, not carried by the agent${mode === 'iptables' ? ', and never answered' : ''}`, async (t) => {
    const before = await proxyStats(mesh, 'n1');
    const dnatBefore = await dnatPackets(cell, 'n1');
    const r = await get(cell, 'client', `http://${VIP}/defect-vip`, NO_ANSWER_MS).catch(noAnswer);
    if (mode === 'iptables') t.notOk(r.ok, `no answer within ${NO_ANSWER_MS} ms (${JSON.stringify(r).slice(0, 200)})`);
    else t.equal((r as { status?: number }).status, 200, 'answered by the endpoint kube-proxy chose');
    const dnatAfter = await dnatPackets(cell, 'n1');
    const dnated = dnatAfter.reduce((a, b) => a + b, 0) - dnatBefore.reduce((a, b) => a + b, 0);
    t.ok(dnated >= 1, `kube-proxy's KUBE-SEP DNAT rules on n1 took the SYN (${JSON.stringify({ dnatBefore, dnatAfter })})`);
    const after = await proxyStats(mesh, 'n1');
    t.same([...recordsTo(after, before, 'demo/web-1'), ...recordsTo(after, before, 'demo/web-2')], [], "n1's agent carried no connection to either endpoint");
    t.equal(served(cell, 'web-1', '/defect-vip') + served(cell, 'web-2', '/defect-vip'), mode === 'iptables' ? 0 : 1, mode === 'iptables' ? 'no endpoint saw the request' : 'one endpoint served it, unmeshed');
  });

  t.test('node scope: a same-node request to a pod IP is bridged past the agent', async (t) => {
    const before = await proxyStats(mesh, 'n1');
    const r = await get(cell, 'client', `http://${tb.pod('web-1').ip}:8080/defect-same`);
    t.equal(r.status, 200, 'answered by web-1');
    t.equal(served(cell, 'web-1', '/defect-same'), 1);
    const after = await proxyStats(mesh, 'n1');
    t.equal(opened(after) - opened(before), 0, "n1's agent opened no connection for it: no mTLS, no policy, no metrics");
    t.same(recordsTo(after, before, 'demo/web-1'), [], 'and recorded none');
  });

  t.test('node scope: STRICT does not stop same-node plaintext from an unmeshed pod', async (t) => {
    const applied = await kube.kube.kubectl(['apply', '-f', '-'], { input: 'apiVersion: weft.dev/v1alpha1\nkind: MeshPolicy\nmetadata: { name: defect-strict, namespace: demo }\nspec: { mtls: { mode: STRICT } }\n' });
    t.equal(applied.code, 0, applied.stderr);
    await mesh.waitUntil(async () => {
      const p = ((await mesh.admin('n1', '/config_dump/policies')).body as { policies: { version: number | null; workerVersions: (number | null)[]; workloads: Record<string, { mtls: string }> } }).policies;
      return p.workloads['demo/web-1']?.mtls === 'STRICT' && p.workerVersions.every((v) => v === p.version);
    }, 30_000, 'n1 to enforce STRICT');
    const r = await get(cell, 'legacy', `http://${tb.pod('web-1').ip}:8080/defect-strict`);
    t.equal(r.status, 200, 'the legacy pod\'s plaintext request is answered although web-1 is STRICT');
    t.equal(served(cell, 'web-1', '/defect-strict'), 1, 'web-1 served it');
    await kube.kube.kubectl(['delete', 'meshpolicy', '-n', 'demo', 'defect-strict']);
  });

  if (mode === 'iptables') t.test('node scope: a cross-node request to a pod IP is not answered either', async (t) => {
    const r = await get(cell, 'client', `http://${tb.pod('web-2').ip}:8080/defect-cross`, NO_ANSWER_MS).catch(noAnswer);
    t.notOk(r.ok, `no answer within ${NO_ANSWER_MS} ms (${JSON.stringify(r).slice(0, 200)})`);
    t.equal(served(cell, 'web-2', '/defect-cross'), 0, 'web-2 never saw it');
  });
}
