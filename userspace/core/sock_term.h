// Connected UDP sockets whose backend left its service: the rule that says
// which (pure, unit-tested), and the pass that closes them through the
// maps::SockTerm seam, as the agent and `svcrouter apply` run it once an
// update is in the kernel.
//
// A backend has left when it is no longer an endpoint of the service at
// all: gone from its EndpointSlices, or the Service or its port deleted. An
// endpoint that is merely not ready or terminating is still listed, and its
// sockets are left alone, as TCP connections always are: kube-proxy clears
// the conntrack entries of removed UDP endpoints only, and a UDP client
// (a DNS resolver) that keeps one connected socket would otherwise send
// into the void for ever.
#pragma once

#include "maps/error.h"
#include "maps/sock_term.h"
#include "maps/table.h"
#include "userspace/core/desired.h"

namespace svcrouter {

// Whether `backend` is an endpoint of entry d: one of its backends, or one
// the Service lists without choosing it (otherEndpoints).
bool isEndpointOf(const DesiredService& d, const BackendAddr& backend);

// Whether a socket the socket path translated has lost its backend, given
// what the table holds now (`want`, applied): the entry at the address it
// asked for, found as the socket path finds it (the ClusterIP's entry,
// else the node's), is gone, or no longer has its backend as an endpoint.
bool backendLeft(const DesiredState& want, const maps::TranslatedSocket& socket);

// Whether the change of one entry from `before` to `after` (nullptr: the
// entry went) may leave a connected UDP socket of the socket path without
// its backend: a UDP entry of scope cluster or node lost an endpoint, or
// went. The agent runs a pass only then.
bool udpEndpointsLeft(const DesiredService& before, const DesiredService* after);

// Closes the connected UDP sockets whose backend left (backendLeft), under
// the table's exclusive lock (so the pinned counters add up, and no other
// writer changes the table meanwhile). `want` is what was just applied.
[[nodiscard]] Result<maps::SockTermReport> closeStaleUdpSockets(maps::Table& table,
                                                                const DesiredState& want,
                                                                maps::SockTerm& term);

// "closed 2 connected UDP sockets whose backend left (bpf_sock_destroy, 5
// UDP translations, 3 namespaces, 1.2 ms)", for the log.
std::string describe(const maps::SockTermReport& report, double ms);

}  // namespace svcrouter
