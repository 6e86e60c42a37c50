// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * In-kernel tests of the packet path: lib/nat.h as bpf/svcr_tc.bpf.c runs
 * it, with the two answers a test must choose replaced by globals: the
 * clock, and the device the kernel would route a backend through (what
 * decides SNAT). tc_test.cpp is the runner.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 test_now_ns;	   /* what the packet path's clock says */
__u32 test_route_ifindex; /* the device "the kernel" routes backends through */

#define svcr_tc_now() (test_now_ns)
#define svcr_route_ifindex(skb, p, dst) (test_route_ifindex)

#include "lib/nat.h"

SEC("tc")
int test_ingress(struct __sk_buff *skb)
{
	return svcr_tc(skb, SVCR_TC_INGRESS);
}

SEC("tc")
int test_egress(struct __sk_buff *skb)
{
	return svcr_tc(skb, SVCR_TC_EGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
