#include "loader/sock_diag.h"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>

namespace svcrouter::loader {
namespace {

struct Request {
  nlmsghdr header;
  inet_diag_req_v2 body;
};

Request request(uint16_t type, uint16_t flags, uint32_t seq, uint8_t family) {
  Request r{};
  r.header.nlmsg_len = sizeof(r);
  r.header.nlmsg_type = type;
  r.header.nlmsg_flags = flags;
  r.header.nlmsg_seq = seq;
  r.body.sdiag_family = family;
  r.body.sdiag_protocol = IPPROTO_UDP;
  return r;
}

const char* familyName(int family) { return family == AF_INET ? "IPv4" : "IPv6"; }

}  // namespace

Result<SockDiag> SockDiag::open() {
  maps::Fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd.valid()) return fail("open a sock_diag netlink socket", errno);
  return SockDiag(std::move(fd));
}

Result<void> SockDiag::send(const void* msg, size_t len) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n =
        ::sendto(fd_.get(), msg, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
    if (n == static_cast<ssize_t>(len)) return {};
    if (n < 0 && errno == EINTR) continue;
    return fail("send a sock_diag request", n < 0 ? errno : EIO);
  }
}

Result<std::vector<DiagSocket>> SockDiag::connectedUdp(int family) {
  Request r = request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, ++seq_,
                      static_cast<uint8_t>(family));
  r.body.idiag_states = 1u << TCP_ESTABLISHED;
  SVCR_RETURN_IF_ERROR(send(&r, sizeof(r)));
  std::vector<DiagSocket> out;
  alignas(nlmsghdr) std::array<char, 32768> buf;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("list the ") + familyName(family) + " UDP sockets", errno);
    if (n == 0) return fail("list UDP sockets: sock_diag closed the socket", EIO);
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_) continue;
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        // ENOENT: no UDP handler (udp_diag not built, or its module not loaded).
        return fail(std::string("list the ") + familyName(family) +
                        " UDP sockets (sock_diag; the udp_diag module?)",
                    -e->error);
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
          h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
        continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      out.push_back({m->idiag_family, m->id});
    }
  }
}

Result<int> SockDiag::destroyUdp(const DiagSocket& socket) {
  Request r = request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, ++seq_, socket.family);
  r.body.id = socket.id;  // the cookie in it makes sure it is that very socket
  SVCR_RETURN_IF_ERROR(send(&r, sizeof(r)));
  alignas(nlmsghdr) std::array<char, 4096> buf;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("read sock_diag's answer to SOCK_DESTROY", n < 0 ? errno : EIO);
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq_ || h->nlmsg_type != NLMSG_ERROR) continue;
      return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
    }
  }
}

}  // namespace svcrouter::loader
