// restorePlan: what the node tier removes from the root namespace at stop — only the KUBE-/CNI-/
// WEFT- chains and fwmark rules that appeared while it ran, never what was there before or what
// another test made meanwhile. The snapshots are iptables-save / ip rule text as those tools print it.
import t from 'tap';
import { parseHost, restorePlan } from './host-leftovers.ts';

const BEFORE_SAVE = `*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:OTHER-TEST - [0:0]
-A INPUT -j OTHER-TEST
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
`;
const AFTER_SAVE = `*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:OTHER-TEST - [0:0]
:ANOTHER-TEST - [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j OTHER-TEST
-A INPUT -j KUBE-FIREWALL
-A OUTPUT -j ANOTHER-TEST
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-0123abcd - [0:0]
-A POSTROUTING -s 10.247.0.2/32 -m comment --comment "name: \\"weft-node-nm\\" id: \\"abc\\"" -j CNI-0123abcd
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:WEFT-DIVERT - [0:0]
-A PREROUTING -p tcp -j WEFT-DIVERT
COMMIT
`;

t.test('only what is new and ours is removed, jumps before chains', async (t) => {
  const before = parseHost(BEFORE_SAVE, '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n');
  const now = parseHost(AFTER_SAVE, '0:\tfrom all lookup local\n100:\tfrom all fwmark 0x539 lookup 133\n200:\tfrom 10.0.0.1 lookup 7\n32766:\tfrom all lookup main\n');
  t.same(restorePlan(before, now), [
    ['iptables', ['-w', '-t', 'filter', '-D', 'INPUT', '-j', 'KUBE-FIREWALL']],
    ['iptables', ['-w', '-t', 'nat', '-D', 'POSTROUTING', '-s', '10.247.0.2/32', '-m', 'comment', '--comment', 'name: "weft-node-nm" id: "abc"', '-j', 'CNI-0123abcd']],
    ['iptables', ['-w', '-t', 'mangle', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'WEFT-DIVERT']],
    ['iptables', ['-w', '-t', 'filter', '-F', 'KUBE-FIREWALL']],
    ['iptables', ['-w', '-t', 'nat', '-F', 'CNI-0123abcd']],
    ['iptables', ['-w', '-t', 'mangle', '-F', 'WEFT-DIVERT']],
    ['iptables', ['-w', '-t', 'filter', '-X', 'KUBE-FIREWALL']],
    ['iptables', ['-w', '-t', 'nat', '-X', 'CNI-0123abcd']],
    ['iptables', ['-w', '-t', 'mangle', '-X', 'WEFT-DIVERT']],
    ['ip', ['rule', 'del', 'priority', '100', 'from', 'all', 'fwmark', '0x539', 'lookup', '133']],
    ['ip', ['route', 'flush', 'table', '133']],
  ]);
});

t.test('nothing new: nothing to do', async (t) => {
  const s = parseHost(AFTER_SAVE, '0:\tfrom all lookup local\n');
  t.same(restorePlan(s, s), []);
});
