// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cgroup v2 sock_addr hooks: the socket path. The logic lives in lib/sock.h. */
#include "lib/sock.h"
/* Pinned beside the socket path's maps; written from user space only. */
#include "lib/sock_term_maps.h"

SEC("cgroup/connect4")
int svcr_connect4(struct bpf_sock_addr *ctx)
{
	return svcr_sock_forward(ctx, SVCR_INET4, SVCR_CONNECT);
}

SEC("cgroup/connect6")
int svcr_connect6(struct bpf_sock_addr *ctx)
{
	return svcr_sock_forward(ctx, SVCR_INET6, SVCR_CONNECT);
}

SEC("cgroup/sendmsg4")
int svcr_sendmsg4(struct bpf_sock_addr *ctx)
{
	return svcr_sock_forward(ctx, SVCR_INET4, SVCR_SENDMSG);
}

SEC("cgroup/sendmsg6")
int svcr_sendmsg6(struct bpf_sock_addr *ctx)
{
	return svcr_sock_forward(ctx, SVCR_INET6, SVCR_SENDMSG);
}

SEC("cgroup/recvmsg4")
int svcr_recvmsg4(struct bpf_sock_addr *ctx)
{
	return svcr_sock_reverse(ctx, SVCR_INET4);
}

SEC("cgroup/recvmsg6")
int svcr_recvmsg6(struct bpf_sock_addr *ctx)
{
	return svcr_sock_reverse(ctx, SVCR_INET6);
}

SEC("cgroup/getpeername4")
int svcr_getpeer4(struct bpf_sock_addr *ctx)
{
	return svcr_sock_reverse(ctx, SVCR_INET4);
}

SEC("cgroup/getpeername6")
int svcr_getpeer6(struct bpf_sock_addr *ctx)
{
	return svcr_sock_reverse(ctx, SVCR_INET6);
}

SEC("cgroup/sock_release")
int svcr_release(struct bpf_sock *sk)
{
	return svcr_sock_release(sk);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
