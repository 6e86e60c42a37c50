// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What svcr-tc-cost times: the packet path's ingress logic exactly as
 * bpf/svcr_tc.bpf.c runs it, and an empty program to subtract. */
#include "lib/nat.h"

SEC("tc")
int cost_ingress(struct __sk_buff *skb)
{
	return svcr_tc(skb, SVCR_TC_INGRESS);
}

SEC("tc")
int cost_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
