// The agent's model: Kubernetes objects as read from manifests, and the
// desired service table derived from them. Pure data, no kernel access.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17 };
std::string_view protocolName(Protocol p);  // "TCP" / "UDP"

// ---- Kubernetes objects, with the fields svcrouter reads ----------------

struct ServicePort {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  uint16_t port = 0;
  uint16_t nodePort = 0;  // 0 when unset
  // Index in spec.ports, for messages: dropped SCTP ports shift the vector.
  size_t specIndex = 0;
};

enum class ServiceType { kClusterIP, kNodePort, kLoadBalancer, kExternalName };
enum class TrafficPolicy { kCluster, kLocal };

struct Service {
  std::string ns;  // metadata.namespace, "default" when unset
  std::string name;
  std::map<std::string, std::string> labels;
  ServiceType type = ServiceType::kClusterIP;
  bool headless = false;  // spec.clusterIP: None
  // spec.clusterIPs (or spec.clusterIP when clusterIPs is absent), at most one
  // per family; empty for headless/ExternalName.
  std::vector<IpAddr> clusterIPs;
  std::vector<ServicePort> ports;
  bool affinityClientIP = false;        // spec.sessionAffinity: ClientIP
  uint32_t affinityTimeoutSec = 10800;  // sessionAffinityConfig.clientIP.timeoutSeconds
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::kCluster;
  std::string where;  // "FILE: document N" for messages
};

struct EndpointConditions {
  std::optional<bool> ready, serving, terminating;  // nullopt = unset
};

struct Endpoint {
  std::vector<IpAddr> addresses;
  EndpointConditions conditions;
  std::string nodeName;  // empty when unset
};

struct EndpointPort {
  std::string name;  // empty when unset
  Protocol protocol = Protocol::kTcp;
  std::optional<uint16_t> port;  // nullopt: port with no number (ignored)
};

enum class AddressType { kIPv4, kIPv6, kFQDN };

struct EndpointSlice {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> labels;
  std::string serviceName;  // label kubernetes.io/service-name, empty if none
  AddressType addressType = AddressType::kIPv4;
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;
  std::string where;
};

// Everything read from one manifest file, in file order.
struct Manifests {
  std::vector<Service> services;
  std::vector<EndpointSlice> slices;
  // Legal input svcrouter skips (SCTP ports), one message each.
  std::vector<std::string> warnings;
};

// ---- The desired service table -------------------------------------------

struct ServiceKey {
  IpAddr vip;
  uint16_t port = 0;  // host order
  Protocol protocol = Protocol::kTcp;
  auto operator<=>(const ServiceKey&) const = default;
};

struct BackendAddr {
  IpAddr addr;
  uint16_t port = 0;  // host order
  Protocol protocol = Protocol::kTcp;
  auto operator<=>(const BackendAddr&) const = default;
};

struct DesiredBackend {
  BackendAddr addr;
  uint8_t reason = 0;  // SVCR_REASON_* bits
  auto operator<=>(const DesiredBackend&) const = default;
};

// One (VIP, port, protocol) entry of the kernel's service table.
struct DesiredService {
  ServiceKey key;
  std::string ns, name, portName;
  bool affinity = false;
  uint32_t affinityTimeoutSec = 0;
  TrafficPolicy policy = TrafficPolicy::kCluster;
  // Sorted by address: the order round-robin walks them.
  std::vector<DesiredBackend> backends;
  bool operator==(const DesiredService&) const = default;
};

struct DesiredState {
  std::map<ServiceKey, DesiredService> services;
  // Objects ignored on purpose (an EndpointSlice without a service-name label).
  std::vector<std::string> warnings;
};

std::string describe(const ServiceKey& key);    // "10.96.0.10:80/TCP", "[fd00::1]:80/UDP"
std::string describe(const BackendAddr& addr);  // "10.0.0.1:8080"

}  // namespace svcrouter
