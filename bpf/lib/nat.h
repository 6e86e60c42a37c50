/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet path (maps/layout/nat.h): connection tracking, DNAT to a
 * backend, SNAT when the backend is behind another node, and the reverse
 * of both for replies, for IPv4 and IPv6. Every packet whose ports the
 * packet path may track (svcr_ports) is looked up by its tuple; a known one
 * is rewritten as its entry says, in either direction and at either hook.
 * Only the ingress hook starts new flows, for frontends of scope external.
 * ICMP errors about a tracked flow are translated like the flow's packets.
 */
#ifndef SVCR_BPF_NAT_H
#define SVCR_BPF_NAT_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lib/addr.h"
#include "lib/lb.h"
#include "lib/nat_maps.h"
#include "lib/pkt.h"
#include "lib/reject.h"

enum svcr_tc_hook {
	SVCR_TC_INGRESS, /* packets arriving on a --tc-dev: new flows start here */
	SVCR_TC_EGRESS,  /* packets leaving by one: replies of local backends */
};

#ifndef svcr_tc_now
#define svcr_tc_now() bpf_ktime_get_ns()
#endif

#ifndef svcr_route_ifindex
/* The device the kernel routes p's source to dst through, 0 when it has no route. */
static __always_inline __u32 svcr_route_ifindex(struct __sk_buff *skb, const struct svcr_pkt *p,
						const struct svcr_addr *dst)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	if (p->v6) {
		fib.family = SVCR_AF_INET6;
		__builtin_memcpy(fib.ipv6_src, &p->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, dst, 16);
	} else {
		fib.family = 2; /* AF_INET */
		fib.ipv4_src = p->saddr.w[3];
		fib.ipv4_dst = dst->w[3];
	}
	fib.ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	return fib.ifindex;
}
#endif

static __always_inline struct svcr_tc_stats *svcr_tc_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&svcr_tc_stats, &zero);
}

static __always_inline bool svcr_port_marked(__u16 port, __u32 flags)
{
	__u32 index = bpf_ntohs(port);
	const struct svcr_port *mark = bpf_map_lookup_elem(&svcr_ports, &index);

	return mark && (mark->flags & flags);
}

/* A TCP SYN without ACK: a connection being opened. */
static __always_inline bool svcr_tcp_opening(const struct svcr_pkt *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & (SVCR_TCP_SYN | SVCR_TCP_ACK)) == SVCR_TCP_SYN;
}

/*
 * May p concern a tracked flow? Every entry of svcr_ct matches a packet
 * with one of these ports (maps/layout/nat.h): arriving, to a frontend or
 * to a SNAT port; leaving, from or to a backend. A connection opened to a
 * backend's own port may have to claim its tuples (svcr_ct_claim). Anything
 * else skips the conntrack lookup: what the hooks cost traffic that is no
 * service's.
 */
static __always_inline bool svcr_tc_may_track(const struct svcr_pkt *p, enum svcr_tc_hook hook)
{
	if (hook == SVCR_TC_INGRESS)
		return bpf_ntohs(p->dport) >= SVCR_SNAT_PORT_MIN ||
		       svcr_port_marked(p->dport, SVCR_PORT_F_FRONTEND |
							  (svcr_tcp_opening(p) ? SVCR_PORT_F_BACKEND : 0));
	return svcr_port_marked(p->sport, SVCR_PORT_F_BACKEND) ||
	       svcr_port_marked(p->dport, SVCR_PORT_F_BACKEND);
}

/* Packets and bytes of a flow, for its service entry and its backend. */
static __always_inline void svcr_count_packet(const struct svcr_ct_entry *e, __u32 bytes)
{
	__u32 svc_id = e->svc_id, backend_id = e->backend_id;
	struct svcr_svc_stats *ss = bpf_map_lookup_elem(&svcr_svc_stats, &svc_id);
	struct svcr_backend_stats *bs = bpf_map_lookup_elem(&svcr_be_stats, &backend_id);

	/* Per-CPU values: a plain increment is race-free. */
	if (ss) {
		ss->packets++;
		ss->bytes += bytes;
	}
	if (bs) {
		bs->packets++;
		bs->bytes += bytes;
	}
}

