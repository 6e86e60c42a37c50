/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packets as the packet path sees them (lib/nat.h): an Ethernet frame of an
 * IPv4 or IPv6 packet, parsed into the one form both families share
 * (16-byte addresses, lib/addr.h), and rewritten in place with every
 * checksum that covers a changed field fixed incrementally.
 */
#ifndef SVCR_BPF_PKT_H
#define SVCR_BPF_PKT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "lib/addr.h"

/*
 * IPv6 and ICMP headers of our own: the uapi headers that have them pull in
 * libc's, which BPF programs cannot include.
 */
struct svcr_ipv6hdr {
	__u8 version_class; /* version in the high 4 bits */
	__u8 flow[3];
	__u16 payload_len; /* network byte order */
	__u8 nexthdr;
	__u8 hop_limit;
	struct svcr_addr saddr, daddr;
};

struct svcr_icmphdr { /* ICMP and ICMPv6 */
	__u8 type;
	__u8 code;
	__u16 checksum;
	__u32 rest; /* unused, or the next-hop MTU */
};

#define SVCR_ETH_P_IPV6 0x86DD
#define SVCR_IPPROTO_ICMPV6 58
#define SVCR_ICMP_DEST_UNREACH 3
#define SVCR_ICMP_PORT_UNREACH 3
#define SVCR_ICMP_TIME_EXCEEDED 11
#define SVCR_ICMP_PARAMETERPROB 12
#define SVCR_ICMPV6_DEST_UNREACH 1
#define SVCR_ICMPV6_PORT_UNREACH 4
#define SVCR_ICMPV6_PARAMPROB 4

/* TCP flag bits, byte 13 of the header. */
#define SVCR_TCP_FIN 0x01
#define SVCR_TCP_SYN 0x02
#define SVCR_TCP_RST 0x04
#define SVCR_TCP_ACK 0x10

/*
 * What the packet path needs of a packet; addresses and ports in network
 * byte order, offsets from the start of the frame. For an ICMP error
 * (proto IPPROTO_ICMP or SVCR_IPPROTO_ICMPV6), ports are 0 and inner_off is
 * where the packet it is about starts.
 */
struct svcr_pkt {
	struct svcr_addr saddr, daddr;
	__u16 sport, dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 v6;
	__u8 pad;
	__u16 l4_off;
	__u16 csum_off; /* the L4 checksum */
	__u16 l4_len;   /* L4 header and payload, in bytes */
	__u16 ip_len;   /* the whole IP packet, in bytes */
};

static __always_inline bool svcr_addr_eq(const struct svcr_addr *a, const struct svcr_addr *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1] && a->w[2] == b->w[2] && a->w[3] == b->w[3];
}

/* Is this ICMP (or ICMPv6) type an error that quotes the packet it is about? */
static __always_inline bool svcr_icmp_is_error(__u8 type, bool v6)
{
	if (v6)
		return type >= SVCR_ICMPV6_DEST_UNREACH && type <= SVCR_ICMPV6_PARAMPROB;
	return type == SVCR_ICMP_DEST_UNREACH || type == SVCR_ICMP_TIME_EXCEEDED ||
	       type == SVCR_ICMP_PARAMETERPROB;
}

/*
 * Reads the ports (and TCP flags) of the L4 header at off, protocol proto.
 * 0, or -1 when the frame is too short or the protocol is not TCP or UDP.
 */
static __always_inline int svcr_parse_ports(struct __sk_buff *skb, __u32 off, __u8 proto,
					    struct svcr_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *l4 = data + off;

	if (proto == IPPROTO_TCP) {
		if ((void *)(l4 + sizeof(struct tcphdr)) > end)
			return -1;
		p->tcp_flags = l4[13];
		p->csum_off = off + offsetof(struct tcphdr, check);
	} else if (proto == IPPROTO_UDP) {
		if ((void *)(l4 + sizeof(struct udphdr)) > end)
			return -1;
		p->csum_off = off + offsetof(struct udphdr, check);
	} else {
		return -1;
	}
	p->sport = ((struct udphdr *)l4)->source;
	p->dport = ((struct udphdr *)l4)->dest;
	return 0;
}

/*
 * 0 when the frame is an IPv4 or IPv6 packet of TCP, UDP or an ICMP error
 * that the packet path can rewrite, else -1 (other protocols, fragments,
 * IPv6 extension headers: they pass untouched).
 */
