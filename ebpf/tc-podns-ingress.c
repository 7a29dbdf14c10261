/* tc ingress on a meshed pod's eth0, inside the pod's namespace: a new connection to the pod goes
 * to the agent's inbound plaintext listener, except on the direct ports (HBONE) and from the node's
 * own addresses (kubelet probes). See
 * include/weft-podns.h. */
#include "include/weft-podns.h"

SEC("tc")
int weft_pod_in(struct __sk_buff *skb)
{
	struct iphdr *ip;
	struct tcphdr *tcp = weft_pod_tcp(skb, &ip);
	if (!tcp)
		return weft_pod_count(WEFT_POD_PASS_NOT_TCP, TC_ACT_OK);
	struct weft_pod_config *cfg = weft_pod_cfg();
	if (!cfg)
		return weft_pod_count(WEFT_POD_PASS_NO_CONFIG, TC_ACT_OK);
	if (!(tcp->syn && !tcp->ack))
		return weft_pod_count(WEFT_POD_PASS_MID_FLOW, TC_ACT_OK);
	__u32 dport = bpf_ntohs(tcp->dest);
	if (bpf_map_lookup_elem(&weft_pod_direct, &dport))
		return weft_pod_count(WEFT_POD_PASS_DIRECT_PORT, TC_ACT_OK);
	__u32 saddr = ip->saddr;
	if (bpf_map_lookup_elem(&weft_pod_exempt_src, &saddr))
		return weft_pod_count(WEFT_POD_PASS_EXEMPT_SOURCE, TC_ACT_OK);
	struct bpf_sock_tuple t = {};
	weft_pod_tuple(&t, ip, tcp);
	/* The inbound listener binds 127.0.0.1 like the outbound one: the pod itself can reach it only
	 * as 127.0.0.1:15006, which the agent knows for its own (a pod dialling its own address on
	 * 15006 finds nothing, instead of being looped back into itself). */
	t.ipv4.daddr = bpf_htonl(0x7f000001);
	return weft_pod_to_listener(skb, &t, cfg->inbound_port, WEFT_POD_INBOUND);
}

char _license[] SEC("license") = "GPL";
