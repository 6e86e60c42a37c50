// The responder's settings as the command line gives them: addresses with
// ports (--dns-listen, --dns-upstream) and the default upstreams, the
// nameservers of /etc/resolv.conf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maps/addr.h"
#include "maps/error.h"

namespace svcrouter::dns {

struct SocketAddress {
  IpAddr addr;
  uint16_t port = 0;
  auto operator<=>(const SocketAddress&) const = default;
};
// "10.0.0.1:53", "[fd00::1]:53"
std::string describe(const SocketAddress& a);

// "ADDR:PORT" or "[IPV6]:PORT"; with a default port also "ADDR" and a bare
// IPv6 address. The error says what is wrong with the text.
[[nodiscard]] Result<SocketAddress> parseSocketAddress(std::string_view text,
                                                       std::optional<uint16_t> defaultPort);

// The nameservers of a resolv.conf text, port 53, in order ("nameserver
// ADDR" lines; an IPv6 zone "%eth0" is dropped, comments skipped).
std::vector<SocketAddress> resolvConfNameservers(std::string_view text);

// The upstreams when --dns-upstream is not given: the nameservers of
// `resolvConf` (a path) other than the responder's own listen addresses
// (a loop), or other than any local address when one listens on the
// wildcard address of that family. Empty when there are none (no forwarding).
[[nodiscard]] Result<std::vector<SocketAddress>> defaultUpstreams(
    const std::string& resolvConf, const std::vector<SocketAddress>& listen);

// --cluster-domain: a DNS name (a final dot allowed), lowercased without
// the dot. The error names the problem.
[[nodiscard]] Result<std::string> parseClusterDomain(std::string_view text);

}  // namespace svcrouter::dns
