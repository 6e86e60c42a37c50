/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Service lookup and backend selection, shared by every datapath: strict
 * round-robin per service, with optional ClientIP session affinity.
 */
#ifndef SVCR_BPF_LB_H
#define SVCR_BPF_LB_H

#include "lib/service_maps.h"

#define SVCR_NSEC_PER_SEC 1000000000ULL

/*
 * Map values are copied to the stack at once and checked: a hash element the
 * agent replaces can be reused at once, so a pointer from a lookup may start
 * to show someone else's data (DEVELOPING.md, "The update protocol").
 */

/* The service entry for key, copied; false when there is none. */
static __always_inline bool svcr_lookup_service(const struct svcr_svc_key *key,
						struct svcr_svc_value *svc)
{
	const struct svcr_svc_value *v = bpf_map_lookup_elem(&svcr_services, key);

	if (!v)
		return false;
	*svc = *v;
	return true;
}

/* A backend by id, copied; false when absent or no longer that backend. */
static __always_inline bool svcr_lookup_backend(__u32 backend_id, struct svcr_backend *be)
{
	const struct svcr_backend *v = bpf_map_lookup_elem(&svcr_backends, &backend_id);

	if (!v)
		return false;
	*be = *v;
	return be->id == backend_id;
}

/* Is the backend still part of the service's current set? */
static __always_inline bool svcr_is_member(__u32 svc_id, __u32 backend_id)
{
	struct svcr_member_key key = { .svc_id = svc_id, .backend_id = backend_id };

	return bpf_map_lookup_elem(&svcr_members, &key) != NULL;
}

enum svcr_pick {
	SVCR_PICK_OK,	 /* *be holds the backend */
	SVCR_PICK_NONE,	 /* the service has no backend */
	SVCR_PICK_STALE, /* the entry changed under us: look it up again */
};

/*
 * The next backend in the service's fixed order. One atomic fetch-and-add on
 * a per-service cursor makes the rotation exact even when several CPUs
 * connect at once: K*N connections give each of N backends exactly K.
 */
static __always_inline enum svcr_pick svcr_round_robin(const struct svcr_svc_value *svc,
						       struct svcr_backend *be)
{
	const struct svcr_slot *slot;
	__u32 svc_id = svc->id;
	__u64 *cursor, n;
	__u32 index;

	if (svc->count == 0)
		return SVCR_PICK_NONE;
	cursor = bpf_map_lookup_elem(&svcr_rr, &svc_id);
	if (!cursor)
		return SVCR_PICK_NONE;
	n = __sync_fetch_and_add(cursor, 1);
	/*
	 * A slot of this (id, gen) is stable until a grace period after the
	 * entry stops pointing at it. Anything else means the entry we copied
	 * was being replaced: the caller looks again.
	 */
	index = svc->slot_base + (__u32)(n % svc->count);
	slot = bpf_map_lookup_elem(&svcr_slots, &index);
	if (!slot || slot->svc_id != svc_id || slot->gen != svc->gen || slot->be.id == 0)
		return SVCR_PICK_STALE;
	*be = slot->be;
	return SVCR_PICK_OK;
}

/*
 * sessionAffinity: ClientIP. The client keeps its backend while it connects
 * again within the timeout (each connection refreshes it) and the backend
 * is still in the set; otherwise round-robin picks and is remembered.
 */
static __always_inline enum svcr_pick svcr_affinity_select(const struct svcr_svc_value *svc,
							   __u64 client, struct svcr_backend *be)
{
	struct svcr_affinity_key key = { .client = client, .svc_id = svc->id };
	__u64 now = bpf_ktime_get_ns();
	struct svcr_affinity *aff, fresh = {};
	enum svcr_pick pick;

	aff = bpf_map_lookup_elem(&svcr_affinity, &key);
	if (aff && now - aff->last_used_ns <= svc->affinity_timeout * SVCR_NSEC_PER_SEC &&
	    svcr_is_member(svc->id, aff->backend_id) && svcr_lookup_backend(aff->backend_id, be)) {
		aff->last_used_ns = now;
		return SVCR_PICK_OK;
	}
	pick = svcr_round_robin(svc, be);
	if (pick == SVCR_PICK_OK) {
		fresh.last_used_ns = now;
		fresh.backend_id = be->id;
		bpf_map_update_elem(&svcr_affinity, &key, &fresh, BPF_ANY);
	}
	return pick;
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
