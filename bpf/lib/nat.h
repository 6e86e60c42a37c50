/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet path (maps/layout/nat.h): connection tracking, DNAT to a
 * backend, SNAT when the backend is behind another node, and the reverse
 * of both for replies. Every packet is looked up by its tuple; a known one
 * is rewritten as its entry says, in either direction and at either hook.
 * Only the ingress hook starts new flows, for frontends of scope external.
 * IPv4 for now; IPv6 packets pass untouched.
 */
#ifndef SVCR_BPF_NAT_H
#define SVCR_BPF_NAT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lib/addr.h"
#include "lib/lb.h"
#include "lib/nat_maps.h"

enum svcr_tc_hook {
	SVCR_TC_INGRESS, /* packets arriving on a --tc-dev: new flows start here */
	SVCR_TC_EGRESS,  /* packets leaving by one: replies of local backends */
};

/* TCP flag bits, byte 13 of the header. */
#define SVCR_TCP_FIN 0x01
#define SVCR_TCP_SYN 0x02
#define SVCR_TCP_RST 0x04

/* What a program needs of an IPv4 TCP or UDP packet; addresses and ports
 * in network byte order, offsets from the start of the frame. */
struct svcr_pkt4 {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u8 proto;
	__u8 tcp_flags;
	__u16 l4_off;
	__u16 csum_off; /* the L4 checksum */
};

#ifndef svcr_tc_now
#define svcr_tc_now() bpf_ktime_get_ns()
#endif

#ifndef svcr_route_ifindex
/* The device the kernel routes daddr through, 0 when it has no route. */
static __always_inline __u32 svcr_route_ifindex(struct __sk_buff *skb, __u32 saddr, __u32 daddr)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = 2; /* AF_INET */
	fib.ipv4_src = saddr;
	fib.ipv4_dst = daddr;
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

/* 0 when the frame is an IPv4 TCP or UDP packet we can rewrite, else -1
 * (other protocols, fragments: they pass untouched). */
static __always_inline int svcr_parse4(struct __sk_buff *skb, struct svcr_pkt4 *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u8 *l4;
	__u32 ihl;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return -1;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip) || (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	p->proto = ip->protocol;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->l4_off = ETH_HLEN + ihl;
	l4 = data + p->l4_off;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)l4;

		if ((void *)(th + 1) > end)
			return -1;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = l4[13];
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		return 0;
	}
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = (void *)l4;

		if ((void *)(uh + 1) > end)
			return -1;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		return 0;
	}
	return -1;
}

/*
 * Rewrites the packet's addresses and ports to e's, fixing the IP checksum
 * and the L4 one (with its pseudo-header) incrementally. A UDP packet
 * without a checksum (0) keeps none.
 */
static __always_inline void svcr_rewrite4(struct __sk_buff *skb, const struct svcr_pkt4 *p,
					  const struct svcr_ct_entry *e)
{
	__u64 mangled = p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__u32 ip_csum = ETH_HLEN + offsetof(struct iphdr, check);
	__u32 saddr = e->saddr.w[3], daddr = e->daddr.w[3];
	__u16 sport = e->sport, dport = e->dport;

	if (saddr != p->saddr) {
		bpf_l4_csum_replace(skb, p->csum_off, p->saddr, saddr, BPF_F_PSEUDO_HDR | mangled | 4);
		bpf_l3_csum_replace(skb, ip_csum, p->saddr, saddr, 4);
		bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, saddr), &saddr, 4, 0);
	}
	if (daddr != p->daddr) {
		bpf_l4_csum_replace(skb, p->csum_off, p->daddr, daddr, BPF_F_PSEUDO_HDR | mangled | 4);
		bpf_l3_csum_replace(skb, ip_csum, p->daddr, daddr, 4);
		bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, daddr), &daddr, 4, 0);
	}
	/* Source and destination ports are the first two fields of TCP and UDP. */
	if (sport != p->sport) {
		bpf_l4_csum_replace(skb, p->csum_off, p->sport, sport, mangled | 2);
		bpf_skb_store_bytes(skb, p->l4_off, &sport, 2, 0);
	}
	if (dport != p->dport) {
		bpf_l4_csum_replace(skb, p->csum_off, p->dport, dport, mangled | 2);
		bpf_skb_store_bytes(skb, p->l4_off + 2, &dport, 2, 0);
	}
}

