/* Shared by the tc programs: the maps the agent fills, and the one decision every hook makes.
 *
 * A TCP packet that concerns a meshed pod (its source or destination is in weft_meshed):
 *   1. belongs to a socket on this node that is not a listener (a flow the agent already
 *      accepted, or one the agent opened with the pod's address) → assign it to that socket;
 *   2. otherwise, a new connection (SYN without ACK):
 *        from a meshed pod (pod-side hooks only) → the outbound capture listener, unless the
 *          destination port is excluded or the destination is local to the node;
 *        to a meshed pod → the inbound plaintext listener;
 *   3. anything else (mid-flow packets of flows nobody captured) passes untouched.
 * Assigning a socket with bpf_sk_assign keeps the packet's addresses, so the accepted socket's
 * local address is the original destination, as with TPROXY. The packet is also marked: the
 * agent's `ip rule fwmark … lookup <table>` with `local default dev lo` routes it to the local
 * stack, since a packet addressed elsewhere would otherwise be forwarded (and ip_forward drops
 * packets that carry a socket). */
#ifndef WEFT_REDIRECT_H
#define WEFT_REDIRECT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Filled by the agent (key 0). Ports in host order. */
struct weft_config {
	__u32 outbound_port;
	__u32 inbound_port;
	__u32 mark;
	__u32 reserved;
};

/* What was decided for a packet; weft_stats counts each (read by tests and /config_dump). A
 * capture counts its decision (ESTABLISHED, OUTBOUND, INBOUND) and, should bpf_sk_assign then
 * refuse, ASSIGN_FAILED too: BPF_PROG_RUN is not at tc ingress, so unit tests see both. */
enum weft_reason {
	WEFT_PASS_NOT_TCP = 0,
	WEFT_PASS_UNRELATED = 1,
	WEFT_PASS_EXCLUDED_PORT = 2,
	WEFT_PASS_MID_FLOW = 3,
	WEFT_ESTABLISHED = 4,
	WEFT_OUTBOUND = 5,
	WEFT_INBOUND = 6,
	WEFT_DROP_NO_LISTENER = 7,
	WEFT_DROP_ASSIGN_FAILED = 8,
	WEFT_PASS_NO_CONFIG = 9,
	WEFT_PASS_LOCAL_DST = 10,
	WEFT_REASONS = 16,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weft_config);
} weft_config SEC(".maps");

/* Meshed pod IPv4 addresses (network order) on this node → 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} weft_meshed SEC(".maps");

/* Destination ports (host order) a meshed pod's outbound traffic reaches directly → 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} weft_excluded SEC(".maps");

/* The node's own IPv4 addresses (network order) → 1: connections to them are not captured, as
 * iptables' `--dst-type LOCAL -j RETURN`. A map rather than bpf_fib_lookup, which cannot tell a
 * local route from a missing one (a Service VIP often has no route at all). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} weft_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WEFT_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} weft_stats SEC(".maps");

static __always_inline int weft_count(__u32 reason, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&weft_stats, &reason);
	if (n)
		__sync_fetch_and_add(n, 1);
	return verdict;
}

static __always_inline int weft_assign(struct __sk_buff *skb, struct bpf_sock *sk, const struct weft_config *cfg, __u32 reason)
{
	weft_count(reason, 0);
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err != 0)
		return weft_count(WEFT_DROP_ASSIGN_FAILED, TC_ACT_SHOT);
	skb->mark = cfg->mark;
	return TC_ACT_OK;
}

static __always_inline int weft_steer(struct __sk_buff *skb, int pod_side)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return weft_count(WEFT_PASS_NOT_TCP, TC_ACT_OK);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return weft_count(WEFT_PASS_NOT_TCP, TC_ACT_OK);
	/* Later fragments carry no TCP header. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return weft_count(WEFT_PASS_NOT_TCP, TC_ACT_OK);
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > end)
		return weft_count(WEFT_PASS_NOT_TCP, TC_ACT_OK);

	__u32 zero = 0;
	struct weft_config *cfg = bpf_map_lookup_elem(&weft_config, &zero);
	if (!cfg || cfg->outbound_port == 0)
		return weft_count(WEFT_PASS_NO_CONFIG, TC_ACT_OK);

	__u32 saddr = ip->saddr, daddr = ip->daddr;
	int from_meshed = pod_side && bpf_map_lookup_elem(&weft_meshed, &saddr) != NULL;
	/* A pod talking to itself is not inbound traffic (iptables: -d ip ! -s ip). */
	int to_meshed = saddr != daddr && bpf_map_lookup_elem(&weft_meshed, &daddr) != NULL;
	if (!from_meshed && !to_meshed)
		return weft_count(WEFT_PASS_UNRELATED, TC_ACT_OK);

	struct bpf_sock_tuple tuple = {};
	tuple.ipv4.saddr = saddr;
	tuple.ipv4.daddr = daddr;
	tuple.ipv4.sport = tcp->source;
	tuple.ipv4.dport = tcp->dest;
	__u16 dport = bpf_ntohs(tcp->dest);
	int syn = tcp->syn && !tcp->ack;

	/* Established (or half-open, or time-wait) sockets first: the lookup also falls back to a
	 * listener on the original port, which is not ours to use. */
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN)
			return weft_assign(skb, sk, cfg, WEFT_ESTABLISHED);
		bpf_sk_release(sk);
	}
	if (!syn)
		return weft_count(WEFT_PASS_MID_FLOW, TC_ACT_OK);

	__u32 port, reason;
	if (from_meshed) {
		__u32 key = dport;
		if (bpf_map_lookup_elem(&weft_excluded, &key))
			return weft_count(WEFT_PASS_EXCLUDED_PORT, TC_ACT_OK);
		if (bpf_map_lookup_elem(&weft_local, &daddr))
			return weft_count(WEFT_PASS_LOCAL_DST, TC_ACT_OK);
		port = cfg->outbound_port;
		reason = WEFT_OUTBOUND;
	} else {
		port = cfg->inbound_port;
		reason = WEFT_INBOUND;
	}
	tuple.ipv4.dport = bpf_htons((__u16)port);
	sk = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return weft_count(WEFT_DROP_NO_LISTENER, TC_ACT_SHOT);
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return weft_count(WEFT_DROP_NO_LISTENER, TC_ACT_SHOT);
	}
	return weft_assign(skb, sk, cfg, reason);
}

#endif
