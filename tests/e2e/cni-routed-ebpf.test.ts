// The mesh e2e (VIP, same node, cross node with mTLS on the wire, L7 DENY, STRICT) on the routed CNI
// shape in
// ebpf redirect mode with pod-scope capture: one mesh start, the five checks of cni-cell.ts.
import t from 'tap';
import { runCell } from './cni-cell.ts';

await runCell(t, { cni: 'routed', mode: 'ebpf', scope: 'pod' });
