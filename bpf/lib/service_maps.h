/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The service table's maps, as every datapath sees them. Layouts:
 * maps/layout/service.h. The agent writes them (maps/kernel_maps.cpp)
 * following the update protocol in DEVELOPING.md.
 */
#ifndef SVCR_BPF_SERVICE_MAPS_H
#define SVCR_BPF_SERVICE_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps/layout/service.h"

/*
 * Hash maps that userspace rewrites are not preallocated, so they cost memory
 * only for what they hold. Their replaced elements can be reused at once:
 * the programs copy what they look up and check it (lib/lb.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct svcr_svc_key);
	__type(value, struct svcr_svc_value);
} svcr_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct svcr_addr);
	__type(value, struct svcr_vip);
} svcr_vips SEC(".maps");

/* Each service's backends, in round-robin order, in the range its entry points at. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SVCR_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct svcr_slot);
} svcr_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct svcr_backend);
} svcr_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_MAX_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct svcr_member_key);
	__type(value, struct svcr_member);
} svcr_members SEC(".maps");

/* Round-robin cursor per service id, advanced with an atomic fetch-and-add. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SVCR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u64);
} svcr_rr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SVCR_MAX_AFFINITY);
	__type(key, struct svcr_affinity_key);
	__type(value, struct svcr_affinity);
} svcr_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SVCR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct svcr_svc_stats);
} svcr_svc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SVCR_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct svcr_backend_stats);
} svcr_be_stats SEC(".maps");

/* Ports the packet path tracks flows on, by port (host order). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct svcr_port);
} svcr_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SVCR_MAX_SRC_RANGES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct svcr_src_range_key);
	__type(value, __u32);
} svcr_src_ranges SEC(".maps");

/* Agent-only: the table's write epoch (maps/layout/service.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} svcr_epoch SEC(".maps");

/* Agent-only: names of what the kernel serves, so a restart can adopt it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct svcr_svc_meta);
} svcr_svc_meta SEC(".maps");

#endif /* SVCR_BPF_SERVICE_MAPS_H */