static __always_inline int svcr_parse(struct __sk_buff *skb, struct svcr_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 *l4;

	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		__u32 ihl;

		if ((void *)(ip + 1) > end)
			return -1;
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip) || (ip->frag_off & bpf_htons(0x3fff)))
			return -1;
		p->proto = ip->protocol;
		svcr_addr_set_v4(&p->saddr, ip->saddr);
		svcr_addr_set_v4(&p->daddr, ip->daddr);
		p->ip_len = bpf_ntohs(ip->tot_len);
		p->l4_off = ETH_HLEN + ihl;
		p->l4_len = p->ip_len - ihl;
	} else if (eth->h_proto == bpf_htons(SVCR_ETH_P_IPV6)) {
		struct svcr_ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return -1;
		p->v6 = 1;
		p->proto = ip6->nexthdr;
		p->saddr = ip6->saddr;
		p->daddr = ip6->daddr;
		p->l4_len = bpf_ntohs(ip6->payload_len);
		p->ip_len = sizeof(*ip6) + p->l4_len;
		p->l4_off = ETH_HLEN + sizeof(*ip6);
	} else {
		return -1;
	}
	if (p->proto == (p->v6 ? SVCR_IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
		l4 = data + p->l4_off;
		if ((void *)(l4 + 8) > end || !svcr_icmp_is_error(l4[0], p->v6))
			return -1;
		p->csum_off = p->l4_off + 2;
		return 0;
	}
	return svcr_parse_ports(skb, p->l4_off, p->proto, p);
}

/* Offset of the source (or destination) address in the frame. */
static __always_inline __u32 svcr_addr_off(__u32 l3_off, bool v6, bool dst)
{
	if (v6)
		return l3_off + (dst ? offsetof(struct svcr_ipv6hdr, daddr) : offsetof(struct svcr_ipv6hdr, saddr));
	return l3_off + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
}

/*
 * Replaces the address at off (from -> to), fixing the IPv4 header checksum
 * at ip_csum (0: none, as in IPv6) and the checksum at l4_csum (0: none)
 * with l4_flags (BPF_F_PSEUDO_HDR when the address is in its pseudo-header).
 */
static __always_inline void svcr_store_addr(struct __sk_buff *skb, bool v6, __u32 off,
					    const struct svcr_addr *from, const struct svcr_addr *to,
					    __u32 ip_csum, __u32 l4_csum, __u64 l4_flags)
{
	if (!v6) {
		if (l4_csum)
			bpf_l4_csum_replace(skb, l4_csum, from->w[3], to->w[3], l4_flags | 4);
		if (ip_csum)
			bpf_l3_csum_replace(skb, ip_csum, from->w[3], to->w[3], 4);
		bpf_skb_store_bytes(skb, off, &to->w[3], 4, 0);
		return;
	}
	if (l4_csum) {
		__s64 diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);

		bpf_l4_csum_replace(skb, l4_csum, 0, diff, l4_flags);
	}
	bpf_skb_store_bytes(skb, off, to, 16, 0);
}

/* Replaces the port at off (from -> to), fixing the checksum at l4_csum (0: none). */
static __always_inline void svcr_store_port(struct __sk_buff *skb, __u32 off, __u16 from, __u16 to,
					    __u32 l4_csum, __u64 l4_flags)
{
	if (l4_csum)
		bpf_l4_csum_replace(skb, l4_csum, from, to, l4_flags | 2);
	bpf_skb_store_bytes(skb, off, &to, 2, 0);
}

/*
 * Rewrites a TCP or UDP packet's addresses and ports to saddr:sport ->
 * daddr:dport. A UDP packet without a checksum (0, IPv4) keeps none.
 */
static __always_inline void svcr_rewrite(struct __sk_buff *skb, const struct svcr_pkt *p,
					 const struct svcr_addr *saddr, __u16 sport,
					 const struct svcr_addr *daddr, __u16 dport)
{
	__u64 flags = BPF_F_PSEUDO_HDR | (p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	__u32 ip_csum = p->v6 ? 0 : ETH_HLEN + offsetof(struct iphdr, check);

	if (!svcr_addr_eq(saddr, &p->saddr))
		svcr_store_addr(skb, p->v6, svcr_addr_off(ETH_HLEN, p->v6, false), &p->saddr, saddr,
				ip_csum, p->csum_off, flags);
	if (!svcr_addr_eq(daddr, &p->daddr))
		svcr_store_addr(skb, p->v6, svcr_addr_off(ETH_HLEN, p->v6, true), &p->daddr, daddr,
				ip_csum, p->csum_off, flags);
	flags &= ~BPF_F_PSEUDO_HDR;
	/* Source and destination ports are the first two fields of TCP and UDP. */
	if (sport != p->sport)
		svcr_store_port(skb, p->l4_off, p->sport, sport, p->csum_off, flags);
	if (dport != p->dport)
		svcr_store_port(skb, p->l4_off + 2, p->dport, dport, p->csum_off, flags);
}

/* The one's complement checksum of a sum of 16-bit words. */
static __always_inline __u16 svcr_csum_fold(__s64 sum)
{
	__u32 c = (__u32)sum;

	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)~c;
}

/* Swaps the frame's MAC addresses: it goes back where it came from. */
static __always_inline int svcr_swap_macs(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 macs[2 * ETH_ALEN];

	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(macs, eth->h_source, ETH_ALEN);
	__builtin_memcpy(macs + ETH_ALEN, eth->h_dest, ETH_ALEN);
	return bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0);
}

#endif /* SVCR_BPF_PKT_H */
