// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Closing connected UDP sockets whose backend left its service, with the
 * bpf_sock_destroy() kfunc (6.5): the kernel lets only a TCP or UDP socket
 * iterator call it, because the iterator holds the socket's lock. User space
 * (loader/sock_term.cpp) chooses the sockets from svcr_sock_rev, the socket
 * path's translations, and puts their keys (cookie, backend) in
 * svcr_udp_doomed; svcr_udp_close destroys every connected UDP socket whose
 * own (cookie, peer) is there, and writes its verdict there. A UDP iterator
 * walks the sockets of one network namespace (the one its reader was
 * created in): user space runs it in each. Loaded only where the probe
 * "sock_destroy" finds the kfunc; elsewhere user space closes them through
 * sock_diag. Layouts: maps/layout/sock_term.h.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "lib/addr.h"
#include "maps/layout/sock_term.h"

/*
 * The kernel's types, as far as this file reads them (no vmlinux.h here).
 * preserve_access_index has libbpf move every field to where the running
 * kernel's BTF puts it; fields are matched by name, also inside the
 * kernel's anonymous unions, so only the names must be the kernel's.
 */
struct bpf_iter_meta;
struct udp_sock;

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

/* struct in6_addr of the kernel, by its member names (the uapi header's is
 * not marked for relocation). */
struct svcr_in6___kern {
	union {
		__u32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct svcr_in6___kern skc_v6_daddr;
} __attribute__((preserve_access_index));

/* The kernel's TCP_ESTABLISHED: a UDP socket with a fixed peer (connect()). */
#define SVCR_TCP_ESTABLISHED 1
#define SVCR_AF_INET 2

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_SOCK_TERM_BATCH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct svcr_sock_key);
	__type(value, struct svcr_sock_term_verdict);
} svcr_udp_doomed SEC(".maps");

/*
 * The svcr_sock_rev key of a connected socket: its cookie and its peer. false
 * for a socket without a peer (unconnected, or one a pass already closed):
 * such a socket never matches, whatever svcr_sock_rev holds for its cookie.
 */
static __always_inline bool svcr_udp_peer_key(struct udp_sock *udp_sk, struct svcr_sock_key *key)
{
	struct sock_common *sk = (struct sock_common *)udp_sk;
	struct svcr_addr peer;

	if (sk->skc_state != SVCR_TCP_ESTABLISHED || !sk->skc_dport)
		return false;
	if (sk->skc_family == SVCR_AF_INET) {
		svcr_addr_set_v4(&peer, sk->skc_daddr);
	} else {
		/* IPv6, and IPv4 through an AF_INET6 socket as ::ffff:a.b.c.d:
		 * the encoding of svcr_addr. */
		peer.w[0] = sk->skc_v6_daddr.in6_u.u6_addr32[0];
		peer.w[1] = sk->skc_v6_daddr.in6_u.u6_addr32[1];
		peer.w[2] = sk->skc_v6_daddr.in6_u.u6_addr32[2];
		peer.w[3] = sk->skc_v6_daddr.in6_u.u6_addr32[3];
	}
	__builtin_memset(key, 0, sizeof(*key));
	key->cookie = bpf_get_socket_cookie(udp_sk);
	key->addr = peer;
	key->port = sk->skc_dport; /* network order, as the socket path stores it */
	key->proto = IPPROTO_UDP;
	return true;
}

SEC("iter/udp")
int svcr_udp_close(struct bpf_iter__udp *ctx)
{
	struct udp_sock *sk = ctx->udp_sk;
	struct svcr_sock_term_verdict *verdict;
	struct svcr_sock_key key;

	if (!sk || !svcr_udp_peer_key(sk, &key))
		return 0;
	verdict = bpf_map_lookup_elem(&svcr_udp_doomed, &key);
	if (!verdict || verdict->done)
		return 0;
	verdict->result = bpf_sock_destroy((struct sock_common *)sk);
	verdict->done = 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