static __always_inline void svcr_ct_key_init(struct svcr_ct_key *key, const struct svcr_pkt *p)
{
	key->saddr = p->saddr;
	key->daddr = p->daddr;
	key->sport = p->sport;
	key->dport = p->dport;
	key->proto = p->proto;
}

/*
 * A connection opened on tuple key (arriving) owns the tuples of its
 * packets: entries for packets leaving with those tuples belong to an
 * earlier flow that reused the client's port (to a backend's own address,
 * say, after a NodePort flow to it), and would rewrite this connection's
 * packets. They go. own_egress: the caller's lookup of key found such an
 * entry (it is not looked up twice).
 */
static __always_inline void svcr_ct_claim(const struct svcr_ct_key *key, bool own_egress)
{
	struct svcr_ct_key reply = {};
	struct svcr_ct_entry *e;

	if (own_egress)
		bpf_map_delete_elem(&svcr_ct, key);
	reply.saddr = key->daddr;
	reply.daddr = key->saddr;
	reply.sport = key->dport;
	reply.dport = key->sport;
	reply.proto = key->proto;
	e = bpf_map_lookup_elem(&svcr_ct, &reply);
	if (e && (e->flags & SVCR_CT_F_EGRESS))
		bpf_map_delete_elem(&svcr_ct, &reply);
}

/* Is entry e alive at now? The rule is maps/layout/nat.h's. */
static __always_inline bool svcr_ct_alive(const struct svcr_ct_entry *e, __u64 now, __u8 proto)
{
	return !svcr_ct_expired(e, proto, now);
}

/* Does entry e apply at this hook? */
static __always_inline bool svcr_ct_here(const struct svcr_ct_entry *e, enum svcr_tc_hook hook)
{
	return !(e->flags & SVCR_CT_F_EGRESS) == (hook == SVCR_TC_INGRESS);
}

/* The flags an entry has once packet p has been seen. */
static __always_inline __u32 svcr_ct_next_flags(__u32 flags, const struct svcr_pkt *p)
{
	if (p->proto != IPPROTO_TCP)
		return flags;
	if (p->tcp_flags & (SVCR_TCP_FIN | SVCR_TCP_RST))
		return flags | SVCR_CT_F_CLOSING;
	if (!(p->tcp_flags & SVCR_TCP_SYN))
		return flags | SVCR_CT_F_ESTABLISHED;
	return flags;
}

/* Creates an entry, counting a full map; 0 or the map's error. */
static __always_inline long svcr_ct_insert(const struct svcr_ct_key *key,
					   const struct svcr_ct_entry *e, __u64 flags,
					   struct svcr_tc_stats *stats)
{
	long err = bpf_map_update_elem(&svcr_ct, key, e, flags);

	if (err == -7 /* E2BIG: full */ && stats)
		stats->ct_full++;
	return err;
}

/*
 * The backend of a new flow from client: ClientIP affinity keyed by the
 * client's address (the service entry is the packet path's own, so the key
 * cannot meet the socket path's netns cookies; an IPv6 address is folded to
 * 64 bits), else round-robin.
 */
static __always_inline enum svcr_pick svcr_tc_pick(const struct svcr_svc_value *svc,
						   const struct svcr_addr *client,
						   struct svcr_backend *be)
{
	__u64 key;

	if (!(svc->flags & SVCR_SVC_F_AFFINITY))
		return svcr_round_robin(svc, be);
	key = ((__u64)(client->w[0] ^ client->w[2]) << 32) | (client->w[1] ^ client->w[3]);
	return svcr_affinity_select(svc, key, be);
}

/* May client open a flow to svc (loadBalancerSourceRanges)? */
static __always_inline bool svcr_tc_source_allowed(const struct svcr_svc_value *svc,
						   const struct svcr_addr *client)
{
	struct svcr_src_range_key key = {};

	if (!(svc->flags & SVCR_SVC_F_SOURCE_RANGES))
		return true;
	key.prefixlen = 32 + 128;
	key.svc_id = svc->id;
	key.addr = *client;
	return bpf_map_lookup_elem(&svcr_src_ranges, &key) != NULL;
}

/*
 * A first packet to a frontend of scope external: picks a backend, tracks
 * the flow (and its SNAT, when the backend is reached through a --tc-dev)
 * and rewrites the packet. A frontend without a usable backend refuses it
 * (lib/reject.h), or drops it when its entry says so. e is scratch space of
 * the caller's (the stack holds 512 bytes in all).
 */
