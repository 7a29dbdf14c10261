/* tc ingress on lo inside a meshed pod's namespace: packets tc-podns-egress.c redirected here
 * (they carry capture_mark) go to their established socket or, a SYN, to the agent's outbound
 * listener. See include/weft-podns.h. */
#include "include/weft-podns.h"

SEC("tc")
int weft_pod_lo(struct __sk_buff *skb)
{
	struct weft_pod_config *cfg = weft_pod_cfg();
	if (!cfg)
		return weft_pod_count(WEFT_POD_PASS_NO_CONFIG, TC_ACT_OK);
	if (skb->mark != cfg->capture_mark)
		return weft_pod_count(WEFT_POD_PASS_UNMARKED, TC_ACT_OK);
	struct iphdr *ip;
	struct tcphdr *tcp = weft_pod_tcp(skb, &ip);
	if (!tcp)
		return weft_pod_count(WEFT_POD_PASS_NOT_TCP, TC_ACT_OK);
	struct bpf_sock_tuple t = {};
	weft_pod_tuple(&t, ip, tcp);
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		if (sk->state != BPF_TCP_LISTEN) {
			weft_pod_count(WEFT_POD_ESTABLISHED, 0);
			long err = bpf_sk_assign(skb, sk, 0);
			bpf_sk_release(sk);
			return err == 0 ? TC_ACT_OK : weft_pod_count(WEFT_POD_DROP_ASSIGN_FAILED, TC_ACT_SHOT);
		}
		bpf_sk_release(sk);
	}
	/* A later packet whose agent socket is gone: the local stack answers it with a reset. */
	if (!(tcp->syn && !tcp->ack))
		return weft_pod_count(WEFT_POD_PASS_MID_FLOW, TC_ACT_OK);
	/* The outbound listener binds 127.0.0.1 (or the wildcard), out of reach from outside the pod:
	 * the lookup asks for that address, the packet keeps its own. */
	t.ipv4.daddr = bpf_htonl(0x7f000001);
	return weft_pod_to_listener(skb, &t, cfg->outbound_port, WEFT_POD_OUTBOUND);
}

char _license[] SEC("license") = "GPL";
