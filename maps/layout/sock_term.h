/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Closing connected UDP sockets whose backend left its service: what the
 * socket iterator (bpf/svcr_sockterm.bpf.c, kernels with bpf_sock_destroy)
 * and user space (loader/sock_term.cpp) exchange, and the counters that
 * `svcrouter stats` shows. The sockets are named by their key in
 * svcr_sock_rev (maps/layout/sock.h): (cookie, backend, port, UDP).
 */
/* clang-format off: kernel style, shared with bpf/ */
#ifndef SVCR_LAYOUT_SOCK_TERM_H
#define SVCR_LAYOUT_SOCK_TERM_H

#include "maps/layout/sock.h"

/*
 * svcr_udp_doomed (hash, the iterator object's own): the sockets user space
 * chose to close, keyed as svcr_sock_rev. The iterator (svcr_udp_close)
 * fills in the verdict of each it meets: one it meets again (an iterator
 * may show a socket twice) is not destroyed twice, and user space reads the
 * outcome here once the iterator has run in every network namespace.
 */
#define SVCR_SOCK_TERM_BATCH 16384
struct svcr_sock_term_verdict {
	__s32 result; /* host order; bpf_sock_destroy()'s return, 0: closed */
	__u32 done;   /* host order; 1 once the iterator met the socket */
};

/*
 * svcr_sock_term (array, one entry, pinned with the socket path's maps):
 * what every pass closed, summed over processes. Written by user space
 * under the table's exclusive lock; shown by `svcrouter stats`.
 */
struct svcr_sock_term_stats {
	__u64 passes;  /* host order; termination passes run */
	__u64 sockets; /* host order; UDP translations (svcr_sock_rev) looked at */
	__u64 closed;  /* host order; sockets closed (backend gone) */
	__u64 failed;  /* host order; sockets that could not be closed */
	__u64 skipped_netns; /* host order; namespaces that could not be entered */
};

#ifdef __cplusplus
#include <cstddef>
static_assert(sizeof(struct svcr_sock_term_verdict) == 8);
static_assert(sizeof(struct svcr_sock_term_stats) == 40);
#endif

#endif /* SVCR_LAYOUT_SOCK_TERM_H */
/* clang-format on */
