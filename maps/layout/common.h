/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What every layout header shares: the name prefix and the address format.
 *
 * The headers in maps/layout/ define each BPF map key and value once, one
 * header per concern. They are included verbatim by the BPF C (bpf/) and by
 * the C++ agent (maps/). Rules: fixed-width types only, explicit pad fields
 * (always written as zero), no bitfields, and a byte-order note on each
 * field. The C++ side checks sizes and offsets at compile time, at the
 * bottom of each header.
 *
 *   common.h   the prefix and struct svcr_addr
 *   service.h  the service table: services, VIPs, backends, slots,
 *              membership, round-robin cursors, affinity, counters, names
 *   sock.h     the socket path's per-socket translations
 *   (the packet path's conntrack and NAT layouts get a header each)
 */
/* clang-format off: kernel style, shared with bpf/ */
#ifndef SVCR_LAYOUT_COMMON_H
#define SVCR_LAYOUT_COMMON_H

#include <linux/types.h>

/* One prefix for every program, map and pin; kernel names stop at 15 chars. */
#define SVCR_PREFIX "svcr_"

/*
 * An address, network byte order. Every address is 16 bytes: IPv4 is stored
 * as the IPv4-mapped IPv6 address ::ffff:a.b.c.d, so one table serves both
 * families and an IPv4 service reached through an AF_INET6 socket needs no
 * second lookup.
 */
struct svcr_addr {
	__u32 w[4]; /* network byte order */
};

#ifdef __cplusplus
static_assert(sizeof(struct svcr_addr) == 16);
#endif

#endif /* SVCR_LAYOUT_COMMON_H */
/* clang-format on */
