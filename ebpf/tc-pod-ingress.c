/* tc ingress on the node side of a pod's veth: what the pod sends. Captures a meshed pod's
 * outbound TCP (to the outbound listener) and plaintext from an unmeshed pod of this node to a
 * meshed one (to the inbound listener). See include/weft-redirect.h for the decision. */
#include "include/weft-redirect.h"

SEC("tc")
int weft_pod(struct __sk_buff *skb)
{
	return weft_steer(skb, 1);
}

char _license[] SEC("license") = "GPL";
