/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The socket path: cgroup sock_addr hooks rewrite a connect()/sendmsg() to a
 * ClusterIP into a connection to a backend before any packet exists, and
 * recvmsg()/getpeername() translate the backend back into the VIP.
 */
#ifndef SVCR_BPF_SOCK_H
#define SVCR_BPF_SOCK_H

#include <asm-generic/errno.h> /* the uapi header, not libc's */
#include <linux/in.h>

#include "lib/addr.h"
#include "lib/lb.h"
#include "lib/sock_maps.h"

/* Set by the loader from its probe of the running kernel (loader/features.cpp). */
const volatile __u8 svcr_have_set_retval = 1;
const volatile __u8 svcr_have_netns_cookie = 1;

enum svcr_verdict {
	SVCR_PASS,    /* not a service: leave the call alone */
	SVCR_REWRITE, /* destination replaced by a backend */
	SVCR_REFUSE,  /* service without a usable backend */
};

/* sock_addr programs: 1 lets the call proceed, 0 fails it. */
#define SVCR_SOCK_ALLOW 1
#define SVCR_SOCK_DENY 0

/* The socket's family: which ctx fields hold the address. */
enum svcr_family {
	SVCR_INET4, /* user_ip4 */
	SVCR_INET6, /* user_ip6[], IPv4 services as ::ffff:a.b.c.d */
};

/* The system call being translated forward. */
enum svcr_call {
	SVCR_CONNECT, /* connect(): the socket gets a fixed peer */
	SVCR_SENDMSG, /* sendmsg() on an unconnected UDP socket: per datagram */
};

static __always_inline void svcr_ctx_get6(const struct bpf_sock_addr *ctx, struct svcr_addr *a)
{
	/* Constant indices: the verifier only allows fixed 4-byte ctx reads. */
	a->w[0] = ctx->user_ip6[0];
	a->w[1] = ctx->user_ip6[1];
	a->w[2] = ctx->user_ip6[2];
	a->w[3] = ctx->user_ip6[3];
}

static __always_inline void svcr_ctx_set6(struct bpf_sock_addr *ctx, const struct svcr_addr *a)
{
	ctx->user_ip6[0] = a->w[0];
	ctx->user_ip6[1] = a->w[1];
	ctx->user_ip6[2] = a->w[2];
	ctx->user_ip6[3] = a->w[3];
}

/* user_port holds the port in network byte order in its low 16 bits. */
static __always_inline __u16 svcr_ctx_port(const struct bpf_sock_addr *ctx)
{
	return (__u16)ctx->user_port;
}

static __always_inline void svcr_sock_key_init(struct svcr_sock_key *key, __u64 cookie,
					       const struct svcr_addr *addr, __u16 port, __u8 proto)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->cookie = cookie;
	key->addr = *addr;
	key->port = port;
	key->proto = proto;
}

/*
 * A datagram socket that already talks to a backend of this service keeps
 * it while the backend stays in the set, as kube-proxy's conntrack entry
 * for the socket's source port would.
 */
static __always_inline bool svcr_sock_sticky_backend(const struct svcr_sock_key *fwd_key,
						     const struct svcr_svc_value *svc,
						     struct svcr_backend *be)
{
	struct svcr_sock_fwd *fwd = bpf_map_lookup_elem(&svcr_sock_fwd, fwd_key);

	return fwd && fwd->svc_id == svc->id && svcr_is_member(svc->id, fwd->backend_id) &&
	       svcr_lookup_backend(fwd->backend_id, be);
}

/*
 * Remembers the VIP for recvmsg() and getpeername() on this socket. A
 * connected socket's entry is deleted when the socket is released.
 */
static __always_inline void svcr_sock_remember(__u64 cookie, __u32 svc_id,
					       const struct svcr_addr *vip, __u16 vip_port,
					       const struct svcr_backend *be, __u8 proto)
{
	struct svcr_sock_rev rev = {};
	struct svcr_sock_key key;

	svcr_sock_key_init(&key, cookie, &be->addr, be->port, proto);
	rev.vip = *vip;
	rev.port = vip_port;
	rev.svc_id = svc_id;
	bpf_map_update_elem(&svcr_sock_rev, &key, &rev, BPF_ANY);
}

/*
 * Picks the backend for this call from svc, a copy of the service entry. A new
 * flow is balanced (with ClientIP affinity: on the socket path the client is
 * its netns); an unconnected UDP socket keeps its backend.
 */
