// The seam between the agent and the closing of connected UDP sockets whose
// backend left its service, as ConntrackGc is the conntrack sweep's: no
// libbpf here. loader/sock_term.h's PinnedSockTerm is the real one (a socket
// iterator calling bpf_sock_destroy() where the kernel has it, sock_diag's
// SOCK_DESTROY where not); unit tests script their own.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "maps/addr.h"
#include "maps/error.h"

namespace svcrouter::maps {

// A connected UDP socket that the socket path translated, as svcr_sock_rev
// remembers it.
struct TranslatedSocket {
  uint64_t cookie = 0;     // the socket's cookie
  BackendAddr backend;     // its peer: the backend it was sent to
  IpAddr vip;              // the address it asked for
  uint16_t vipPort = 0;    // host order
  uint32_t serviceId = 0;  // the entry that translated it
};

// What one pass did, over every network namespace it looked in.
struct SockTermReport {
  std::string mechanism;      // "bpf_sock_destroy", "sock_diag", or "" (not loaded)
  uint64_t sockets = 0;       // UDP translations looked at (svcr_sock_rev entries)
  uint64_t namespaces = 0;    // network namespaces looked in (none when none was chosen)
  uint64_t skippedNetns = 0;  // namespaces that could not be entered (no CAP_SYS_ADMIN)
  uint64_t closed = 0;        // sockets closed
  uint64_t failed = 0;        // chosen, but could not be closed
  std::string firstError;     // what the first failure said, for the log
};

class SockTerm {
 public:
  virtual ~SockTerm() = default;
  // Which sockets to close: true for one whose backend left its service.
  using Chooser = std::function<bool(const TranslatedSocket&)>;
  // Asks `choose` about every UDP translation the socket path remembers
  // (svcr_sock_rev), then closes the connected UDP sockets of those it
  // picked, in every network namespace that has a process in the programs'
  // cgroup (and in the caller's own): their next call fails (ECONNABORTED,
  // or EDESTADDRREQ for a send: they have no peer any more), and the
  // application opens a new socket. Sockets of other protocols, unconnected
  // ones and ones the socket path did not translate are never touched.
  // Counts the pass in the pinned counters. The caller holds the table's
  // lock exclusively.
  [[nodiscard]] virtual Result<SockTermReport> closeUdp(const Chooser& choose) = 0;
};

}  // namespace svcrouter::maps
