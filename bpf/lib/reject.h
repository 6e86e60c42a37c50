/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Refusing a new flow for a frontend without a usable backend, as
 * kube-proxy's REJECT does: a TCP SYN is answered with a RST, a UDP
 * datagram with an ICMP (ICMPv6) port unreachable. The packet itself is
 * turned into the answer, in place, and sent back out of the device it came
 * in by. Anything else is dropped.
 */
#ifndef SVCR_BPF_REJECT_H
#define SVCR_BPF_REJECT_H

#include <linux/pkt_cls.h>

#include "lib/pkt.h"

/*
 * A SYN becomes the RST+ACK the frontend would have answered (RFC 793:
 * sequence 0, acknowledging the SYN and its data). Options and data stay (a
 * RST may carry both); every changed field is folded into the checksum
 * incrementally, which is also right for a checksum the device has yet to
 * complete (CHECKSUM_PARTIAL): swapping the addresses and ports changes no
 * sum.
 */
static __always_inline int svcr_reject_tcp(struct __sk_buff *skb, const struct svcr_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 off = p->l4_off, seq, old_ack, ack, payload, zero = 0;
	__u16 old_word, new_word, old_window;
	struct tcphdr *th;

	if ((p->tcp_flags & (SVCR_TCP_SYN | SVCR_TCP_ACK)) != SVCR_TCP_SYN)
		return TC_ACT_SHOT;
	if (off > ETH_HLEN + 60)
		return TC_ACT_SHOT;
	th = data + off;
	if ((void *)(th + 1) > end)
		return TC_ACT_SHOT;
	payload = p->l4_len - th->doff * 4;
	/* Everything is read first: a helper that writes invalidates the pointers. */
	seq = th->seq;
	old_ack = th->ack_seq;
	ack = bpf_htonl(bpf_ntohl(seq) + 1 + payload);
	old_word = ((__u16 *)th)[6]; /* data offset and flags */
	new_word = (old_word & bpf_htons(0xf000)) | bpf_htons(0x0014); /* RST, ACK */
	old_window = th->window;

	bpf_l4_csum_replace(skb, p->csum_off, seq, zero, 4);
	bpf_l4_csum_replace(skb, p->csum_off, old_ack, ack, 4);
	bpf_l4_csum_replace(skb, p->csum_off, old_word, new_word, 2);
	bpf_l4_csum_replace(skb, p->csum_off, old_window, 0, 2);
	bpf_skb_store_bytes(skb, off + offsetof(struct tcphdr, seq), &zero, 4, 0);
	bpf_skb_store_bytes(skb, off + offsetof(struct tcphdr, ack_seq), &ack, 4, 0);
	bpf_skb_store_bytes(skb, off + 12, &new_word, 2, 0);
	bpf_skb_store_bytes(skb, off + offsetof(struct tcphdr, window), &zero, 2, 0);
	bpf_skb_store_bytes(skb, off, &p->dport, 2, 0);
	bpf_skb_store_bytes(skb, off + 2, &p->sport, 2, 0);
	if (p->v6) {
		bpf_skb_store_bytes(skb, svcr_addr_off(ETH_HLEN, true, false), &p->daddr, 16, 0);
		bpf_skb_store_bytes(skb, svcr_addr_off(ETH_HLEN, true, true), &p->saddr, 16, 0);
	} else {
		bpf_skb_store_bytes(skb, svcr_addr_off(ETH_HLEN, false, false), &p->daddr.w[3], 4, 0);
		bpf_skb_store_bytes(skb, svcr_addr_off(ETH_HLEN, false, true), &p->saddr.w[3], 4, 0);
	}
	if (svcr_swap_macs(skb) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * A UDP datagram (IPv4 without options) becomes ICMP port unreachable from
 * the frontend, quoting its IP header and the first 8 bytes of UDP (RFC
 * 792): the frame is cut after those, room for the new IP and ICMP headers
 * is made after its IP header, and the whole message written over it.
 */
struct svcr_icmp4_msg {
	struct iphdr ip;
	struct svcr_icmphdr icmp;
	struct iphdr quoted;
	struct udphdr quoted_udp;
};
_Static_assert(sizeof(struct svcr_icmp4_msg) == 56, "no padding");

static __always_inline int svcr_reject_udp4(struct __sk_buff *skb, const struct svcr_pkt *p)
{
	const __u32 quote = sizeof(struct iphdr) + sizeof(struct udphdr);
	struct svcr_icmp4_msg m;

	if (p->l4_off != ETH_HLEN + sizeof(struct iphdr))
		return TC_ACT_SHOT;
	__builtin_memset(&m, 0, sizeof(m));
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &m.quoted, quote) < 0 ||
	    bpf_skb_change_tail(skb, ETH_HLEN + quote, 0) < 0 ||
	    bpf_skb_adjust_room(skb, sizeof(m) - quote, BPF_ADJ_ROOM_NET, 0) < 0)
		return TC_ACT_SHOT;
	m.ip.version = 4;
	m.ip.ihl = 5;
	m.ip.tot_len = bpf_htons(sizeof(m));
	m.ip.ttl = 64;
	m.ip.protocol = IPPROTO_ICMP;
	m.ip.saddr = m.quoted.daddr;
	m.ip.daddr = m.quoted.saddr;
	m.ip.check = svcr_csum_fold(bpf_csum_diff(0, 0, (__be32 *)&m.ip, sizeof(m.ip), 0));
	m.icmp.type = SVCR_ICMP_DEST_UNREACH;
	m.icmp.code = SVCR_ICMP_PORT_UNREACH;
	m.icmp.checksum = svcr_csum_fold(
		bpf_csum_diff(0, 0, (__be32 *)&m.icmp, sizeof(m) - sizeof(m.ip), 0));
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &m, sizeof(m), 0) < 0 || svcr_swap_macs(skb) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/* The same for IPv6 (RFC 4443), without extension headers. */
struct svcr_icmp6_msg {
	struct svcr_ipv6hdr ip;
	struct svcr_icmphdr icmp;
	struct svcr_ipv6hdr quoted;
	struct udphdr quoted_udp;
};
_Static_assert(sizeof(struct svcr_icmp6_msg) == 96, "no padding");