static __always_inline enum svcr_pick svcr_sock_pick(struct bpf_sock_addr *ctx, __u64 cookie,
						     const struct svcr_svc_key *key,
						     const struct svcr_svc_value *svc,
						     struct svcr_backend *be, enum svcr_call call)
{
	struct svcr_sock_key skey;
	enum svcr_pick pick;

	if (call == SVCR_SENDMSG) {
		svcr_sock_key_init(&skey, cookie, &key->vip, key->port, key->proto);
		if (svcr_sock_sticky_backend(&skey, svc, be))
			return SVCR_PICK_OK;
	}
	if ((svc->flags & SVCR_SVC_F_AFFINITY) && svcr_have_netns_cookie)
		pick = svcr_affinity_select(svc, bpf_get_netns_cookie(ctx), be);
	else
		pick = svcr_round_robin(svc, be);
	if (pick != SVCR_PICK_OK)
		return pick;
	if (call == SVCR_SENDMSG) {
		struct svcr_sock_fwd fwd = { .backend_id = be->id, .svc_id = svc->id };

		bpf_map_update_elem(&svcr_sock_fwd, &skey, &fwd, BPF_ANY);
	}
	svcr_count_connection(svc->id, be->id);
	return SVCR_PICK_OK;
}

/*
 * Forward translation shared by connect and sendmsg of both families.
 * dst/dport hold the destination on entry and the backend on SVCR_REWRITE.
 */
static __always_inline enum svcr_verdict svcr_sock_xlate_fwd(struct bpf_sock_addr *ctx,
							     struct svcr_addr *dst, __u16 *dport,
							     enum svcr_call call)
{
	struct svcr_svc_key key = {};
	struct svcr_svc_value svc;
	/*
	 * Zeroed: where the first pick fails, clang may keep be's fields in
	 * registers across the retry, and the verifier refuses a read of a
	 * register never written on that path (tests/bpf met it).
	 */
	struct svcr_backend be = {};
	enum svcr_pick pick;
	__u64 cookie;
	__u8 proto = (__u8)ctx->protocol;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return SVCR_PASS;
	key.vip = *dst;
	key.port = *dport;
	key.proto = proto;
	key.scope = SVCR_SCOPE_CLUSTER;
	if (!svcr_lookup_service(&key, &svc)) {
		/* A port the service does not define on a known ClusterIP. */
		if (bpf_map_lookup_elem(&svcr_vips, dst))
			return SVCR_REFUSE;
		/* A NodePort, ExternalIP or LoadBalancer IP, or none of ours. */
		key.scope = SVCR_SCOPE_NODE;
		if (!svcr_lookup_service(&key, &svc))
			return SVCR_PASS;
	}
	cookie = bpf_get_socket_cookie(ctx);
	pick = svcr_sock_pick(ctx, cookie, &key, &svc, &be, call);
	/* The entry was being replaced: the new one is in place now. */
	if (pick == SVCR_PICK_STALE && svcr_lookup_service(&key, &svc))
		pick = svcr_sock_pick(ctx, cookie, &key, &svc, &be, call);
	if (pick != SVCR_PICK_OK) {
		svcr_count_refused(svc.id);
		return SVCR_REFUSE;
	}
	svcr_sock_remember(cookie, svc.id, dst, *dport, &be, proto);
	*dst = be.addr;
	*dport = be.port;
	return SVCR_REWRITE;
}

/*
 * Fails the call with ECONNREFUSED, what a client of kube-proxy's REJECT
 * rule sees; without bpf_set_retval (kernel < 5.18) the caller gets EPERM.
 */
static __always_inline int svcr_sock_refuse(void)
{
	if (svcr_have_set_retval)
		bpf_set_retval(-ECONNREFUSED);
	return SVCR_SOCK_DENY;
}

/* The destination of the call; IPv4 as ::ffff:a.b.c.d. */
static __always_inline void svcr_ctx_get(const struct bpf_sock_addr *ctx, enum svcr_family family,
					 struct svcr_addr *a)
{
	/* family is a constant in every caller: clang drops the other branch, so
	 * a v4 program never touches user_ip6 (the verifier would refuse it). */
	if (family == SVCR_INET6)
		svcr_ctx_get6(ctx, a);
	else
		svcr_addr_set_v4(a, ctx->user_ip4);
}

