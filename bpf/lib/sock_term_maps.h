/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The counters of the passes that close connected UDP sockets whose backend
 * left its service. No program writes them: the map is defined here, in the
 * socket path's object, so that it is pinned with the socket path's maps and
 * every process (the agent, `apply`, `stats`) finds it. Layout:
 * maps/layout/sock_term.h.
 */
#ifndef SVCR_BPF_SOCK_TERM_MAPS_H
#define SVCR_BPF_SOCK_TERM_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps/layout/sock_term.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct svcr_sock_term_stats);
} svcr_sock_term SEC(".maps");

#endif /* SVCR_BPF_SOCK_TERM_MAPS_H */
