/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The service table, shared by every datapath: (VIP, port, protocol) ->
 * service entry -> a range of backend slots, plus what backend selection
 * keeps per service (round-robin cursor, affinity, counters). How a backend
 * set is replaced without a reader ever seeing half of it: DEVELOPING.md,
 * "The update protocol".
 */
/* clang-format off: kernel style, shared with bpf/ */
#ifndef SVCR_LAYOUT_SERVICE_H
#define SVCR_LAYOUT_SERVICE_H

#include "maps/layout/common.h"

/*
 * Default capacities (each set at load: --max-services, --max-backends,
 * --max-slots): 10,000 Services of 10 endpoints each, with room for
 * NodePort entries and for every set to be replaced at once. Service and
 * backend ids index arrays, so ids are < the loaded sizes.
 */
#define SVCR_MAX_SERVICES 65536
#define SVCR_MAX_BACKENDS 262144
#define SVCR_MAX_SLOTS 524288
#define SVCR_MAX_AFFINITY 131072
/* svcr_svc_value.count is 16 bits wide. */
#define SVCR_MAX_BACKENDS_PER_SERVICE 65535

/* struct svcr_svc_value.flags */
#define SVCR_SVC_F_AFFINITY (1U << 0)     /* sessionAffinity: ClientIP */
#define SVCR_SVC_F_SOURCE_RANGES (1U << 1) /* only clients in svcr_src_ranges (scope external) */
#define SVCR_SVC_F_DROP_EMPTY (1U << 2)    /* no backend: drop, do not refuse (eTP Local, none here) */

/* struct svcr_member.reason: why a backend is in a service's set (list). */
#define SVCR_REASON_READY 1        /* endpoint ready */
#define SVCR_REASON_TERMINATING 2  /* serving+terminating fallback (KEP-1669) */
#define SVCR_REASON_LOCAL 4        /* chosen by internalTrafficPolicy: Local */
#define SVCR_REASON_TOPOLOGY 8     /* chosen by topology hints (node or zone) */

/*
 * struct svcr_svc_key.scope: who the entry serves. A NodePort, ExternalIP or
 * LoadBalancer frontend has two entries: one for local processes (socket
 * path) and one for packets from outside (packet path), whose backend sets
 * differ with externalTrafficPolicy: Local.
 */
#define SVCR_SCOPE_CLUSTER 0  /* a ClusterIP; its VIP is in svcr_vips */
#define SVCR_SCOPE_NODE 1     /* another frontend, as local processes reach it */
#define SVCR_SCOPE_EXTERNAL 2 /* another frontend, for packets from outside */

/* svcr_services: (VIP, port, protocol, scope) -> service entry. */
struct svcr_svc_key {
	struct svcr_addr vip; /* network byte order */
	__u16 port;           /* network byte order */
	__u8 proto;           /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 scope;           /* SVCR_SCOPE_* */
};

/* The service entry is the flip (DEVELOPING.md, "The update protocol"). */
struct svcr_svc_value {
	__u32 id;               /* host order; index into per-service arrays, > 0 */
	__u16 count;            /* host order; usable backends, 0 = reject */
	__u16 gen;              /* host order; bumped whenever the set changes */
	__u32 flags;            /* host order; SVCR_SVC_F_* */
	__u32 affinity_timeout; /* host order; seconds, for SVCR_SVC_F_AFFINITY */
	__u32 slot_base;        /* host order; the set is svcr_slots[base, base+count) */
	__u32 pad;
};

/*
 * svcr_vips: every ClusterIP that has at least one service entry. A connection to
 * a known VIP on a port no service defines is refused, as kube-proxy's
 * nftables proxier rejects it.
 */
struct svcr_vip {
	__u32 ports; /* host order; number of service entries on this VIP */
};

/* A backend, as the datapath needs it: the value of svcr_backends (backend id ->). */
struct svcr_backend {
	struct svcr_addr addr; /* network byte order */
	__u16 port;            /* network byte order */
	__u8 proto;            /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
	__u32 id;              /* host order; the backend id, > 0 */
};

/*
 * svcr_slots (array): each service owns the contiguous range its entry
 * points at, its backends in round-robin order, so the common path finds
 * the backend's address in the slot itself. A slot names the entry (id,
 * gen) it was written for, which readers check (slot ownership).
 */
struct svcr_slot {
	struct svcr_backend be;
	__u32 svc_id; /* host order */
	__u16 gen;    /* host order */
	__u16 pad;
};

/*
 * svcr_members: (service id, backend id) -> reason. Lets the kernel check that
 * a remembered backend (UDP socket stickiness, session affinity) still belongs
 * to the service without scanning its slots.
 */
struct svcr_member_key {
	__u32 svc_id;     /* host order */
	__u32 backend_id; /* host order */
};

struct svcr_member {
	__u8 reason; /* SVCR_REASON_* bits */
	__u8 pad[3];
};

/* svcr_rr (array, index = service id): round-robin cursor, __u64, host order. */

