#!/usr/bin/env bash
# The trial that rejected routing-based pod capture (ebpf/README.md): two echo connections, one out
# of a pod namespace and one into it, one line a second; then `ip rule ipproto tcp lookup 133` with
# `local default dev lo` goes into the pod, as a route-to-lo + sk_lookup design would need. Watch
# both stop: routing has no connection state, so replies and older flows are taken too.
# Root; namespaces ebpfpod-trial-*, removed after.   bash ebpf/tools/trial-route-rule.sh
cd "$(dirname "$0")/../.."
P=ebpfpod-trial-pod; Q=ebpfpod-trial-peer
ip netns del $P 2>/dev/null; ip netns del $Q 2>/dev/null
ip netns add $P; ip netns add $Q
ip link add eth0 netns $P type veth peer name veth-pod netns $Q
ip -n $P link set lo up; ip -n $P link set eth0 up; ip -n $P addr add 10.99.0.2/24 dev eth0; ip -n $P route add default via 10.99.0.1
ip -n $Q link set lo up; ip -n $Q link set veth-pod up; ip -n $Q addr add 10.99.0.1/24 dev veth-pod
N=$PWD/node_modules/node/bin/node
ECHO="require('net').createServer((s)=>{s.on('error',()=>{});s.pipe(s)}).listen(7070)"
ip netns exec $Q $N -e "$ECHO" & E1=$!
ip netns exec $P $N -e "$ECHO" & E2=$!
sleep 1
CLI="const c=require('net').connect(7070,process.argv[1]);let n=0;c.on('data',(d)=>{console.log(process.argv[2]+' echo '+String(d).trim())});c.on('error',(e)=>console.log('error '+e.message));setInterval(()=>c.write('ping'+(n++)+'\n'),1000)"
ip netns exec $P $N -e "$CLI" 10.99.0.1 pod-out & C1=$!
ip netns exec $Q $N -e "$CLI" 10.99.0.2 peer-in & C2=$!
sleep 2.5; echo "--- adding ip rule ipproto tcp lookup 133 (local default dev lo)"
ip -n $P rule add ipproto tcp lookup 133 pref 100; ip -n $P route add local 0.0.0.0/0 dev lo table 133
sleep 4
kill $E1 $E2 $C1 $C2; wait 2>/dev/null
ip netns del $P; ip netns del $Q
