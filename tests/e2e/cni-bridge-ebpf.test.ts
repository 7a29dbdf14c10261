// The mesh e2e (VIP, same node, cross node with mTLS on the wire, L7 DENY, STRICT) on the bridge CNI
// shape (cni0, br_netfilter, bridge-nf-call-iptables=1, the real kube-proxy in iptables mode) in
// ebpf redirect mode with pod-scope capture: one mesh start, the five checks of cni-cell.ts.
import t from 'tap';
import { runCell } from './cni-cell.ts';

await runCell(t, { cni: 'bridge', mode: 'ebpf', scope: 'pod' });
