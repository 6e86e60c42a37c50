/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet path's connection tracking and NAT (bpf/lib/nat.h): packets
 * that arrive from outside the node for a frontend of scope external
 * (a NodePort, an external IP, a load balancer IP) are rewritten to a
 * backend, and their replies back.
 *
 * Entries of svcr_ct are keyed by a packet's tuple as a hook sees it, and
 * say what that packet becomes. A flow to a backend on this node has two:
 *   in:  client:cport -> frontend:fport   becomes  client:cport -> backend:bport
 *   out: backend:bport -> client:cport    becomes  frontend:fport -> client:cport
 * A flow is source-NATed (to the address of the device that leads to the
 * backend, a --tc-dev, and a port of SVCR_SNAT_PORT_MIN..MAX) when the
 * kernel routes to its backend through a --tc-dev: the backend is on
 * another node, and its reply must come back through this one. Source NAT
 * is done on the way out and undone on the way in (a packet arriving with
 * one of the node's addresses as its source would be dropped as a
 * martian), with two more entries (each entry applies at one hook only:
 * "out" ones carry SVCR_CT_F_EGRESS):
 *   out: client:cport -> backend:bport    becomes  node:nport -> backend:bport
 *   in:  backend:bport -> node:nport      becomes  backend:bport -> client:cport
 */
/* clang-format off: kernel style, shared with bpf/ */
#ifndef SVCR_LAYOUT_NAT_H
#define SVCR_LAYOUT_NAT_H

#include "maps/layout/common.h"

#define SVCR_CT_MAX_DEFAULT 262144 /* svcr_ct entries, two per flow */
#define SVCR_MAX_DEVICES 64

/* Source ports of SNAT, above Linux's default ephemeral range (32768-60999). */
#define SVCR_SNAT_PORT_MIN 61000
#define SVCR_SNAT_PORT_MAX 65535
#define SVCR_SNAT_TRIES 16

/* Timeouts, in seconds, of the ranges Cilium and Calico use. */
#define SVCR_CT_TIMEOUT_TCP_SYN 60
#define SVCR_CT_TIMEOUT_TCP_ESTABLISHED 21600
#define SVCR_CT_TIMEOUT_TCP_CLOSE 10
#define SVCR_CT_TIMEOUT_UDP 60
/* An entry's last_seen_ns is rewritten at most this often (ns). */
#define SVCR_CT_REFRESH_NS 1000000000ULL

struct svcr_ct_key {
	struct svcr_addr saddr; /* network byte order */
	struct svcr_addr daddr; /* network byte order */
	__u16 sport;            /* network byte order */
	__u16 dport;            /* network byte order */
	__u8 proto;             /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad[3];
};

/* struct svcr_ct_entry.flags */
#define SVCR_CT_F_REPLY (1U << 0)       /* the reply entry of its flow */
#define SVCR_CT_F_ESTABLISHED (1U << 1) /* TCP: a packet without SYN was seen */
#define SVCR_CT_F_CLOSING (1U << 2)     /* TCP: a FIN or RST was seen */
#define SVCR_CT_F_EGRESS (1U << 3)      /* for packets leaving (else arriving) */

/*
 * How long an entry lives without traffic, in seconds, by what its flow has
 * shown: one rule for the datapath (bpf/lib/nat.h) and for whoever lists the
 * flows (svcrouter conntrack). IPPROTO_TCP is 6.
 */
static inline __u64 svcr_ct_timeout_s(__u32 flags, __u8 proto)
{
	if (proto != 6)
		return SVCR_CT_TIMEOUT_UDP;
	if (flags & SVCR_CT_F_CLOSING)
		return SVCR_CT_TIMEOUT_TCP_CLOSE;
	if (flags & SVCR_CT_F_ESTABLISHED)
		return SVCR_CT_TIMEOUT_TCP_ESTABLISHED;
	return SVCR_CT_TIMEOUT_TCP_SYN;
}

struct svcr_ct_entry {
	struct svcr_addr saddr; /* the packet's new source; network byte order */
	struct svcr_addr daddr; /* its new destination; network byte order */
	__u16 sport;            /* network byte order */
	__u16 dport;            /* network byte order */
	__u32 svc_id;           /* host order */
	__u32 backend_id;       /* host order */
	__u32 flags;            /* host order; SVCR_CT_F_* */
	__u64 created_ns;       /* host order; bpf_ktime_get_ns() */
	__u64 last_seen_ns;     /* host order */
};

/*
 * Whether entry e of protocol proto is past its timeout at now_ns (the
 * clock of bpf_ktime_get_ns(), CLOCK_MONOTONIC): one rule for the datapath,
 * svcrouter conntrack and the sweep (maps/conntrack.h). An entry stamped
 * after now_ns was read (by another CPU) is alive, not 2^64 ns old.
 */
static inline int svcr_ct_expired(const struct svcr_ct_entry *e, __u8 proto, __u64 now_ns)
{
	return (__s64)(now_ns - e->last_seen_ns) >
	       (__s64)(svcr_ct_timeout_s(e->flags, proto) * 1000000000ULL);
}

/*
 * svcr_devices (hash): ifindex of a --tc-dev -> this node's addresses on it,
 * for SNAT, and how the programs are attached there (so that unload leaves
 * the device as it found it).
 */
#define SVCR_DEV_F_TCX 1U        /* tcx links, pinned under links/ */
#define SVCR_DEV_F_CLS_BPF 2U    /* cls_bpf filters of ours on a clsact qdisc */
#define SVCR_DEV_F_OWN_QDISC 4U  /* that clsact qdisc was created by svcrouter */
/* Our cls_bpf filters: this handle at this priority, on ingress and egress. */
#define SVCR_TC_HANDLE 0x5c5c
#define SVCR_TC_PRIORITY 1

struct svcr_device {
	__u32 ip4;              /* network byte order; 0: none */
	__u32 flags;            /* host order; SVCR_DEV_F_* */
	__u32 netns;            /* host order; inode of the device's network namespace */
	__u32 pad;
	struct svcr_addr ip6;   /* network byte order; all zero: none */
};

/* svcr_tc_stats (per-CPU array, one entry): the packet path's counters. */
struct svcr_tc_stats {
	__u64 new_flows;     /* flows balanced to a backend */
	__u64 refused;       /* new flows for a frontend without a usable backend */
	__u64 snat_failed;   /* new flows dropped: no free SNAT port */
	__u64 translated;    /* packets rewritten (both directions) */
	__u64 expired;       /* entries found past their timeout */
	__u64 ct_full;       /* new flows dropped: the conntrack map is full */
	__u64 denied;        /* new flows dropped by loadBalancerSourceRanges */
	__u64 no_local;      /* new flows dropped: externalTrafficPolicy Local, no endpoint here */
	__u64 icmp;          /* ICMP errors about a tracked flow, translated */
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct svcr_ct_key) == 40);
static_assert(sizeof(struct svcr_ct_entry) == 64);
static_assert(offsetof(struct svcr_ct_entry, svc_id) == 36);
static_assert(sizeof(struct svcr_device) == 32);
static_assert(sizeof(struct svcr_tc_stats) == 72);
#endif

#endif /* SVCR_LAYOUT_NAT_H */
/* clang-format on */