/*
 * Refuses a TCP connection as kube-proxy's REJECT does: the SYN becomes, in
 * place, the RST+ACK the frontend would have answered (RFC 793: sequence 0,
 * acknowledging the SYN and its data) and goes back out of the device it
 * came in by. Options and data stay (a RST may carry both); every changed
 * field is folded into the checksum incrementally, which is also right for
 * a checksum the device has yet to complete (CHECKSUM_PARTIAL): swapping the
 * addresses and ports changes no sum. Anything else is dropped.
 */
static __always_inline int svcr_reject4(struct __sk_buff *skb, const struct svcr_pkt4 *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + ETH_HLEN;
	__u8 src_mac[ETH_ALEN], dst_mac[ETH_ALEN];
	struct tcphdr *th;
	__u32 seq, old_ack, ack, payload, zero = 0;
	__u16 old_word, new_word, old_window;

	if (p->proto != IPPROTO_TCP || (p->tcp_flags & 0x12) != SVCR_TCP_SYN)
		return TC_ACT_SHOT;
	if ((void *)(ip + 1) > end || p->l4_off > ETH_HLEN + 60)
		return TC_ACT_SHOT;
	th = data + p->l4_off;
	if ((void *)(th + 1) > end)
		return TC_ACT_SHOT;
	payload = bpf_ntohs(ip->tot_len) - (p->l4_off - ETH_HLEN) - th->doff * 4;
	/* Everything is read first: a helper that writes invalidates the pointers. */
	seq = th->seq;
	old_ack = th->ack_seq;
	ack = bpf_htonl(bpf_ntohl(seq) + 1 + payload);
	old_word = ((__u16 *)th)[6]; /* data offset and flags */
	new_word = (old_word & bpf_htons(0xf000)) | bpf_htons(0x0014); /* RST, ACK */
	old_window = th->window;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	__builtin_memcpy(src_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(dst_mac, eth->h_dest, ETH_ALEN);

	bpf_l4_csum_replace(skb, p->csum_off, seq, zero, 4);
	bpf_l4_csum_replace(skb, p->csum_off, old_ack, ack, 4);
	bpf_l4_csum_replace(skb, p->csum_off, old_word, new_word, 2);
	bpf_l4_csum_replace(skb, p->csum_off, old_window, 0, 2);
	bpf_skb_store_bytes(skb, p->l4_off + offsetof(struct tcphdr, seq), &zero, 4, 0);
	bpf_skb_store_bytes(skb, p->l4_off + offsetof(struct tcphdr, ack_seq), &ack, 4, 0);
	bpf_skb_store_bytes(skb, p->l4_off + 12, &new_word, 2, 0);
	bpf_skb_store_bytes(skb, p->l4_off + offsetof(struct tcphdr, window), &zero, 2, 0);
	bpf_skb_store_bytes(skb, p->l4_off, &p->dport, 2, 0);
	bpf_skb_store_bytes(skb, p->l4_off + 2, &p->sport, 2, 0);
	bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, saddr), &p->daddr, 4, 0);
	bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, daddr), &p->saddr, 4, 0);
	bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_source), dst_mac, ETH_ALEN, 0);
	bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), src_mac, ETH_ALEN, 0);
	return bpf_redirect(skb->ifindex, 0);
}

/* A TCP SYN without ACK: a connection being opened. */
static __always_inline bool svcr_tcp_opening(const struct svcr_pkt4 *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & 0x12) == SVCR_TCP_SYN;
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

