/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* 16-byte addresses with IPv4 as ::ffff:a.b.c.d (see maps/layout/common.h). */
#ifndef SVCR_BPF_ADDR_H
#define SVCR_BPF_ADDR_H

#include <stdbool.h>
#include <bpf/bpf_endian.h>

#include "maps/layout/common.h"

/* AF_INET6 of <sys/socket.h>, a libc header BPF programs cannot include. */
#define SVCR_AF_INET6 10

/* ip4 is in network byte order, as in struct bpf_sock_addr.user_ip4. */
static __always_inline void svcr_addr_set_v4(struct svcr_addr *a, __u32 ip4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0x0000ffff);
	a->w[3] = ip4;
}

static __always_inline bool svcr_addr_is_v4(const struct svcr_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0x0000ffff);
}

#endif /* SVCR_BPF_ADDR_H */
