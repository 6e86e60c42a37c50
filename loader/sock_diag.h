// sock_diag (NETLINK_SOCK_DIAG): the kernel's socket listing and, with
// CONFIG_INET_DIAG_DESTROY, SOCK_DESTROY, which closes a socket as
// bpf_sock_destroy() does. svcrouter closes connected UDP sockets through
// it on kernels without that kfunc (before 6.5). A netlink socket sees the
// sockets of the network namespace it was created in.
#pragma once

#include <linux/inet_diag.h>

#include <cstdint>
#include <vector>

#include "maps/error.h"
#include "maps/fd.h"

namespace svcrouter::loader {

// One socket as sock_diag names it.
struct DiagSocket {
  uint8_t family = 0;  // AF_INET or AF_INET6
  inet_diag_sockid id{};
  uint64_t cookie() const { return id.idiag_cookie[0] | (uint64_t{id.idiag_cookie[1]} << 32); }
};

class SockDiag {
 public:
  // A NETLINK_SOCK_DIAG socket in the calling thread's network namespace.
  static Result<SockDiag> open();

  // The connected UDP sockets of `family` (AF_INET, AF_INET6): those in
  // state TCP_ESTABLISHED, which is what connect() gives a UDP socket.
  [[nodiscard]] Result<std::vector<DiagSocket>> connectedUdp(int family);

  // Closes the socket (ECONNABORTED to its owner): 0 on success, else the
  // errno the kernel answered (ENOENT: gone meanwhile; EOPNOTSUPP: a kernel
  // built without CONFIG_INET_DIAG_DESTROY).
  [[nodiscard]] Result<int> destroyUdp(const DiagSocket& socket);

 private:
  explicit SockDiag(maps::Fd fd) : fd_(std::move(fd)) {}
  Result<void> send(const void* msg, size_t len);
  maps::Fd fd_;
  uint32_t seq_ = 0;
};

}  // namespace svcrouter::loader
