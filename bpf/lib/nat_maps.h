/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The packet path's maps. Layouts: maps/layout/nat.h. */
#ifndef SVCR_BPF_NAT_MAPS_H
#define SVCR_BPF_NAT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps/layout/nat.h"

/*
 * Tracked flows, two entries each (four with SNAT). A plain hash, not an
 * LRU: a full table refuses new flows (counted: svcr_tc_stats.ct_full)
 * instead of evicting live ones; expired entries are deleted when met and
 * by the agent's sweep.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_CT_MAX_DEFAULT);
	__type(key, struct svcr_ct_key);
	__type(value, struct svcr_ct_entry);
} svcr_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SVCR_MAX_DEVICES);
	__type(key, __u32);
	__type(value, struct svcr_device);
} svcr_devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct svcr_tc_stats);
} svcr_tc_stats SEC(".maps");

#endif /* SVCR_BPF_NAT_MAPS_H */
