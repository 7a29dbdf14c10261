/* Pod scope (WEFT_CAPTURE_SCOPE=pod): programs attached INSIDE a meshed pod's network namespace,
 * where the agent's capture listeners live too (opened there by the agent). Three hooks:
 *
 *   eth0 egress  (tc-podns-egress.c)  what the pod sends. A new connection (SYN without ACK) that
 *                is not the agent's own (skb->mark) and not to an excluded port, and every later
 *                packet of a flow captured that way (a socket in this namespace holds its reversed
 *                tuple), is marked with capture_mark and redirected to lo's ingress, its
 *                destination MAC zeroed (lo's address). bpf_sk_assign is refused at egress, hence
 *                the hop. Loopback and the pod's own addresses never reach eth0.
 *   lo ingress   (tc-podns-lo.c)      only packets carrying capture_mark (put there by the egress
 *                program; a pod cannot set a mark without CAP_NET_ADMIN, and the agent's own
 *                sockets use another mark): assigned to their established socket, or a SYN to the
 *                outbound listener (bound to 127.0.0.1, unreachable from outside the pod). The agent's `ip rule fwmark capture_mark lookup <table>` +
 *                `local default dev lo` in the pod namespace routes them to the local stack, and
 *                net.ipv4.conf.lo.accept_local=1 lets their source (the pod's own address) in.
 *   eth0 ingress (tc-podns-ingress.c) what reaches the pod: a SYN to any port but the direct
 *                ones (HBONE 15008, which the agent's in-pod HBONE listener accepts itself) goes to
 *                the inbound plaintext listener (bound to 127.0.0.1 too, so the pod cannot dial
 *                it by its own address). The destination is the pod's own address, so no
 *                routing help is needed; later packets find the accepted socket by themselves.
 *
 * Everything else passes untouched: loopback traffic never crosses eth0, replies of flows nobody
 * captured (the SYN-ACK of an excluded-port flow, a flow older than the capture) have no socket
 * of the agent's, and only SYN-without-ACK starts a capture. The accepted sockets' local address
 * is the original destination (bpf_sk_assign keeps the packet's addresses), as under TPROXY. */
#ifndef WEFT_PODNS_H
#define WEFT_PODNS_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Filled by the agent (key 0); one per pod (each pod's programs are loaded with their own maps).
 * Ports in host order. */
struct weft_pod_config {
	__u32 outbound_port;
	__u32 inbound_port;
	__u32 hbone_port;
	__u32 agent_mark;   /* the agent's own sockets: never captured */
	__u32 capture_mark; /* set on redirected packets; the pod netns's ip rule routes it locally */
	__u32 lo_ifindex;
	__u32 reserved[2];
};

enum weft_pod_reason {
	WEFT_POD_PASS_NOT_TCP = 0,
	WEFT_POD_PASS_NO_CONFIG = 1,
	WEFT_POD_PASS_AGENT = 2,
	WEFT_POD_PASS_EXCLUDED_PORT = 3,
	WEFT_POD_PASS_MID_FLOW = 4,
	WEFT_POD_REDIRECT_SYN = 5,
	WEFT_POD_REDIRECT_FLOW = 6,
	WEFT_POD_REDIRECT_FAILED = 7,
	WEFT_POD_PASS_UNMARKED = 8,
	WEFT_POD_ESTABLISHED = 9,
	WEFT_POD_OUTBOUND = 10,
	WEFT_POD_INBOUND = 11,
	WEFT_POD_PASS_DIRECT_PORT = 12,
	WEFT_POD_DROP_NO_LISTENER = 13,
	WEFT_POD_DROP_ASSIGN_FAILED = 14,
	WEFT_POD_PASS_EXEMPT_SOURCE = 15,
	WEFT_POD_REASONS = 16,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct weft_pod_config);
} weft_pod_config SEC(".maps");

/* Destination ports (host order) the pod's outbound traffic reaches directly → 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} weft_pod_excluded SEC(".maps");

/* Inbound ports (host order) delivered to whoever listens on them (HBONE) → 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} weft_pod_direct SEC(".maps");

/* Sources (IPv4, network order as in the header) whose connections to the pod are never captured:
 * the node's own addresses, so kubelet probes reach the app under STRICT as in node scope. A
 * spoofed node source cannot finish a handshake (the SYN-ACK goes to the node) → 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} weft_pod_exempt_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WEFT_POD_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} weft_pod_stats SEC(".maps");

static __always_inline int weft_pod_count(__u32 reason, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&weft_pod_stats, &reason);
	if (n)
		__sync_fetch_and_add(n, 1);
	return verdict;
}

/* Parses Ethernet + IPv4 + TCP; NULL when the packet is anything else. */
static __always_inline struct tcphdr *weft_pod_tcp(struct __sk_buff *skb, struct iphdr **ipp)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return NULL;
	if (ip->frag_off & bpf_htons(0x1fff))
		return NULL;
	struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > end)
		return NULL;
	*ipp = ip;
	return tcp;
}

static __always_inline struct weft_pod_config *weft_pod_cfg(void)
{
	__u32 zero = 0;
	struct weft_pod_config *cfg = bpf_map_lookup_elem(&weft_pod_config, &zero);
	if (!cfg || cfg->outbound_port == 0 || cfg->lo_ifindex == 0)
		return NULL;
	return cfg;
}

static __always_inline void weft_pod_tuple(struct bpf_sock_tuple *t, const struct iphdr *ip, const struct tcphdr *tcp)
{
	t->ipv4.saddr = ip->saddr;
	t->ipv4.daddr = ip->daddr;
	t->ipv4.sport = tcp->source;
	t->ipv4.dport = tcp->dest;
}

/* True when a socket other than a listener in this namespace owns the tuple (the agent's side of
 * a captured flow: local address = the pod's original destination). */
static __always_inline int weft_pod_has_flow(struct __sk_buff *skb, struct bpf_sock_tuple *t)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, t, sizeof(t->ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	int flow = sk->state != BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return flow;
}

/* Assigns the listener on the tuple's destination address and `port` to a SYN; drops when none
 * listens. The packet keeps its addresses: the accepted socket's local one is the original. */
static __always_inline int weft_pod_to_listener(struct __sk_buff *skb, struct bpf_sock_tuple *t, __u32 port, __u32 reason)
{
	t->ipv4.dport = bpf_htons((__u16)port);
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, t, sizeof(t->ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return weft_pod_count(WEFT_POD_DROP_NO_LISTENER, TC_ACT_SHOT);
	if (sk->state != BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return weft_pod_count(WEFT_POD_DROP_NO_LISTENER, TC_ACT_SHOT);
	}
	weft_pod_count(reason, 0);
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err != 0)
		return weft_pod_count(WEFT_POD_DROP_ASSIGN_FAILED, TC_ACT_SHOT);
	return TC_ACT_OK;
}

#endif
