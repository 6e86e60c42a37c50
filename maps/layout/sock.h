/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The socket path's per-socket translations: what a rewritten connect() or
 * sendmsg() remembers so that recvmsg() and getpeername() can show the VIP,
 * and so that an unconnected UDP socket keeps its backend.
 */
/* clang-format off: kernel style, shared with bpf/ */
#ifndef SVCR_LAYOUT_SOCK_H
#define SVCR_LAYOUT_SOCK_H

#include "maps/layout/common.h"

#define SVCR_MAX_SOCK_ENTRIES 131072

/*
 * The key of both socket maps: (socket cookie, address, port, protocol).
 * svcr_sock_rev is keyed by the backend the socket was sent to,
 * svcr_sock_fwd by the VIP the socket asked for.
 */
struct svcr_sock_key {
	__u64 cookie;          /* host order; bpf_get_socket_cookie() */
	struct svcr_addr addr; /* network byte order */
	__u16 port;            /* network byte order */
	__u8 proto;            /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[5];
};

/*
 * svcr_sock_rev (LRU): (socket, backend) -> VIP. Written when a
 * connect()/sendmsg() is rewritten; read by recvmsg() and getpeername() so
 * the application sees the VIP it asked for; deleted by sock_release.
 */
struct svcr_sock_rev {
	struct svcr_addr vip; /* network byte order */
	__u16 port;           /* network byte order */
	__u16 pad;
	__u32 svc_id; /* host order */
};

/*
 * svcr_sock_fwd (LRU): (socket, VIP) -> backend id. An unconnected UDP
 * socket keeps talking to the backend it was given, as a conntrack entry
 * keyed by its source port would keep it under kube-proxy.
 */
struct svcr_sock_fwd {
	__u32 backend_id; /* host order */
	__u32 svc_id;     /* host order; the service it was chosen for */
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct svcr_sock_key) == 32);
static_assert(offsetof(struct svcr_sock_key, addr) == 8);
static_assert(offsetof(struct svcr_sock_key, port) == 24);
static_assert(sizeof(struct svcr_sock_rev) == 24);
static_assert(offsetof(struct svcr_sock_rev, svc_id) == 20);
static_assert(sizeof(struct svcr_sock_fwd) == 8);
#endif

#endif /* SVCR_LAYOUT_SOCK_H */
/* clang-format on */