static __always_inline int svcr_tc_new_flow(struct __sk_buff *skb, const struct svcr_pkt *p,
					    const struct svcr_ct_key *key, struct svcr_ct_entry *e,
					    __u64 now)
{
	struct svcr_svc_key skey = {};
	struct svcr_svc_value svc;
	struct svcr_backend be = {};
	struct svcr_ct_key rkey = {};
	struct svcr_tc_stats *stats = svcr_tc_stats_get();
	const struct svcr_device *dev = NULL;
	struct svcr_addr snat = {};
	enum svcr_pick pick;
	__u32 ifindex, start, i;

	skey.vip = key->daddr;
	skey.port = p->dport;
	skey.proto = p->proto;
	skey.scope = SVCR_SCOPE_EXTERNAL;
	if (!svcr_lookup_service(&skey, &svc))
		return TC_ACT_OK;
	if (!svcr_tc_source_allowed(&svc, &p->saddr)) {
		if (stats)
			stats->denied++;
		return TC_ACT_SHOT;
	}
	pick = svcr_tc_pick(&svc, &p->saddr, &be);
	if (pick == SVCR_PICK_STALE && svcr_lookup_service(&skey, &svc))
		pick = svcr_tc_pick(&svc, &p->saddr, &be);
	if (pick != SVCR_PICK_OK || svcr_addr_is_v4(&be.addr) == !!p->v6) {
		if (svc.flags & SVCR_SVC_F_DROP_EMPTY) {
			if (stats)
				stats->no_local++;
			return TC_ACT_SHOT;
		}
		svcr_count_refused(svc.id);
		if (stats)
			stats->refused++;
		return svcr_reject(skb, p);
	}

	/* The reply of the backend, leaving by a --tc-dev: backend -> client
	 * becomes frontend -> client. */
	__builtin_memset(e, 0, sizeof(*e));
	e->saddr = key->daddr;
	e->sport = p->dport;
	e->daddr = key->saddr;
	e->dport = p->sport;
	e->svc_id = svc.id;
	e->backend_id = be.id;
	e->flags = SVCR_CT_F_REPLY | SVCR_CT_F_EGRESS;
	e->created_ns = now;
	e->last_seen_ns = now;
	rkey.saddr = be.addr;
	rkey.sport = be.port;
	rkey.daddr = key->saddr;
	rkey.dport = p->sport;
	rkey.proto = p->proto;
	if (svcr_ct_insert(&rkey, e, BPF_ANY, stats) != 0)
		return TC_ACT_SHOT;

	ifindex = svcr_route_ifindex(skb, p, &be.addr);
	if (ifindex)
		dev = bpf_map_lookup_elem(&svcr_devices, &ifindex);
	if (dev) {
		if (p->v6)
			snat = dev->ip6;
		else if (dev->ip4)
			svcr_addr_set_v4(&snat, dev->ip4);
	}
	if (snat.w[0] | snat.w[1] | snat.w[2] | snat.w[3]) {
		/*
		 * Behind another node: the flow leaves from this node's address
		 * on that device, with a port no other flow to this backend has.
		 * Source NAT happens on the way out (egress) and its reverse on
		 * the way in (ingress): a packet arriving with one of the node's
		 * own addresses as its source would be dropped as a martian.
		 * The reply: backend -> node:port becomes backend -> client.
		 */
		__u16 port = 0;
		long err = 0;

		rkey.daddr = snat;
		e->saddr = be.addr;
		e->sport = be.port;
		e->flags = SVCR_CT_F_REPLY;
		start = (p->saddr.w[3] * 2654435761U) ^ p->sport;
		for (i = 0; i < SVCR_SNAT_TRIES; i++) {
			port = bpf_htons(SVCR_SNAT_PORT_MIN +
					 (start + i) % (SVCR_SNAT_PORT_MAX - SVCR_SNAT_PORT_MIN + 1));
			rkey.dport = port;
			err = svcr_ct_insert(&rkey, e, BPF_NOEXIST, stats);
			if (err != -17 /* EEXIST: the port is taken */)
				break;
		}
		if (err != 0) {
			if (err == -17 && stats)
				stats->snat_failed++;
			goto undo_reply;
		}
		/* The forward packet on its way out: client -> backend becomes
		 * node:port -> backend. */
		e->saddr = snat;
		e->sport = port;
		e->daddr = be.addr;
		e->dport = be.port;
		e->flags = SVCR_CT_F_EGRESS;
		rkey.saddr = key->saddr;
		rkey.sport = p->sport;
		rkey.daddr = be.addr;
		rkey.dport = be.port;
		if (svcr_ct_insert(&rkey, e, BPF_ANY, stats) != 0) {
			rkey.saddr = be.addr;
			rkey.sport = be.port;
			rkey.daddr = snat;
			rkey.dport = port;
			bpf_map_delete_elem(&svcr_ct, &rkey);
			goto undo_reply;
		}
	}

	/* The forward packet on its way in: client -> frontend becomes
	 * client -> backend. */
	e->saddr = key->saddr;
	e->sport = p->sport;
	e->daddr = be.addr;
	e->dport = be.port;
	e->flags = svcr_ct_next_flags(0, p);
	if (svcr_ct_insert(key, e, BPF_ANY, stats) != 0)
		return TC_ACT_SHOT; /* the others expire unused */
	svcr_count_connection(svc.id, be.id);
	svcr_count_packet(e, p->ip_len);
	if (stats) {
		stats->new_flows++;
		stats->translated++;
	}
	svcr_rewrite(skb, p, &e->saddr, e->sport, &e->daddr, e->dport);
	return TC_ACT_OK;

undo_reply:
	rkey.saddr = be.addr;
	rkey.sport = be.port;
	rkey.daddr = key->saddr;
	rkey.dport = p->sport;
	bpf_map_delete_elem(&svcr_ct, &rkey);
	return TC_ACT_SHOT;
}

