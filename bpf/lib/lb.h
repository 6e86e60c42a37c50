/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service lookup and backend selection, shared by every datapath: strict
 * round-robin per service, with optional ClientIP session affinity.
 */
#ifndef SVCR_BPF_LB_H
#define SVCR_BPF_LB_H

#include "lib/maps.h"

#define SVCR_NSEC_PER_SEC 1000000000ULL

/* Set by the loader from its probe of the running kernel (loader/features.cpp). */
const volatile __u8 svcr_have_atomic_fetch = 1;

static __always_inline const struct svcr_svc_value *
svcr_lookup_service(const struct svcr_svc_key *key)
{
	return bpf_map_lookup_elem(&svcr_services, key);
}

static __always_inline const struct svcr_backend *svcr_lookup_backend(__u32 backend_id)
{
	return bpf_map_lookup_elem(&svcr_backends, &backend_id);
}

/* Is the backend still part of the service's current set? */
static __always_inline bool svcr_is_member(__u32 svc_id, __u32 backend_id)
{
	struct svcr_member_key key = { .svc_id = svc_id, .backend_id = backend_id };

	return bpf_map_lookup_elem(&svcr_members, &key) != NULL;
}

/*
 * The next backend in the service's fixed order. One atomic fetch-and-add on
 * a per-service cursor makes the rotation exact even when several CPUs
 * connect at once: K*N connections give each of N backends exactly K.
 * Returns NULL when the service has no backend.
 */
static __always_inline const struct svcr_backend *svcr_round_robin(const struct svcr_svc_value *svc)
{
	const struct svcr_backend *be;
	__u32 svc_id = svc->id;
	__u32 count = svc->count;
	__u64 *cursor, n;
	__u32 index;

	if (count == 0)
		return NULL;
	cursor = bpf_map_lookup_elem(&svcr_rr, &svc_id);
	if (!cursor)
		return NULL;
	if (svcr_have_atomic_fetch) {
		n = __sync_fetch_and_add(cursor, 1);
	} else {
		/* Before 5.12: read, then a plain atomic add (its result unused).
		 * Exact for sequential connections only. */
		n = *cursor;
		__sync_fetch_and_add(cursor, 1);
	}
	/*
	 * The range stays as it is for as long as a reader can hold this svc
	 * value: the agent rewrites a retired range only after an RCU grace
	 * period. An empty slot (id 0) means a broken table, not a race.
	 */
	index = svc->slot_base + (__u32)(n % count);
	be = bpf_map_lookup_elem(&svcr_slots, &index);
	return be && be->id ? be : NULL;
}

/*
 * sessionAffinity: ClientIP. The client keeps its backend while it connects
 * again within the timeout (each connection refreshes it) and the backend
 * is still in the set; otherwise round-robin picks and is remembered.
 */
static __always_inline const struct svcr_backend *
svcr_affinity_select(const struct svcr_svc_value *svc, __u64 client)
{
	struct svcr_affinity_key key = { .client = client, .svc_id = svc->id };
	__u64 now = bpf_ktime_get_ns();
	const struct svcr_backend *be;
	struct svcr_affinity *aff, fresh = {};

	aff = bpf_map_lookup_elem(&svcr_affinity, &key);
	if (aff && now - aff->last_used_ns <= svc->affinity_timeout * SVCR_NSEC_PER_SEC &&
	    svcr_is_member(svc->id, aff->backend_id)) {
		be = svcr_lookup_backend(aff->backend_id);
		if (be) {
			aff->last_used_ns = now;
			return be;
		}
	}
	be = svcr_round_robin(svc);
	if (be) {
		fresh.last_used_ns = now;
		fresh.backend_id = be->id;
		bpf_map_update_elem(&svcr_affinity, &key, &fresh, BPF_ANY);
	}
	return be;
}

static __always_inline void svcr_count_connection(__u32 svc_id, __u32 backend_id)
{
	struct svcr_svc_stats *ss = bpf_map_lookup_elem(&svcr_svc_stats, &svc_id);
	struct svcr_backend_stats *bs = bpf_map_lookup_elem(&svcr_be_stats, &backend_id);

	/* Per-CPU values: a plain increment is race-free. */
	if (ss)
		ss->connections++;
	if (bs)
		bs->connections++;
}

static __always_inline void svcr_count_refused(__u32 svc_id)
{
	struct svcr_svc_stats *ss = bpf_map_lookup_elem(&svcr_svc_stats, &svc_id);

	if (ss)
		ss->refused++;
}

#endif /* SVCR_BPF_LB_H */
