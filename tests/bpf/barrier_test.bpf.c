// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A BPF program that stays inside one run for a while, so that a test can
 * tell a readers' barrier that waits for running programs (maps::ReaderBarrier)
 * from one that does not: barrier_test.cpp runs it with BPF_PROG_TEST_RUN,
 * which holds rcu_read_lock() for the whole run, and calls the barrier while
 * it spins.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 test_spin_loops;	/* iterations of the spin, set by the runner (<= 1 << 23) */
__u32 test_started;	/* set on entry to the run */
__u32 test_finished;	/* set when the spin is over */
__u64 test_spin_result; /* the spin's result, stored so clang keeps the work */

struct test_spin {
	__u64 acc;
};

/*
 * One bpf_loop step: rounds of xorshift64, each depending on the last.
 * (Not an LCG: clang folds a chain of multiply-adds into one.)
 */
static long test_spin_step(__u32 index, void *data)
{
	struct test_spin *s = data;
	__u64 x = s->acc;

#pragma unroll
	for (int i = 0; i < 16; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	s->acc = x;
	return 0;
}

SEC("tc")
int test_spin(struct __sk_buff *skb)
{
	struct test_spin s = { .acc = 1 };

	/*
	 * volatile stores: the runner polls these through the mmap'd .bss
	 * while the program runs, so each must be written at its place in
	 * the program, not merged or moved across the loop.
	 */
	*(volatile __u32 *)&test_started = 1;
	bpf_loop(test_spin_loops, test_spin_step, &s, 0);
	test_spin_result = s.acc;
	*(volatile __u32 *)&test_finished = 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