/*
 * An ICMP error about a tracked flow (destination or port unreachable,
 * fragmentation needed or packet too big, time exceeded): the packet it
 * quotes went the other way, so the tuple to look up is the quote's
 * reversed, and the error travels with that entry's packets: it goes where
 * they go, quoting the packet as it was before translation. Its source
 * changes only when the error comes from the quoted packet's destination.
 * The quote's own L4 checksum is left (receivers do not check it).
 */
static __always_inline int svcr_tc_icmp(struct __sk_buff *skb, const struct svcr_pkt *p,
					enum svcr_tc_hook hook, __u64 now)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct svcr_addr qsaddr = {}, qdaddr = {};
	struct svcr_ct_key key = {};
	struct svcr_ct_entry *e, entry;
	struct svcr_tc_stats *stats;
	__u32 quote = p->l4_off + 8, ql4, ip_csum = p->v6 ? 0 : ETH_HLEN + offsetof(struct iphdr, check);
	__u32 outer_csum = p->v6 ? p->csum_off : 0, quote_csum;
	__u16 *ports;

	if (quote > ETH_HLEN + 60 + 8)
		return TC_ACT_OK;
	if (p->v6) {
		struct svcr_ipv6hdr *ip6 = data + quote;

		if ((void *)(ip6 + 1) > end)
			return TC_ACT_OK;
		key.proto = ip6->nexthdr;
		qsaddr = ip6->saddr;
		qdaddr = ip6->daddr;
		ql4 = quote + sizeof(*ip6);
		quote_csum = 0;
	} else {
		struct iphdr *ip = data + quote;

		if ((void *)(ip + 1) > end || ip->ihl != 5)
			return TC_ACT_OK;
		key.proto = ip->protocol;
		svcr_addr_set_v4(&qsaddr, ip->saddr);
		svcr_addr_set_v4(&qdaddr, ip->daddr);
		ql4 = quote + sizeof(*ip);
		quote_csum = quote + offsetof(struct iphdr, check);
	}
	ports = data + ql4;
	if ((void *)(ports + 2) > end || (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP))
		return TC_ACT_OK;
	key.saddr = qdaddr;
	key.daddr = qsaddr;
	key.sport = ports[1];
	key.dport = ports[0];
	e = bpf_map_lookup_elem(&svcr_ct, &key);
	if (!e)
		return TC_ACT_OK;
	entry = *e;
	if (!svcr_ct_here(&entry, hook) || !svcr_ct_alive(&entry, now, key.proto))
		return TC_ACT_OK;

	if (svcr_addr_eq(&p->saddr, &key.saddr) && !svcr_addr_eq(&p->saddr, &entry.saddr))
		svcr_store_addr(skb, p->v6, svcr_addr_off(ETH_HLEN, p->v6, false), &p->saddr,
				&entry.saddr, ip_csum, outer_csum, BPF_F_PSEUDO_HDR);
	if (!svcr_addr_eq(&p->daddr, &entry.daddr))
		svcr_store_addr(skb, p->v6, svcr_addr_off(ETH_HLEN, p->v6, true), &p->daddr,
				&entry.daddr, ip_csum, outer_csum, BPF_F_PSEUDO_HDR);
	/* The quote: in IPv4 its header checksum absorbs the address change, so
	 * the ICMP checksum sees no change; in IPv6 the ICMPv6 checksum does. */
	if (!svcr_addr_eq(&qsaddr, &entry.daddr))
		svcr_store_addr(skb, p->v6, svcr_addr_off(quote, p->v6, false), &qsaddr, &entry.daddr,
				quote_csum, outer_csum, 0);
	if (!svcr_addr_eq(&qdaddr, &entry.saddr))
		svcr_store_addr(skb, p->v6, svcr_addr_off(quote, p->v6, true), &qdaddr, &entry.saddr,
				quote_csum, outer_csum, 0);
	if (key.dport != entry.dport)
		svcr_store_port(skb, ql4, key.dport, entry.dport, p->csum_off, 0);
	if (key.sport != entry.sport)
		svcr_store_port(skb, ql4 + 2, key.sport, entry.sport, p->csum_off, 0);
	stats = svcr_tc_stats_get();
	if (stats) {
		stats->icmp++;
		stats->translated++;
	}
	return TC_ACT_OK;
}

