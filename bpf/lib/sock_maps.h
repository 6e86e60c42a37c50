/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The socket path's translation maps. Layouts: maps/layout/sock.h. */
#ifndef SVCR_BPF_SOCK_MAPS_H
#define SVCR_BPF_SOCK_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps/layout/sock.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SVCR_MAX_SOCK_ENTRIES);
	__type(key, struct svcr_sock_key);
	__type(value, struct svcr_sock_rev);
} svcr_sock_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SVCR_MAX_SOCK_ENTRIES);
	__type(key, struct svcr_sock_key);
	__type(value, struct svcr_sock_fwd);
} svcr_sock_fwd SEC(".maps");

#endif /* SVCR_BPF_SOCK_MAPS_H */
