#!/usr/bin/env bash
# Connect latency of the two in-pod capture paths, for the pod-scope design note (ebpf/README.md):
# N sequential connects (connect + first byte) from a pod namespace to 10.99.0.1:80 — answered by
# the peer directly, then by a transparent listener on 127.0.0.1:15001 inside the pod through
# (a) an iptables REDIRECT in the pod's OUTPUT (the iptables in-pod mode) and (b) the eBPF pod
# capture (agent/redirect/ebpf-pod-capture.ts). Root; namespaces ebpfpod-bench-*, removed after.
#   bash ebpf/tools/pod-capture-connect.sh [N=2000]
set -euo pipefail
cd "$(dirname "$0")/../.."
P=ebpfpod-bench-pod; Q=ebpfpod-bench-peer; W=$PWD; N=$W/node_modules/node/bin/node; COUNT=${1:-2000}
CLIENT=$(mktemp --suffix=.mjs); trap 'rm -f "$CLIENT"' EXIT
cat > "$CLIENT" <<'JS'
// host port n → n sequential connects, each until the first byte; p50/p90 in µs
import net from 'node:net';
const [host, port, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const t = [];
for (let i = 0; i < n; i++) {
  const s = process.hrtime.bigint();
  await new Promise((res, rej) => { const c = net.connect(port, host); c.once('data', () => { c.destroy(); res(); }); c.once('error', rej); });
  t.push(Number(process.hrtime.bigint() - s) / 1000);
}
t.sort((a, b) => a - b);
console.log(JSON.stringify({ n, p50: Math.round(t[Math.floor(n * 0.5)]), p90: Math.round(t[Math.floor(n * 0.9)]) }));
JS
ip netns del $P 2>/dev/null || true; ip netns del $Q 2>/dev/null || true
ip netns add $P; ip netns add $Q
ip link add eth0 netns $P type veth peer name veth-pod netns $Q
ip -n $P link set lo up; ip -n $P link set eth0 up; ip -n $P addr add 10.99.0.2/24 dev eth0; ip -n $P route add default via 10.99.0.1
ip -n $Q link set lo up; ip -n $Q link set veth-pod up; ip -n $Q addr add 10.99.0.1/24 dev veth-pod
SRV="require('net').createServer((s)=>{s.on('error',()=>{});s.end('x')}).listen(Number(process.argv[1]),process.argv[2]||'0.0.0.0',()=>console.log('ready'))"
ip netns exec $Q $N -e "$SRV" 80 > /dev/null & S1=$!
# the "agent" listener in the pod: transparent, 127.0.0.1:15001, answers like the server
bash scripts/build-native.sh >/dev/null; bash scripts/build-ebpf.sh >/dev/null
(cd $W && ip netns exec $P $N tests/testbed/probe.ts 127.0.0.1 15001 x transparent > /dev/null) & S2=$!
sleep 2
echo "direct (no capture):"; ip netns exec $P $N "$CLIENT" 10.99.0.1 80 "$COUNT"
# iptables REDIRECT in the pod (as the iptables in-pod mode): to 127.0.0.1:15001
ip netns exec $P iptables -t nat -A OUTPUT -p tcp -o eth0 -j REDIRECT --to-ports 15001
ip netns exec $P sysctl -qw net.ipv4.conf.all.route_localnet=1 || true
echo "iptables REDIRECT in the pod:"; ip netns exec $P $N "$CLIENT" 10.99.0.1 80 "$COUNT"
ip netns exec $P iptables -t nat -F OUTPUT
# eBPF pod capture
B=/run/weft-ebpf/ebpf-bench; mkdir -p $B; mountpoint -q $B || mount -t bpf bpf $B
(cd $W && node_modules/node/bin/node -e "
const { EbpfPodCapture } = await import('./agent/redirect/ebpf-pod-capture.ts');
const c = new EbpfPodCapture({ pinRoot: '$B', nodeName: 'bench' });
await c.apply({ key: 'bench/pod', path: '/run/netns/$P' });
" --input-type=module)
echo "eBPF pod capture:"; ip netns exec $P $N "$CLIENT" 10.99.0.1 80 "$COUNT"
(cd $W && node_modules/node/bin/node --input-type=module -e "
const { EbpfPodCapture } = await import('./agent/redirect/ebpf-pod-capture.ts');
await new EbpfPodCapture({ pinRoot: '$B', nodeName: 'bench' }).uninstall();
")
umount $B; rmdir $B
kill $S1 $S2 2>/dev/null; for p in $(ip netns pids $P) $(ip netns pids $Q); do kill $p; done; sleep 0.5
ip netns del $P; ip netns del $Q