static __always_inline int svcr_reject_udp6(struct __sk_buff *skb)
{
	const __u32 quote = sizeof(struct svcr_ipv6hdr) + sizeof(struct udphdr);
	const __u32 icmp_len = sizeof(struct svcr_icmp6_msg) - sizeof(struct svcr_ipv6hdr);
	/* The rest of the pseudo-header: upper-layer length and next header. */
	__be32 pseudo[2] = { bpf_htonl(icmp_len), bpf_htonl(SVCR_IPPROTO_ICMPV6) };
	struct svcr_icmp6_msg m;
	__s64 sum;

	__builtin_memset(&m, 0, sizeof(m));
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &m.quoted, quote) < 0 ||
	    bpf_skb_change_tail(skb, ETH_HLEN + quote, 0) < 0 ||
	    bpf_skb_adjust_room(skb, sizeof(m) - quote, BPF_ADJ_ROOM_NET, 0) < 0)
		return TC_ACT_SHOT;
	m.ip.version_class = 0x60;
	m.ip.payload_len = bpf_htons(icmp_len);
	m.ip.nexthdr = SVCR_IPPROTO_ICMPV6;
	m.ip.hop_limit = 64;
	m.ip.saddr = m.quoted.daddr;
	m.ip.daddr = m.quoted.saddr;
	m.icmp.type = SVCR_ICMPV6_DEST_UNREACH;
	m.icmp.code = SVCR_ICMPV6_PORT_UNREACH;
	sum = bpf_csum_diff(0, 0, (__be32 *)&m.ip.saddr, 32, 0);
	sum = bpf_csum_diff(0, 0, pseudo, sizeof(pseudo), (__u32)sum);
	sum = bpf_csum_diff(0, 0, (__be32 *)&m.icmp, icmp_len, (__u32)sum);
	m.icmp.checksum = svcr_csum_fold(sum);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &m, sizeof(m), 0) < 0 || svcr_swap_macs(skb) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

/* Refuses the first packet p of a new flow (see the top of this file). */
static __always_inline int svcr_reject(struct __sk_buff *skb, const struct svcr_pkt *p)
{
	if (p->proto == IPPROTO_TCP)
		return svcr_reject_tcp(skb, p);
	if (p->proto != IPPROTO_UDP)
		return TC_ACT_SHOT;
	return p->v6 ? svcr_reject_udp6(skb) : svcr_reject_udp4(skb, p);
}

#endif /* SVCR_BPF_REJECT_H */