/*
 * svcr_epoch (array, one entry): __u64, host order. Agent-only: every writer
 * bumps it before its first write and after its last, so an agent that
 * keeps the table's contents in memory knows when another process (or an
 * interrupted one) has written since it last looked.
 */

/*
 * svcr_affinity (LRU): (client, service id) -> backend, for sessionAffinity:
 * ClientIP. On the socket path the client is its network namespace.
 */
struct svcr_affinity_key {
	__u64 client; /* host order; bpf_get_netns_cookie() on the socket path */
	__u32 svc_id; /* host order */
	__u32 pad;
};

struct svcr_affinity {
	__u64 last_used_ns; /* host order; bpf_ktime_get_ns() at last connect */
	__u32 backend_id;   /* host order */
	__u32 pad;
};

/* svcr_svc_stats (per-CPU array, index = service id). */
struct svcr_svc_stats {
	__u64 connections; /* host order; connect()s and flows rewritten */
	__u64 refused;     /* host order; rejected (ECONNREFUSED, RST, ICMP) */
	__u64 packets;     /* host order; packets of its flows on the packet path */
	__u64 bytes;       /* host order; their bytes (IP header and payload) */
};

/* svcr_be_stats (per-CPU array, index = backend id). */
struct svcr_backend_stats {
	__u64 connections; /* host order */
	__u64 packets;     /* host order; as in svcr_svc_stats */
	__u64 bytes;       /* host order */
};

/*
 * svcr_ports (array, index = port in host order): the ports the packet
 * path may have flows on, so that other packets skip its conntrack lookup.
 * The agent sets a port's bits before any entry can use the port, and
 * clears them only once neither the table nor a tracked flow uses it.
 */
#define SVCR_PORT_F_FRONTEND 1U /* a frontend of scope external */
#define SVCR_PORT_F_BACKEND 2U  /* a backend of one */
struct svcr_port {
	__u32 flags; /* SVCR_PORT_F_* */
};

/*
 * svcr_src_ranges (LPM trie): loadBalancerSourceRanges of the entries that
 * have SVCR_SVC_F_SOURCE_RANGES. A client may open a flow when (entry id,
 * its address) matches. prefixlen counts svc_id's 32 bits, then the
 * address's (an IPv4 range a.b.c.d/n is ::ffff:a.b.c.d/(96 + n)).
 */
#define SVCR_MAX_SRC_RANGES 65536
struct svcr_src_range_key {
	__u32 prefixlen;        /* host order; 32 + 0..128 */
	__u32 svc_id;           /* host order */
	struct svcr_addr addr;  /* network byte order */
};

/*
 * svcr_svc_meta: service id -> names. Written and read only by the agent, so
 * that a restarted agent (or `list`) can name what the kernel is serving.
 */
#define SVCR_NAME_LEN 64
#define SVCR_PORT_NAME_LEN 64
struct svcr_svc_meta {
	char ns[SVCR_NAME_LEN];              /* NUL-terminated */
	char name[SVCR_NAME_LEN];            /* NUL-terminated */
	char port_name[SVCR_PORT_NAME_LEN]; /* NUL-terminated, may be empty */
	__u8 policy;                         /* SVCR_POLICY_* */
	__u8 pad[7];
};
#define SVCR_POLICY_CLUSTER 0
#define SVCR_POLICY_LOCAL 1

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct svcr_svc_key) == 20);
static_assert(offsetof(struct svcr_svc_key, port) == 16);
static_assert(offsetof(struct svcr_svc_key, proto) == 18);
static_assert(sizeof(struct svcr_svc_value) == 24);
static_assert(offsetof(struct svcr_svc_value, slot_base) == 16);
static_assert(offsetof(struct svcr_svc_value, gen) == 6);
static_assert(offsetof(struct svcr_svc_value, affinity_timeout) == 12);
static_assert(sizeof(struct svcr_vip) == 4);
static_assert(sizeof(struct svcr_backend) == 24);
static_assert(offsetof(struct svcr_backend, port) == 16);
static_assert(offsetof(struct svcr_backend, id) == 20);
static_assert(sizeof(struct svcr_slot) == 32);
static_assert(offsetof(struct svcr_slot, svc_id) == 24);
static_assert(sizeof(struct svcr_member_key) == 8);
static_assert(sizeof(struct svcr_member) == 4);
static_assert(sizeof(struct svcr_affinity_key) == 16);
static_assert(sizeof(struct svcr_affinity) == 16);
static_assert(sizeof(struct svcr_svc_stats) == 32);
static_assert(sizeof(struct svcr_backend_stats) == 24);
static_assert(sizeof(struct svcr_port) == 4);
static_assert(sizeof(struct svcr_src_range_key) == 24);
static_assert(sizeof(struct svcr_svc_meta) == 200);
static_assert(offsetof(struct svcr_svc_meta, policy) == 192);
#endif

#endif /* SVCR_LAYOUT_SERVICE_H */
/* clang-format on */
