// The addresses the service table is keyed by, as C++ values: an IP address,
// a protocol, a service's (VIP, port, protocol) and a backend's address.
// Shared vocabulary of every layer above the kernel, so they live in the
// namespace svcrouter like Result. Pure data, no kernel access.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace svcrouter {

// An IPv4 or IPv6 address, stored as 16 bytes in network order; IPv4 is kept
// as ::ffff:a.b.c.d, the same encoding as struct svcr_addr in the kernel maps.
class IpAddr {
 public:
  IpAddr() = default;
  // Parses a dotted quad or an IPv6 text address; nullopt when malformed.
  static std::optional<IpAddr> parse(std::string_view text);
  static IpAddr fromBytes(const std::array<uint8_t, 16>& bytes);

  bool isV4() const;  // true for ::ffff:a.b.c.d
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  std::string str() const;  // "10.0.0.1" or "fd00::1"

  auto operator<=>(const IpAddr&) const = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

// A network: its address with the host bits cleared, and the prefix length
// counted within the family (0-32 for IPv4, 0-128 for IPv6).
struct IpCidr {
  IpAddr addr;
  uint8_t prefix = 0;
  auto operator<=>(const IpCidr&) const = default;
  // The network of `prefix` bits (within addr's family) that holds addr.
  static IpCidr network(const IpAddr& addr, uint8_t prefix);
  // Whether ip is in this network (never across families).
  bool contains(const IpAddr& ip) const;
};
std::string describe(const IpCidr& cidr);  // "10.0.0.0/8", "fd00::/64"

// The protocols the table serves, as IPPROTO_* numbers.
enum class Protocol : uint8_t { kTcp = 6, kUdp = 17 };
std::string_view protocolName(Protocol p);  // "TCP" / "UDP"

// Who a service entry serves: SVCR_SCOPE_* of maps/layout/service.h.
enum class Scope : uint8_t {
  kCluster = 0,   // a ClusterIP (socket path)
  kNode = 1,      // a NodePort, ExternalIP or LoadBalancer IP for local processes (socket path)
  kExternal = 2,  // the same for packets from outside the node (packet path)
};
std::string_view scopeName(Scope s);  // "cluster", "node", "external"

// One entry of the service table: (VIP, port, protocol, scope).
struct ServiceKey {
  IpAddr vip;
  uint16_t port = 0;  // host order
  Protocol protocol = Protocol::kTcp;
  Scope scope = Scope::kCluster;
  auto operator<=>(const ServiceKey&) const = default;
};

// Where a backend listens.
struct BackendAddr {
  IpAddr addr;
  uint16_t port = 0;  // host order
  Protocol protocol = Protocol::kTcp;
  auto operator<=>(const BackendAddr&) const = default;
};

// "10.96.0.10:80/TCP", "[fd00::1]:80/UDP", "192.168.1.10:30080/TCP (external)"
std::string describe(const ServiceKey& key);
std::string describe(const BackendAddr& addr);  // "10.0.0.1:8080"

}  // namespace svcrouter