/* How long an entry lives without traffic (maps/layout/nat.h), in ns. */
static __always_inline __u64 svcr_ct_timeout_ns(__u32 flags, __u8 proto)
{
	return svcr_ct_timeout_s(flags, proto) * SVCR_NSEC_PER_SEC;
}

/*
 * Is entry e alive at now? Another CPU may have stamped it after this one
 * read its clock (now < last_seen): that is alive, not 2^64 ns old.
 */
static __always_inline bool svcr_ct_alive(const struct svcr_ct_entry *e, __u64 now, __u8 proto)
{
	return (__s64)(now - e->last_seen_ns) <= (__s64)svcr_ct_timeout_ns(e->flags, proto);
}

/* The flags an entry has once packet p has been seen. */
static __always_inline __u32 svcr_ct_next_flags(__u32 flags, const struct svcr_pkt4 *p)
{
	if (p->proto != IPPROTO_TCP)
		return flags;
	if (p->tcp_flags & (SVCR_TCP_FIN | SVCR_TCP_RST))
		return flags | SVCR_CT_F_CLOSING;
	if (!(p->tcp_flags & SVCR_TCP_SYN))
		return flags | SVCR_CT_F_ESTABLISHED;
	return flags;
}

/*
 * The backend of a new flow from client ip4: ClientIP affinity keyed by
 * the client's address (the service entry is the packet path's own, so the
 * key cannot meet the socket path's), else round-robin.
 */
static __always_inline enum svcr_pick svcr_tc_pick(const struct svcr_svc_value *svc, __u32 client,
						   struct svcr_backend *be)
{
	if (svc->flags & SVCR_SVC_F_AFFINITY)
		return svcr_affinity_select(svc, client, be);
	return svcr_round_robin(svc, be);
}

/*
 * A first packet to a frontend of scope external: picks a backend, tracks
 * the flow (and its SNAT, when the backend is reached through a --tc-dev)
 * and rewrites the packet. A frontend without a usable backend drops it.
 * e is scratch space of the caller's (the stack holds 512 bytes in all).
 */
