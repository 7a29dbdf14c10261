// The mesh e2e (VIP, same node, cross node with mTLS on the wire, L7 DENY, STRICT) on the routed CNI
// shape in
// ebpf redirect mode with pod-scope capture: one mesh start, the five checks of cni-cell.ts.
import t from 'tap';
import { runCell } from './cni-cell.ts';

// The routed shape in pod scope is also what tests/e2e/ebpf-inpod-mesh.test.ts runs (the same five checks and
// more), so the suite runs this cell only when asked (WEFT_CNI_ROUTED=1), to stay under 30 minutes.
if (process.env.WEFT_CNI_ROUTED === '1') await runCell(t, { cni: 'routed', mode: 'ebpf', scope: 'pod' });
else t.plan(0, 'set WEFT_CNI_ROUTED=1 (covered by ebpf-inpod-mesh.test.ts)');
