/* tc ingress on every other interface of the node: the uplink (what other nodes send) and the
 * veths of unmeshed pods. Captures plaintext addressed to a meshed pod of this node (to the
 * inbound listener). HBONE goes to the node address, so packets to a pod address arriving here
 * are plaintext, or replies to flows the agent or the pod opened (handled as established). */
#include "include/weft-redirect.h"

SEC("tc")
int weft_inbound(struct __sk_buff *skb)
{
	return weft_steer(skb, 0);
}

char _license[] SEC("license") = "GPL";