static __always_inline int svcr_tc_new_flow4(struct __sk_buff *skb, const struct svcr_pkt4 *p,
					     const struct svcr_ct_key *key, struct svcr_ct_entry *e,
					     __u64 now)
{
	struct svcr_svc_key skey = {};
	struct svcr_svc_value svc;
	struct svcr_backend be = {};
	struct svcr_ct_key rkey = {};
	struct svcr_tc_stats *stats = svcr_tc_stats_get();
	const struct svcr_device *dev = NULL;
	enum svcr_pick pick;
	__u32 ifindex, start, i;

	skey.vip = key->daddr;
	skey.port = p->dport;
	skey.proto = p->proto;
	skey.scope = SVCR_SCOPE_EXTERNAL;
	if (!svcr_lookup_service(&skey, &svc))
		return TC_ACT_OK;
	pick = svcr_tc_pick(&svc, p->saddr, &be);
	if (pick == SVCR_PICK_STALE && svcr_lookup_service(&skey, &svc))
		pick = svcr_tc_pick(&svc, p->saddr, &be);
	if (pick != SVCR_PICK_OK || !svcr_addr_is_v4(&be.addr)) {
		svcr_count_refused(svc.id);
		if (stats)
			stats->refused++;
		return svcr_reject4(skb, p);
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
	if (bpf_map_update_elem(&svcr_ct, &rkey, e, BPF_ANY) != 0)
		return TC_ACT_SHOT;

	ifindex = svcr_route_ifindex(skb, p->saddr, be.addr.w[3]);
	if (ifindex)
		dev = bpf_map_lookup_elem(&svcr_devices, &ifindex);
	if (dev && dev->ip4) {
		/*
		 * Behind another node: the flow leaves from this node's address
		 * on that device, with a port no other flow to this backend has.
		 * Source NAT happens on the way out (egress) and its reverse on
		 * the way in (ingress): a packet arriving with one of the node's
		 * own addresses as its source would be dropped as a martian.
		 * The reply: backend -> node:port becomes backend -> client.
		 */
		__u16 port = 0;

		svcr_addr_set_v4(&rkey.daddr, dev->ip4);
		e->saddr = be.addr;
		e->sport = be.port;
		e->flags = SVCR_CT_F_REPLY;
		start = (p->saddr * 2654435761U) ^ p->sport;
		for (i = 0; i < SVCR_SNAT_TRIES; i++) {
			port = bpf_htons(SVCR_SNAT_PORT_MIN +
					 (start + i) % (SVCR_SNAT_PORT_MAX - SVCR_SNAT_PORT_MIN + 1));
			rkey.dport = port;
			if (bpf_map_update_elem(&svcr_ct, &rkey, e, BPF_NOEXIST) == 0)
				break;
		}
		if (i == SVCR_SNAT_TRIES) {
			if (stats)
				stats->snat_failed++;
			return TC_ACT_SHOT;
		}
		/* The forward packet on its way out: client -> backend becomes
		 * node:port -> backend. */
		e->saddr = rkey.daddr;
		e->sport = port;
		e->daddr = be.addr;
		e->dport = be.port;
		e->flags = SVCR_CT_F_EGRESS;
		rkey.saddr = key->saddr;
		rkey.sport = p->sport;
		rkey.daddr = be.addr;
		rkey.dport = be.port;
		if (bpf_map_update_elem(&svcr_ct, &rkey, e, BPF_ANY) != 0)
			return TC_ACT_SHOT;
	}

	/* The forward packet on its way in: client -> frontend becomes
	 * client -> backend. */
	e->saddr = key->saddr;
	e->sport = p->sport;
	e->daddr = be.addr;
	e->dport = be.port;
	e->flags = svcr_ct_next_flags(0, p);
	if (bpf_map_update_elem(&svcr_ct, key, e, BPF_ANY) != 0)
		return TC_ACT_SHOT;
	svcr_count_connection(svc.id, be.id);
	if (stats) {
		stats->new_flows++;
		stats->translated++;
	}
	svcr_rewrite4(skb, p, e);
	return TC_ACT_OK;
}

/* The packet path at a --tc-dev's ingress or egress hook. */
static __always_inline int svcr_tc(struct __sk_buff *skb, enum svcr_tc_hook hook)
{
	struct svcr_pkt4 p = {};
	struct svcr_ct_key key = {};
	struct svcr_ct_entry *e, entry;
	struct svcr_tc_stats *stats;
	bool own_egress = false;
	__u64 now;

	if (svcr_parse4(skb, &p) < 0)
		return TC_ACT_OK;
	svcr_addr_set_v4(&key.saddr, p.saddr);
	svcr_addr_set_v4(&key.daddr, p.daddr);
	key.sport = p.sport;
	key.dport = p.dport;
	key.proto = p.proto;
	now = svcr_tc_now();
	e = bpf_map_lookup_elem(&svcr_ct, &key);
	if (e) {
		bool here, alive, reopened;

		entry = *e;
		own_egress = entry.flags & SVCR_CT_F_EGRESS;
		here = !own_egress == (hook == SVCR_TC_INGRESS);
		alive = svcr_ct_alive(&entry, now, p.proto);
		/* A new connection on the tuple of a closed one is a new flow. */
		reopened = svcr_tcp_opening(&p) && (entry.flags & SVCR_CT_F_CLOSING);
		if (here && alive && !reopened) {
			__u32 flags = svcr_ct_next_flags(entry.flags, &p);

			/* Writes only when something changed: the entry's cache
			 * line is shared by every CPU that sees the flow. */
			if (flags != entry.flags)
				e->flags = flags;
			if ((__s64)(now - entry.last_seen_ns) >= (__s64)SVCR_CT_REFRESH_NS)
				e->last_seen_ns = now;
			svcr_rewrite4(skb, &p, &entry);
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
	return svcr_tc_new_flow4(skb, &p, &key, &entry, now);
}

#endif /* SVCR_BPF_NAT_H */