/* The packet path at a --tc-dev's ingress or egress hook. */
static __always_inline int svcr_tc(struct __sk_buff *skb, enum svcr_tc_hook hook)
{
	struct svcr_pkt p = {};
	struct svcr_ct_key key = {};
	struct svcr_ct_entry *e, entry;
	struct svcr_tc_stats *stats;
	bool own_egress = false;
	__u64 now;

	if (svcr_parse(skb, &p) < 0)
		return TC_ACT_OK;
	if (p.proto == IPPROTO_ICMP || p.proto == SVCR_IPPROTO_ICMPV6)
		return svcr_tc_icmp(skb, &p, hook, svcr_tc_now());
	if (!svcr_tc_may_track(&p, hook))
		return TC_ACT_OK;
	svcr_ct_key_init(&key, &p);
	now = svcr_tc_now();
	e = bpf_map_lookup_elem(&svcr_ct, &key);
	if (e) {
		bool alive, reopened;

		entry = *e;
		own_egress = entry.flags & SVCR_CT_F_EGRESS;
		alive = svcr_ct_alive(&entry, now, p.proto);
		/* A new connection on the tuple of a closed one is a new flow. */
		reopened = svcr_tcp_opening(&p) && (entry.flags & SVCR_CT_F_CLOSING);
		if (svcr_ct_here(&entry, hook) && alive && !reopened) {
			__u32 flags = svcr_ct_next_flags(entry.flags, &p);

			/* Writes only when something changed: the entry's cache
			 * line is shared by every CPU that sees the flow. */
			if (flags != entry.flags)
				e->flags = flags;
			if ((__s64)(now - entry.last_seen_ns) >= (__s64)SVCR_CT_REFRESH_NS)
				e->last_seen_ns = now;
			svcr_rewrite(skb, &p, &entry.saddr, entry.sport, &entry.daddr, entry.dport);
			svcr_count_packet(&entry, p.ip_len);
			stats = svcr_tc_stats_get();
			if (stats)
				stats->translated++;
			return TC_ACT_OK;
		}
		if (!alive) {
			bpf_map_delete_elem(&svcr_ct, &key);
			stats = svcr_tc_stats_get();
			if (stats)
				stats->expired++;
			/* A reply whose flow is gone is nobody's to rewrite. */
			if (entry.flags & SVCR_CT_F_REPLY)
				return TC_ACT_OK;
		}
	}
	if (hook != SVCR_TC_INGRESS)
		return TC_ACT_OK;
	if (svcr_tcp_opening(&p))
		svcr_ct_claim(&key, own_egress);
	return svcr_tc_new_flow(skb, &p, &key, &entry, now);
}

#endif /* SVCR_BPF_NAT_H */
