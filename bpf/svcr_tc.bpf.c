// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TC hooks of a --tc-dev: the packet path. The logic lives in lib/nat.h. */
#include "lib/nat.h"

SEC("tc")
int svcr_tc_ingress(struct __sk_buff *skb)
{
	return svcr_tc(skb, SVCR_TC_INGRESS);
}

SEC("tc")
int svcr_tc_egress(struct __sk_buff *skb)
{
	return svcr_tc(skb, SVCR_TC_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