static __always_inline void svcr_ctx_set(struct bpf_sock_addr *ctx, enum svcr_family family,
					 const struct svcr_addr *a, __u16 port)
{
	if (family == SVCR_INET6)
		svcr_ctx_set6(ctx, a);
	else
		ctx->user_ip4 = a->w[3];
	ctx->user_port = port;
}

/* connect() and sendmsg() on an IPv4 or IPv6 socket. */
static __always_inline int svcr_sock_forward(struct bpf_sock_addr *ctx, enum svcr_family family,
					     enum svcr_call call)
{
	struct svcr_addr dst;
	__u16 port = svcr_ctx_port(ctx);

	/* A v4-mapped IPv6 destination finds the IPv4 service under the same key. */
	svcr_ctx_get(ctx, family, &dst);
	switch (svcr_sock_xlate_fwd(ctx, &dst, &port, call)) {
	case SVCR_PASS:
		return SVCR_SOCK_ALLOW;
	case SVCR_REFUSE:
		return svcr_sock_refuse();
	default:
		break;
	}
	/* The agent gives an IPv4 service only IPv4 backends. */
	if (family == SVCR_INET4 && !svcr_addr_is_v4(&dst))
		return svcr_sock_refuse();
	svcr_ctx_set(ctx, family, &dst, port);
	return SVCR_SOCK_ALLOW;
}

/* recvmsg() and getpeername(): show the VIP instead of the backend. */
static __always_inline bool svcr_sock_xlate_rev(struct bpf_sock_addr *ctx, struct svcr_addr *src,
						__u16 *sport)
{
	struct svcr_sock_key key;
	struct svcr_sock_rev *rev;

	svcr_sock_key_init(&key, bpf_get_socket_cookie(ctx), src, *sport, (__u8)ctx->protocol);
	rev = bpf_map_lookup_elem(&svcr_sock_rev, &key);
	if (!rev)
		return false;
	*src = rev->vip;
	*sport = rev->port;
	return true;
}

/* recvmsg() and getpeername() on an IPv4 or IPv6 socket. */
static __always_inline int svcr_sock_reverse(struct bpf_sock_addr *ctx, enum svcr_family family)
{
	struct svcr_addr src;
	__u16 port = svcr_ctx_port(ctx);

	svcr_ctx_get(ctx, family, &src);
	if (svcr_sock_xlate_rev(ctx, &src, &port) &&
	    (family == SVCR_INET6 || svcr_addr_is_v4(&src)))
		svcr_ctx_set(ctx, family, &src, port);
	/* These hooks cannot fail the call: they must return 1. */
	return SVCR_SOCK_ALLOW;
}

/*
 * cgroup/sock_release: a connected socket takes its translation with it. The
 * LRU then holds live sockets only, so a long-lived socket's entry is not
 * evicted by short-lived ones, and the next connect() reuses a recently
 * freed (cache-hot) element instead of evicting the coldest one. Entries of
 * unconnected UDP sockets (no destination here) age out of the LRU.
 */
static __always_inline int svcr_sock_release(struct bpf_sock *sk)
{
	struct svcr_sock_key key;
	struct svcr_addr dst;
	__u8 proto = (__u8)sk->protocol;

	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || !sk->dst_port)
		return SVCR_SOCK_ALLOW; /* not ours, or never connected */
	/*
	 * Read every field, volatile, before choosing by value: otherwise clang
	 * sinks the loads into the branches and merges them into one load
	 * through a computed ctx pointer, which the verifier refuses.
	 */
	__u32 ip4 = *(volatile __u32 *)&sk->dst_ip4;
	__u32 a = *(volatile __u32 *)&sk->dst_ip6[0], b = *(volatile __u32 *)&sk->dst_ip6[1];
	__u32 c = *(volatile __u32 *)&sk->dst_ip6[2], d = *(volatile __u32 *)&sk->dst_ip6[3];

	if (sk->family == SVCR_AF_INET6) {
		dst.w[0] = a;
		dst.w[1] = b;
		dst.w[2] = c;
		dst.w[3] = d;
	} else {
		svcr_addr_set_v4(&dst, ip4);
	}
	svcr_sock_key_init(&key, bpf_get_socket_cookie(sk), &dst, sk->dst_port, proto);
	bpf_map_delete_elem(&svcr_sock_rev, &key);
	return SVCR_SOCK_ALLOW;
}

#endif /* SVCR_BPF_SOCK_H */
