/* tc egress on a meshed pod's eth0, inside the pod's namespace: the pod's outbound TCP is sent to
 * lo's ingress, marked, where tc-podns-lo.c hands it to the agent's outbound listener. See
 * include/weft-podns.h. */
#include "include/weft-podns.h"

SEC("tc")
int weft_pod_out(struct __sk_buff *skb)
{
	struct iphdr *ip;
	struct tcphdr *tcp = weft_pod_tcp(skb, &ip);
	if (!tcp)
		return weft_pod_count(WEFT_POD_PASS_NOT_TCP, TC_ACT_OK);
	struct weft_pod_config *cfg = weft_pod_cfg();
	if (!cfg)
		return weft_pod_count(WEFT_POD_PASS_NO_CONFIG, TC_ACT_OK);
	if (cfg->agent_mark != 0 && (skb->mark & cfg->agent_mark) == cfg->agent_mark)
		return weft_pod_count(WEFT_POD_PASS_AGENT, TC_ACT_OK);

	struct bpf_sock_tuple t = {};
	weft_pod_tuple(&t, ip, tcp);
	__u32 reason;
	if (weft_pod_has_flow(skb, &t)) {
		reason = WEFT_POD_REDIRECT_FLOW;
	} else if (tcp->syn && !tcp->ack) {
		__u32 dport = bpf_ntohs(tcp->dest);
		if (bpf_map_lookup_elem(&weft_pod_excluded, &dport))
			return weft_pod_count(WEFT_POD_PASS_EXCLUDED_PORT, TC_ACT_OK);
		reason = WEFT_POD_REDIRECT_SYN;
	} else {
		return weft_pod_count(WEFT_POD_PASS_MID_FLOW, TC_ACT_OK);
	}
	/* lo's receive path takes the frame as addressed to it only with lo's (all-zero) address. */
	__u8 zero_mac[ETH_ALEN] = {};
	if (bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), zero_mac, ETH_ALEN, 0) != 0)
		return weft_pod_count(WEFT_POD_REDIRECT_FAILED, TC_ACT_SHOT);
	skb->mark = cfg->capture_mark;
	weft_pod_count(reason, 0);
	return bpf_redirect(cfg->lo_ifindex, BPF_F_INGRESS);
}

char _license[] SEC("license") = "GPL";
